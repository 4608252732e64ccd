package cloud

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Requests in flight are bounded per client, not per caller: a caller that fans out reads
// from inside other fanned-out reads (a graph walked level by level, each level in
// parallel) would otherwise multiply its bounds. Reads and writes have separate bounds,
// since Pulumi Cloud limits writes harder.
//
// The bounds follow the service's answers, as TCP's congestion window does: a 429 halves
// the bound of its kind, once per burst (the requests that were already in flight when the
// bound was last halved do not halve it again), and every growAfter answers of that kind in
// a row without a 429 raise it by one, up to the configured bound. A process that runs for
// weeks (the relay) thus recovers from a busy hour instead of ratcheting down to one
// request at a time; one that only meets 429s never grows.

// Default bounds on requests in flight, for WithConcurrency's zero values.
const (
	DefaultMaxReads  = 32
	DefaultMaxWrites = 16
)

// growAfter is how many answers of one kind in a row, none a 429, raise a lowered bound by
// one. Twenty keeps growth slow beside halving: from 1 back to 32 reads takes 620 answers,
// and a service that still throttles halves the bound again long before.
const growAfter = 20

// WithConcurrency bounds the requests this client has in flight at once: reads (GET, and
// POSTs marked as reads) and writes. Zero keeps a default.
func WithConcurrency(reads, writes int) Option {
	return func(c *Client) {
		if reads > 0 {
			c.reads = newGate(reads)
		}
		if writes > 0 {
			c.writes = newGate(writes)
		}
	}
}

// Throttle reports that the service answered 429 and a bound was halved. A bound grows back
// without notice; Limits reports it.
type Throttle struct {
	Kind       string // "reads" or "writes"
	Limit      int    // the bound now in force
	RetryAfter time.Duration
}

// WithThrottleNotice calls notify, with the context of the request that was refused,
// each time a 429 halves a bound.
func WithThrottleNotice(notify func(ctx context.Context, t Throttle)) Option {
	return func(c *Client) { c.onThrottle = notify }
}

// Limits reports the bounds in force now: each is the configured one, or lower while the
// client recovers from 429s.
func (c *Client) Limits() (reads, writes int) { return c.reads.current(), c.writes.current() }

func (c *Client) gateFor(method string, read bool) (*gate, string) {
	if method == http.MethodGet || read {
		return c.reads, "reads"
	}
	return c.writes, "writes"
}

// gate is a semaphore whose size can shrink and grow back while it is in use.
type gate struct {
	mu         sync.Mutex
	limit      int
	max        int // the configured limit, which growing never passes
	busy       int
	generation int // bumped at each halving
	streak     int // answers without a 429 since the last 429
	waiters    []chan struct{}
}

func newGate(limit int) *gate { return &gate{limit: limit, max: limit} }

// enter waits for a slot and returns the generation it entered in.
func (g *gate) enter(ctx context.Context) (int, error) {
	g.mu.Lock()
	if g.busy < g.limit && len(g.waiters) == 0 {
		g.busy++
		gen := g.generation
		g.mu.Unlock()
		return gen, nil
	}
	ready := make(chan struct{})
	g.waiters = append(g.waiters, ready)
	g.mu.Unlock()
	select {
	case <-ready:
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.generation, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, w := range g.waiters {
			if w == ready {
				g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
				return 0, ctx.Err()
			}
		}
		// The slot was handed over as the context ended: give it back.
		g.busy--
		g.wakeLocked()
		return 0, ctx.Err()
	}
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy--
	g.wakeLocked()
}

func (g *gate) wakeLocked() {
	for g.busy < g.limit && len(g.waiters) > 0 {
		next := g.waiters[0]
		g.waiters = g.waiters[1:]
		g.busy++
		close(next)
	}
}

// halve records a 429: it halves the bound, unless a request that entered after the last
// halving already did, and reports the new bound and whether it changed. Either way the
// streak of answers that grows the bound starts again.
func (g *gate) halve(entered int) (int, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.streak = 0
	if entered != g.generation || g.limit == 1 {
		return g.limit, false
	}
	g.limit = max(1, g.limit/2)
	g.generation++
	return g.limit, true
}

// answered records an answer that was not a 429: every growAfter of them in a row raise a
// lowered bound by one, and let a waiting request in.
func (g *gate) answered() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.limit >= g.max {
		return
	}
	if g.streak++; g.streak >= growAfter {
		g.streak = 0
		g.limit++
		g.wakeLocked()
	}
}

func (g *gate) current() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}
