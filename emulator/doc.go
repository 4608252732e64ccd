// Package emulator is an in-memory stand-in for the part of the Pulumi Cloud REST API that auto-deploy
// needs: webhooks in their three scopes, stacks with their versions and outputs, ESC environments,
// deployment settings and deployments.
//
// It is written from the API facts in docs/cloud-api.md alone and shares no Go types with the provider's
// client, on purpose: if both sides were built from one set of structs, a misreading of the wire format
// would be baked into both and every test would still pass. Here each side has to agree with the
// document, and the tests of each side check the wire from its own end.
//
// # Shape
//
// A Server is an http.Handler over two pieces of locked state. The store (store.go, store_*.go and
// cascade.go) holds stacks, environments, webhooks, deployments and deliveries behind one mutex, and runs
// cascades. Its methods with exported names are the only way in: each takes the lock, does its whole job
// under it, so each request is atomic, and returns copies that callers may keep. The traffic log
// (traffic.go, faults.go) holds the request counters, the request log and the fault configuration
// behind a second lock, so that waiting out injected latency never holds up the store.
//
// Everything else is a client of those two. The API handlers (stacks.go, environments.go,
// deploymentsettings.go, deployments.go, orgdeployments.go, export.go, userstacks.go, webhooks.go) and the
// admin handlers (admin.go, admin_deployments.go, admin_updates.go, delivery_faults.go) only decode a
// request, call the store and encode its answer in the API's shape, with the helpers of httpjson.go; the request body is read before the store is called,
// so a slow client never holds the lock. Server's exported methods (inprocess.go, wait.go) wrap the same
// accessors for Go tests. The console page (console.go, console/) reads through the store the same
// way. server.go ties it together: routing, the token check, counting and faults.
//
// Requests under /api/ pass, in order: counting (Stats, before anything can refuse them), injected
// latency, fault rules, the token check, then the route. Requests under /_emulator/ are the admin API:
// no token, no counting, no faults. It exists to drive and inspect the emulator from tests, demos and
// shell scripts on the local machine, and it refuses to change state for a request addressed to another
// host or sent from another site's page (guard.go), the two ways a browser can reach it from outside.
//
// # Cascades
//
// The point of auto-deploy is that an update of one stack redeploys the stacks downstream of it, through
// webhooks of the pulumi_deployments format. FireUpdate (and the admin route of the same purpose) records
// an update, a new stack version with its outputs (store_outputs.go), and raises update_succeeded on the
// stack; every active webhook that wants the event gets a delivery. A pulumi_deployments delivery starts
// a deployment of its target stack, which ends, as its stack's DeploymentBehaviour says, with
// deployment_succeeded and update_succeeded there (or the _failed pair), and so on down the tree.
// Events are handled breadth first from a queue, so for a tree the deployments come level by level, in
// webhook creation order within a level. The whole cascade runs under the store lock, so a client never
// sees half of one. A webhook cycle would make the real service deploy forever; the emulator stops
// after Options.MaxCascadeDeployments deployments and reports the cascade as truncated.
//
// When a deployment runs depends on the mode (store_lifecycle.go, store_timed.go): at once inside the
// cascade (synchronous, the default), when a test steps it (manual, store_deployments.go), or on its own
// after a duration, one at a time per stack (timed), where a timer ends it and its cascade runs then. An
// organization may cap how many run at once; the rest wait, oldest first.
//
// # Updates
//
// Every update of a stack, a deployment's or one a person runs (store_updates.go), moves the stack's
// lastUpdate and activeUpdate when it STARTS, as the service's do, shows as its currentOperation while it
// runs, and writes its version, outputs and (for a person's) StackReferences when it ends. A person's
// update may take time; the stack's deployments wait for it.
//
// # Deliveries that leave the process
//
// A raw webhook whose payloadUrl is an http URL on this machine is really sent, signed as Pulumi signs
// (delivery_http.go); every other delivery is only recorded. A cascade records the delivery as pending
// under the lock and hands it to an outbox that sends it afterwards, outside the lock, on a few
// goroutines, so that a receiver may call the emulator back while it handles the delivery. Server.Close
// stops the outbox and the timers; WaitIdle and WaitFor (wait.go) let tests wait for both without
// sleeping.
//
// # Faults
//
// SetFaults makes requests slow or failing in controlled ways (every Nth request, exactly the Nth, at most
// N times, after the write has landed, or with the connection dropped), so a client's retry and
// idempotency logic can be tested without a flaky network. SetDeliveryFaults does the same to the
// deliveries the outbox sends: it loses, delays, duplicates or reorders them (delivery_faults.go).
package emulator
