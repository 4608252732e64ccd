package emulator

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statuses sends n authenticated GETs of path and returns their statuses.
func (h *harness) statuses(n int, method, path string, body func(i int) any) []int {
	h.t.Helper()
	out := make([]int, n)
	for i := range n {
		var b any
		if body != nil {
			b = body(i)
		}
		out[i] = h.call(method, path, b).status
	}
	return out
}

func TestFaultEvery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.SetFaults(Faults{Rules: []FaultRule{{Status: http.StatusServiceUnavailable, Every: 2}}})
	assert.Equal(t, []int{200, 503, 200, 503, 200}, h.statuses(5, http.MethodGet, "/api/orgs/acme/hooks", nil))
}

func TestFaultNthFailsOnlyThatMatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	h.srv.SetFaults(Faults{Rules: []FaultRule{{
		Status: http.StatusInternalServerError, Nth: 4, Method: "post", PathContains: "/hooks",
	}}})
	// Reads do not match the rule, so they do not move its count.
	h.call(http.MethodGet, "/api/stacks/acme/app/dev/hooks", nil)
	got := h.statuses(6, http.MethodPost, "/api/stacks/acme/app/dev/hooks",
		func(int) any { return stackHook("acme", "app", "dev", nil) })
	assert.Equal(t, []int{201, 201, 201, 500, 201, 201}, got)
	assert.Len(t, h.srv.Webhooks(), 5, "the failed create stored nothing")
}

func TestFaultLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.SetFaults(Faults{Rules: []FaultRule{{Status: http.StatusTooManyRequests, Every: 1, Limit: 2}}})
	assert.Equal(t, []int{429, 429, 200, 200}, h.statuses(4, http.MethodGet, "/api/orgs/acme/hooks", nil))
}

func TestFaultStatusDefaultsTo500(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.SetFaults(Faults{Rules: []FaultRule{{Nth: 1}}})
	mustError(t, h.call(http.MethodGet, "/api/orgs/acme/hooks", nil), http.StatusInternalServerError)
}

func TestFaultRulesAreTriedInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.SetFaults(Faults{Rules: []FaultRule{
		{Status: http.StatusTooManyRequests, Nth: 1},
		{Status: http.StatusBadGateway, Every: 2},
	}})
	// Both rules count request 2, so the second fires there and again on 4.
	assert.Equal(t, []int{429, 502, 200, 502}, h.statuses(4, http.MethodGet, "/api/orgs/acme/hooks", nil))
}

func TestFaultAfterApplyLandsTheWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	h.srv.SetFaults(Faults{Rules: []FaultRule{{
		Status: http.StatusBadGateway, Method: http.MethodPost, AfterApply: true, Limit: 1,
	}}})
	body := stackHook("acme", "app", "dev", map[string]any{"name": "lost"})
	msg := mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/dev/hooks", body), http.StatusBadGateway)
	assert.Contains(t, msg, "injected")

	// The client saw an error, yet the webhook exists: a retry gets 409 and must adopt it.
	assert.Equal(t, http.StatusOK, h.call(http.MethodGet, "/api/stacks/acme/app/dev/hooks/lost", nil).status)
	mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/dev/hooks", body), http.StatusConflict)
}

func TestFaultResponseHeaders(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []string{"3", "Wed, 21 Oct 2026 07:28:00 GMT"} {
		h := newHarness(t)
		h.srv.SetFaults(Faults{Rules: []FaultRule{{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}}})
		r := h.call(http.MethodGet, "/api/orgs/acme/hooks", nil)
		mustError(t, r, http.StatusTooManyRequests)
		assert.Equal(t, retryAfter, r.header.Get("Retry-After"))
		assert.NotEmpty(t, r.header.Get(requestIDHeader))
	}
}

// Faults come before auth, as at the service's edge: a 429 can reach a client with a bad token.
func TestFaultBeforeAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.SetFaults(Faults{Rules: []FaultRule{{Status: http.StatusServiceUnavailable, Limit: 1}}})
	mustError(t, h.send(http.MethodGet, "/api/orgs/acme/hooks", nil, nil), http.StatusServiceUnavailable)
	mustError(t, h.send(http.MethodGet, "/api/orgs/acme/hooks", nil, nil), http.StatusUnauthorized)
}

type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return nil
}

func TestFaultLatencyAppliesToEveryAPIRequest(t *testing.T) {
	t.Parallel()
	rec := &sleepRecorder{}
	h := newHarness(t, func(o *Options) { o.Sleep = rec.sleep })
	h.srv.SetFaults(Faults{Latency: 25 * time.Millisecond})
	h.call(http.MethodGet, "/api/orgs/acme/hooks", nil)
	h.send(http.MethodGet, "/api/orgs/acme/hooks", nil, nil) // unauthorized, still slow
	h.send(http.MethodGet, "/_emulator/healthz", nil, nil)   // admin API is never slowed
	assert.Equal(t, []time.Duration{25 * time.Millisecond, 25 * time.Millisecond}, rec.waits)

	h.srv.SetFaults(Faults{})
	h.call(http.MethodGet, "/api/orgs/acme/hooks", nil)
	assert.Len(t, rec.waits, 2, "no latency, no wait")
}

func TestSleepContextGivesUpWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, sleepContext(ctx, time.Hour), context.Canceled)
	assert.NoError(t, sleepContext(t.Context(), 0))
}

func TestAdminFaultsRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := map[string]any{"latencyMs": 20, "rules": []map[string]any{
		{"status": 429, "every": 3, "method": "GET", "pathContains": "/hooks", "retryAfter": "1", "limit": 5},
		{"status": 500, "nth": 2, "afterApply": true},
	}}
	echo := must[faultsWire](t, h.send(http.MethodPut, "/_emulator/faults", body, nil), http.StatusOK)
	assert.Equal(t, int64(20), echo.LatencyMs)
	want := Faults{Latency: 20 * time.Millisecond, Rules: []FaultRule{
		{Status: 429, Every: 3, Method: "GET", PathContains: "/hooks", RetryAfter: "1", Limit: 5},
		{Status: 500, Nth: 2, AfterApply: true},
	}}
	assert.Equal(t, want, h.srv.CurrentFaults())
	assert.Equal(t, echo, must[faultsWire](t, h.send(http.MethodGet, "/_emulator/faults", nil, nil), http.StatusOK))

	for name, bad := range map[string]map[string]any{
		"status":     {"rules": []map[string]any{{"status": 42}}},
		"negative":   {"rules": []map[string]any{{"status": 500, "every": -1}}},
		"retryAfter": {"rules": []map[string]any{{"status": 429, "retryAfter": "soon"}}},
		"latency":    {"latencyMs": -1},
	} {
		r := h.send(http.MethodPut, "/_emulator/faults", bad, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, name)
	}
	assert.Equal(t, want, h.srv.CurrentFaults(), "refused configurations change nothing")

	assert.Equal(t, http.StatusNoContent, h.send(http.MethodDelete, "/_emulator/faults", nil, nil).status)
	assert.Zero(t, h.srv.CurrentFaults().Latency)
	assert.Empty(t, h.srv.CurrentFaults().Rules)
}

// An outage: one rule without filters answers every /api request 503 for as long as it is in force,
// whatever the route or the token; the admin API still answers, and clearing the faults ends it.
func TestFaultOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	must[faultsWire](t, h.send(http.MethodPut, "/_emulator/faults", map[string]any{
		"rules": []map[string]any{{"status": 503, "retryAfter": "1"}}}, nil), http.StatusOK)
	assert.Equal(t, []int{503, 503, 503}, h.statuses(3, http.MethodGet, "/api/stacks/acme/app/web", nil))
	assert.Equal(t, 503, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments", map[string]any{"operation": "update"}).status)
	assert.Equal(t, 503, h.send(http.MethodGet, "/api/user/stacks", nil, nil).status, "before the token is checked")
	assert.Equal(t, http.StatusOK, h.send(http.MethodGet, "/_emulator/healthz", nil, nil).status)
	assert.Empty(t, h.srv.Deployments(), "nothing got through")

	require.Equal(t, http.StatusNoContent, h.send(http.MethodDelete, "/_emulator/faults", nil, nil).status)
	assert.Equal(t, []int{200}, h.statuses(1, http.MethodGet, "/api/stacks/acme/app/web", nil))
}

// A dropped connection: the client gets no answer at all, and the request log says so (status 0, a
// fault). With afterApply the write lands first.
func TestFaultDropConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.SetFaults(Faults{Rules: []FaultRule{{DropConnection: true, AfterApply: true, Method: http.MethodPost}}})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url+"/api/stacks/acme/app",
		strings.NewReader(`{"stackName":"web"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "token "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err, "no answer")
	_, err = h.srv.store.Stack("acme", "app", "web")
	assert.NoError(t, err, "the create landed before the connection was dropped")
	reqs := h.srv.Requests()
	require.Len(t, reqs, 1)
	assert.Zero(t, reqs[0].Status)
	assert.True(t, reqs[0].Fault)
	assert.Equal(t, 1, h.srv.Stats().Faults)

	assert.Equal(t, []int{200}, h.statuses(1, http.MethodGet, "/api/stacks/acme/app/web", nil), "GETs are not dropped")
	assert.Equal(t, faultRuleWire{DropConnection: true, AfterApply: true, Method: http.MethodPost},
		toFaultsWire(h.srv.CurrentFaults()).Rules[0])
}
