package relay

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// The relay's own retry policy. A read or a request about one stack that fails belongs to that stack:
// it is marked unsure (nothing below it starts meanwhile, its siblings go on) and tried again after a
// capped, jittered backoff that grows with its consecutive failures and is reset by a success. When
// Pulumi Cloud answers again after failing, every stack waiting for a retry is tried at the next look,
// so an outage costs no more than its own length plus a look.

const (
	retryBase = time.Second
	retryCap  = 30 * time.Second
)

// troubles is a stack's run of failed reads.
type troubles struct {
	failures int
	retryAt  time.Time
	what     string // the last failure, in words
}

// holds reports whether the stack is unsure: a read failed and its retry is not due yet. Once it is due
// the look tries again before it schedules (and marks the stack unsure again if that fails too).
func (t troubles) holds(now time.Time) bool { return t.failures > 0 && now.Before(t.retryAt) }

// due reports whether the failed read may be tried again.
func (t troubles) due(now time.Time) bool { return t.failures == 0 || !now.Before(t.retryAt) }

// fail records a failure and when to try again: between half and all of min(base·2^(n-1), cap).
func (t *troubles) fail(now time.Time, what string) {
	t.failures++
	ceiling := retryCap
	if t.failures < 6 {
		ceiling = min(retryBase<<(t.failures-1), retryCap)
	}
	t.retryAt = now.Add(ceiling/2 + rand.N(ceiling/2+1))
	t.what = what
}

func (t *troubles) clear() { *t = troubles{} }

// transient reports whether a failed request may succeed when tried again unchanged: the service was
// unavailable, slow, rate limiting or unreachable. Anything else (a 400, 403, 404) is an answer.
func transient(err error) bool {
	var apiErr *cloud.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode == 429 || apiErr.StatusCode >= 500
	}
	return err != nil
}
