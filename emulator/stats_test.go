package emulator

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatsCountEveryAPIRequest(t *testing.T) {
	t.Parallel()
	observed := &requestRecorder{}
	h := newHarness(t, observed.option)
	const hooks = "/api/stacks/acme/app/dev/hooks"
	h.call(http.MethodPost, "/api/stacks/acme/app", map[string]any{"stackName": "dev"})
	h.call(http.MethodPost, hooks, stackHook("acme", "app", "dev", map[string]any{"name": "w"}))
	h.call(http.MethodGet, hooks+"/w", nil)
	h.call(http.MethodPatch, hooks+"/w", stackHook("acme", "app", "dev", nil))
	h.call(http.MethodPut, "/api/stacks/acme/app/dev/deployments/settings", map[string]any{})
	h.call(http.MethodDelete, hooks+"/w", nil)
	h.send(http.MethodGet, hooks, nil, nil)              // 401
	h.call(http.MethodGet, "/api/nowhere", nil)          // no route
	h.send(http.MethodGet, "/_emulator/stats", nil, nil) // admin: not counted

	h.srv.SetFaults(Faults{Rules: []FaultRule{{Status: 503, Limit: 1}}})
	h.call(http.MethodPost, "/api/stacks/acme/app", map[string]any{"stackName": "x"}) // injected

	st := h.srv.Stats()
	assert.Equal(t, 9, st.Total)
	assert.Equal(t, 6, st.Writes)
	assert.Equal(t, 1, st.Faults)
	assert.Equal(t, map[string]int{"GET": 3, "POST": 3, "PATCH": 1, "PUT": 1, "DELETE": 1}, st.ByMethod)
	assert.Equal(t, map[string]int{
		"POST /api/stacks/{org}/{project}":                             2,
		"POST /api/stacks/{org}/{project}/{stack}/hooks":               1,
		"GET /api/stacks/{org}/{project}/{stack}/hooks":                1,
		"GET /api/stacks/{org}/{project}/{stack}/hooks/{name}":         1,
		"PATCH /api/stacks/{org}/{project}/{stack}/hooks/{name}":       1,
		"DELETE /api/stacks/{org}/{project}/{stack}/hooks/{name}":      1,
		"PUT /api/stacks/{org}/{project}/{stack}/deployments/settings": 1,
		"GET (no route)": 1,
	}, st.ByRoute)

	reqs := h.srv.Requests()
	require.Len(t, reqs, 9)
	var statuses []int
	for _, r := range reqs {
		statuses = append(statuses, r.Status)
		assert.NotEmpty(t, r.ID)
	}
	assert.Equal(t, []int{200, 201, 200, 200, 200, 204, 401, 404, 503}, statuses)
	assert.Equal(t, "/api/stacks/acme/app/dev/hooks/w", reqs[2].Path)
	assert.True(t, reqs[8].Fault)
	assert.Equal(t, reqs, observed.all())

	// Copies: changing the result does not change the counters.
	st.ByMethod["GET"] = 100
	assert.Equal(t, 3, h.srv.Stats().ByMethod["GET"])

	h.srv.ResetStats()
	assert.Equal(t, Stats{ByMethod: map[string]int{}, ByRoute: map[string]int{}}, h.srv.Stats())
	assert.Len(t, h.srv.Requests(), 9, "resetting the counters keeps the log")
}

func TestRequestLogIsBounded(t *testing.T) {
	t.Parallel()
	s := New(Options{Token: testToken})
	for i := range requestLogSize + 5 {
		req, err := http.NewRequest(http.MethodGet, "/api/orgs/acme/hooks", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "token "+testToken)
		if i >= requestLogSize {
			req.URL.Path = "/api/orgs/late/hooks"
		}
		s.ServeHTTP(discardResponse{}, req)
	}
	reqs := s.Requests()
	require.Len(t, reqs, requestLogSize)
	assert.Equal(t, "/api/orgs/acme/hooks", reqs[0].Path)
	assert.Equal(t, "/api/orgs/late/hooks", reqs[len(reqs)-1].Path)
	assert.Equal(t, "/api/orgs/late/hooks", reqs[len(reqs)-5].Path)
	assert.Equal(t, "/api/orgs/acme/hooks", reqs[len(reqs)-6].Path)
	assert.Equal(t, requestLogSize+5, s.Stats().Total)
}

type discardResponse struct{}

func (discardResponse) Header() http.Header         { return http.Header{} }
func (discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (discardResponse) WriteHeader(int)             {}
