// Package cloud is a small client for the parts of the Pulumi Cloud REST API
// that the auto-deploy provider and its cascade relay need: webhooks
// (organization, stack and environment scope), stacks (with the update running
// on one, if any), deployment settings and deployments (a stack's, an
// organization's, cancelling one), and a stack's outputs at a version
// (ExportStack, with its secrets read through BatchDecrypt).
//
// The package knows nothing of Pulumi's SDKs or of the provider built on it, so
// it can be tested against plain httptest handlers and against the emulator,
// and both sides of the wire contract are written from the same facts rather
// than from each other: docs/cloud-api.md, which also records what the client
// does where the API is silent.
//
// # Errors
//
// Every non-2xx answer becomes an *APIError carrying the method, the path, the
// status, the service's message and its request id. The common statuses are
// checkable with errors.Is (ErrNotFound, ErrUnauthorized, ErrForbidden,
// ErrConflict, ErrRateLimited), so callers never have to compare status codes
// and "not found" is an error rather than an empty result. The access token,
// and any webhook secret sent in the request, are scrubbed from messages: the
// service should never echo them, but an error string ends up in logs and
// Pulumi state diagnostics, so the client does not trust that.
//
// # Retries
//
// The public service answers 429 under load and, like any service, the odd
// 502/503/504 or dropped connection. The client retries those with capped
// exponential backoff and full jitter, honouring Retry-After (capped at 30s as
// the Pulumi CLI does), within a bound on failed attempts and on total time,
// and gives up as soon as the caller's context ends. A 429 is not a failed
// attempt: the service asks to wait, and under a run's own load six refusals
// in a row happen, so only the time budget bounds those retries.
//
// Only requests that are safe to repeat are retried after an ambiguous
// failure. GET, PUT, PATCH and DELETE are idempotent, and so is batch-decrypt,
// a POST that only reads (each request says whether it is one). A POST that creates
// something (a webhook, a stack, a deployment) is not: after a 502/503/504 or
// a connection lost mid-request the write may have landed, and sending it
// again could create a duplicate webhook or start a second deployment. Such a
// failure is returned at once and satisfies errors.Is(err, ErrAmbiguous), so a
// caller that can find out whether the write landed (the provider lists the
// webhooks and adopts a match) decides what to do. A 429, or a connection that
// was never established, proves the request was not applied, so those are
// retried for every method.
//
// Some failures repeat identically however often they are retried, and are
// returned after one attempt with a message naming the host and port and the
// fix: an https:// URL pointing at a plain-HTTP server (such as the local
// emulator) or at something that does not speak TLS, an http:// URL pointing
// at a TLS port, and a server certificate that cannot be verified.
//
// Each attempt also has its own timeout (WithRequestTimeout), so a hung
// service turns into a retry or an error naming the request instead of a
// provider that never returns.
//
// Requests in flight are bounded per client, reads and writes apart; a 429
// halves the bound of its kind and answers without one grow it back (limits.go).
//
// A Client holds no mutable state besides atomic counters and is safe for
// concurrent use.
package cloud
