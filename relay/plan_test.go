package relay

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

// planRoute serves GET /v1/plan against an emulator holding org acme's stacks p/{stacks} and the
// relay edges specs (emulatortest.Cloud.RelayEdges), and returns a function that asks it with the
// given query.
func planRoute(t *testing.T, token string, stacks []string, specs ...string) func(query url.Values) (int, []byte) {
	t.Helper()
	emu := emulatortest.Start(t)
	emu.SeedDeployable(t, "acme", "p", stacks...)
	emu.RelayEdges(t, "acme", "https://relay.example.com", "", specs...)
	client, err := cloud.New(nil, emu.URL, token)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("GET /v1/plan", planHandler(client))
	return func(query url.Values) (int, []byte) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/plan?"+query.Encode(), nil))
		return rec.Code, rec.Body.Bytes()
	}
}

func TestPlanRouteAnswersThePlan(t *testing.T) {
	t.Parallel()
	ask := planRoute(t, emulatortest.DefaultToken, []string{"net", "db", "cache", "app"},
		"p/net>p/db", "p/net>p/cache", "p/db>p/app", "p/cache>p/app")
	status, body := ask(url.Values{"organization": {"acme"}, "stack": {"p/net"}})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var plan edge.Plan
	require.NoError(t, json.Unmarshal(body, &plan))
	assert.Equal(t, [][]string{{"p/cache", "p/db"}, {"p/app"}}, plan.Waves)
	assert.Equal(t, []string{"p/cache", "p/app"}, plan.CriticalPath)
	assert.Equal(t, 2.0*edge.DefaultEstimateSeconds, plan.EstimatedSeconds)
	assert.Equal(t, []string{"p/cache", "p/db", "p/app"}, plan.SkippedIfUnchanged)
	assert.Equal(t, edge.Estimate{Seconds: edge.DefaultEstimateSeconds, Default: true}, plan.Estimates["p/app"])
	// The field names are the route's contract.
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	for _, field := range []string{"stack", "waves", "criticalPath", "estimatedSeconds", "skippedIfUnchanged",
		"estimates"} {
		assert.Contains(t, raw, field)
	}
}

func TestPlanRouteRefusals(t *testing.T) {
	t.Parallel()
	ask := planRoute(t, emulatortest.DefaultToken, []string{"a", "b"}, "p/a>p/b", "p/b>p/a")
	wrongToken := planRoute(t, "pul-wrong", []string{"a"})
	cases := []struct {
		name   string
		ask    func(url.Values) (int, []byte)
		query  url.Values
		status int
		err    string
	}{
		{"no organization", ask, url.Values{"stack": {"p/a"}}, http.StatusBadRequest,
			"the query parameter organization is missing: name the Pulumi Cloud organization of the stack"},
		{"invalid organization", ask, url.Values{"organization": {"ac me"}, "stack": {"p/a"}}, http.StatusBadRequest,
			`the query parameter organization "ac me" is not an organization name: 1-100 letters, digits, '-', '_' or '.'`},
		{"no stack", ask, url.Values{"organization": {"acme"}}, http.StatusBadRequest,
			"the query parameter stack is missing: name the stack whose change to plan, as project/stack"},
		{"stack without a project", ask, url.Values{"organization": {"acme"}, "stack": {"a"}}, http.StatusBadRequest,
			`the query parameter stack "a" is not project/stack: each is 1-100 letters, digits, '-', '_' or '.'`},
		{"stack with an organization", ask, url.Values{"organization": {"acme"}, "stack": {"acme/p/a"}},
			http.StatusBadRequest, `the query parameter stack "acme/p/a" is not project/stack: each is 1-100 ` +
				`letters, digits, '-', '_' or '.'`},
		{"a cycle", ask, url.Values{"organization": {"acme"}, "stack": {"p/a"}}, http.StatusConflict,
			"the relay edges below p/a form a cycle, so the relay deploys nothing on or below it; remove one of " +
				"its edges: p/a → p/b → p/a"},
	}
	for _, c := range cases {
		status, body := c.ask(c.query)
		assert.Equal(t, c.status, status, c.name)
		var out map[string]string
		require.NoError(t, json.Unmarshal(body, &out), c.name)
		assert.Equal(t, c.err, out["error"], c.name)
	}

	status, body := ask(url.Values{"organization": {"acme"}, "stack": {"p/nope"}})
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, string(body), "stack acme/p/nope does not exist")
	status, body = wrongToken(url.Values{"organization": {"acme"}, "stack": {"p/a"}})
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Contains(t, string(body), "reading Pulumi Cloud: listing the webhooks of acme/p/a")
}
