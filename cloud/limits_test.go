package cloud

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inFlight is a handler that holds every request until released and records the most it
// ever held at once, per method class.
type inFlight struct {
	mu                sync.Mutex
	reads, writes     int
	maxRead, maxWrite int
	release           chan struct{}
	arrived           chan struct{}
}

func newInFlight() *inFlight {
	return &inFlight{release: make(chan struct{}), arrived: make(chan struct{}, 1000)}
}

func (h *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if r.Method == http.MethodGet {
		h.reads++
		h.maxRead = max(h.maxRead, h.reads)
	} else {
		h.writes++
		h.maxWrite = max(h.maxWrite, h.writes)
	}
	h.mu.Unlock()
	h.arrived <- struct{}{}
	<-h.release
	h.mu.Lock()
	if r.Method == http.MethodGet {
		h.reads--
	} else {
		h.writes--
	}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`[]`))
}

// TestConcurrencyIsBoundedPerClient: however many goroutines call at once, the client has
// at most its bound of reads and of writes in flight.
func TestConcurrencyIsBoundedPerClient(t *testing.T) {
	t.Parallel()
	h := newInFlight()
	c, _ := newTestClient(t, h, RetryPolicy{MaxAttempts: 1}, WithConcurrency(3, 2))
	scope := WebhookScope{Organization: "o", Project: "p", Stack: "s"}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = c.ListWebhooks(t.Context(), scope) })
		wg.Go(func() { _ = c.DeleteWebhook(t.Context(), scope, "w") })
	}
	// The bounds fill up while the server holds every request; the rest wait for a slot.
	for range 5 {
		<-h.arrived
	}
	close(h.release)
	wg.Wait()
	assert.Equal(t, 3, h.maxRead)
	assert.Equal(t, 2, h.maxWrite)
}

// TestRateLimitHalvesTheBoundOncePerBurst: a burst of 429s halves the read bound once, says
// so once with the Retry-After, and the requests are retried after the wait asked for.
func TestRateLimitHalvesTheBoundOncePerBurst(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	gate := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= 8 {
			<-gate // the first eight are all in flight before any is answered
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`[]`))
	})
	var notices []Throttle
	var mu sync.Mutex
	c, rec := newTestClient(t, h, RetryPolicy{}, WithConcurrency(8, 4),
		WithThrottleNotice(func(_ context.Context, th Throttle) {
			mu.Lock()
			defer mu.Unlock()
			notices = append(notices, th)
		}))
	scope := WebhookScope{Organization: "o", Project: "p", Stack: "s"}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() { _, errs[i] = c.ListWebhooks(t.Context(), scope) })
	}
	require.Eventually(t, func() bool { return calls.Load() == 8 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, []Throttle{{Kind: "reads", Limit: 4, RetryAfter: 2 * time.Second}}, notices)
	reads, writes := c.Limits()
	assert.Equal(t, 4, reads, "halved, and eight answers are too few to grow it back")
	assert.Equal(t, 4, writes, "writes were not refused")
	for _, w := range rec.Waits() {
		assert.GreaterOrEqual(t, w, 2*time.Second, "Retry-After honoured")
		assert.LessOrEqual(t, w, 2*time.Second*6/5, "and stretched by at most a fifth")
	}
	assert.Len(t, rec.Waits(), 8)
}

// TestRateLimitNeverGoesBelowOne: repeated bursts halve down to one request at a time.
func TestRateLimitNeverGoesBelowOne(t *testing.T) {
	t.Parallel()
	g := newGate(4)
	for range 5 {
		gen, err := g.enter(t.Context())
		require.NoError(t, err)
		g.leave()
		g.halve(gen)
	}
	assert.Equal(t, 1, g.current())
}

// TestWaitingForASlotHonoursTheContext: a caller waiting for a slot gives up with its
// context, and the slot it might have been handed is not lost.
func TestWaitingForASlotHonoursTheContext(t *testing.T) {
	t.Parallel()
	g := newGate(1)
	_, err := g.enter(t.Context())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := g.enter(ctx)
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	g.leave()
	_, err = g.enter(t.Context())
	require.NoError(t, err, "the slot is free again")
}

// TestRateLimitGrowsBack: after a halving, every growAfter answers in a row without a 429 raise
// the bound by one, up to the configured bound and never past it.
func TestRateLimitGrowsBack(t *testing.T) {
	t.Parallel()
	g := newGate(8)
	gen, err := g.enter(t.Context())
	require.NoError(t, err)
	g.leave()
	limit, changed := g.halve(gen)
	require.True(t, changed)
	require.Equal(t, 4, limit)
	for want := 5; want <= 8; want++ {
		for range growAfter - 1 {
			g.answered()
		}
		assert.Equal(t, want-1, g.current(), "one answer short")
		g.answered()
		assert.Equal(t, want, g.current())
	}
	for range 10 * growAfter {
		g.answered()
	}
	assert.Equal(t, 8, g.current(), "never above the configured bound")
}

// TestRateLimitStreakStartsAgainAtEvery429: a 429 that does not halve the bound (the same burst)
// still restarts the count of answers that grows it.
func TestRateLimitStreakStartsAgainAtEvery429(t *testing.T) {
	t.Parallel()
	g := newGate(4)
	stale, err := g.enter(t.Context())
	require.NoError(t, err)
	g.leave()
	g.halve(stale)
	for range growAfter - 1 {
		g.answered()
	}
	_, changed := g.halve(stale)
	require.False(t, changed, "a request of the same burst")
	for range growAfter - 1 {
		g.answered()
	}
	assert.Equal(t, 2, g.current(), "the streak started again")
	g.answered()
	assert.Equal(t, 3, g.current())
}

// TestGrowingLetsAWaiterIn: a request waiting for a slot enters as soon as the bound grows.
func TestGrowingLetsAWaiterIn(t *testing.T) {
	t.Parallel()
	g := newGate(2)
	gen, err := g.enter(t.Context())
	require.NoError(t, err)
	g.halve(gen) // bound 1, and this request holds it
	entered := make(chan error, 1)
	go func() {
		_, err := g.enter(t.Context())
		entered <- err
	}()
	for range growAfter {
		g.answered()
	}
	select {
	case err := <-entered:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request did not enter when the bound grew to 2")
	}
	assert.Equal(t, 2, g.current())
}

// TestClientLimitsRecoverFromABurstOf429s: through the client, a burst of 429s halves the read
// bound, answers without a 429 (a 404 included) grow it back to the configured bound, and 5xx
// answers do not count towards growing it.
func TestClientLimitsRecoverFromABurstOf429s(t *testing.T) {
	t.Parallel()
	var answer atomic.Int64 // the status to answer with
	answer.Store(http.StatusTooManyRequests)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		status := int(answer.Load())
		if status == http.StatusTooManyRequests {
			answer.Store(http.StatusOK) // one refusal, then the retry goes through
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`[]`))
	})
	c, _ := newTestClient(t, h, RetryPolicy{MaxAttempts: 1}, WithConcurrency(4, 2))
	scope := WebhookScope{Organization: "o", Project: "p", Stack: "s"}
	_, err := c.ListWebhooks(t.Context(), scope)
	require.NoError(t, err, "retried after the 429")
	reads, _ := c.Limits()
	require.Equal(t, 2, reads)

	answer.Store(http.StatusServiceUnavailable)
	for range growAfter {
		_, _ = c.ListWebhooks(t.Context(), scope)
	}
	reads, _ = c.Limits()
	assert.Equal(t, 2, reads, "5xx answers say nothing about the rate limit")

	answer.Store(http.StatusNotFound)
	for range growAfter {
		_, err := c.ListWebhooks(t.Context(), scope)
		require.ErrorIs(t, err, ErrNotFound)
	}
	answer.Store(http.StatusOK)
	for range 5 * growAfter {
		_, err := c.ListWebhooks(t.Context(), scope)
		require.NoError(t, err)
	}
	reads, writes := c.Limits()
	assert.Equal(t, 4, reads, "grown back to the configured bound, and no further")
	assert.Equal(t, 2, writes)
}
