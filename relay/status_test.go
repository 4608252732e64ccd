package relay

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

func TestPageState(t *testing.T) {
	t.Parallel()
	succeeded := &flight{Outcome: outcomeSucceeded}
	cancelled := &flight{Outcome: outcomeCancelled}
	for _, c := range []struct {
		name  string
		phase Phase
		row   State
		last  *flight
		want  string
	}{
		{"ready is due", PhaseReady, StateSucceeded, succeeded, pageDue},
		{"waiting", PhaseWaiting, "", nil, pageWaiting},
		{"unsure waits", PhaseUnsure, StateSucceeded, nil, pageWaiting},
		{"blocked by a failure above is skipped", PhaseBlocked, StateWaiting, nil, pageSkipped},
		{"deploying", PhaseDeploying, StateWaiting, succeeded, pageDeploying},
		{"a cycle is failed", PhaseCycle, "", nil, pageFailed},
		{"idle: its newest row says", PhaseIdle, StateSkippedUnchanged, cancelled, pageSkipped},
		{"idle: a skip for a failure above", PhaseIdle, StateSkippedUpstreamFailed, nil, pageSkipped},
		{"idle: a row still waiting", PhaseIdle, StateWaiting, nil, pageWaiting},
		{"idle: a row deploying", PhaseIdle, StateDeploying, nil, pageDeploying},
		{"idle: a row failed", PhaseIdle, StateFailed, succeeded, pageFailed},
		{"idle: no row, its last deployment succeeded", PhaseIdle, "", succeeded, pageSucceeded},
		{"idle: no row, its last deployment was cancelled", PhaseIdle, "", cancelled, pageFailed},
		{"idle: no row, a deployment not ended", PhaseIdle, "", &flight{}, pageIdle},
		{"idle: nothing known", PhaseIdle, "", nil, pageIdle},
	} {
		assert.Equal(t, c.want, pageState(c.phase, c.row, c.last), c.name)
	}
}

// status asks GET /v1/status with query and returns the status code and the raw body.
func (h *harness) status(query string) (int, string) {
	h.t.Helper()
	return get(h.t, h.base+"/v1/status"+query)
}

// statusView asks GET /v1/status for acme, requiring a 200.
func (h *harness) statusView() StatusView {
	h.t.Helper()
	code, body := h.status("?organization=" + testOrg)
	require.Equal(h.t, http.StatusOK, code, body)
	var v StatusView
	require.NoError(h.t, json.Unmarshal([]byte(body), &v))
	return v
}

// waitStatus polls GET /v1/status until cond holds, failing after a deadline with the last answer.
func (h *harness) waitStatus(what string, cond func(StatusView) bool) StatusView {
	h.t.Helper()
	deadline := time.Now().Add(defaultWait)
	for {
		v := h.statusView()
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; status: %+v", what, v)
		}
		time.Sleep(pollEvery)
	}
}

func stackStates(v StatusView) map[string]string {
	out := map[string]string{}
	for _, s := range v.Stacks {
		out[s.Stack] = s.State
	}
	return out
}

// deploymentOf is the newest deployment of ref in the timeline.
func deploymentOf(t *testing.T, v StatusView, ref string) DeploymentView {
	t.Helper()
	for i := len(v.Deployments) - 1; i >= 0; i-- {
		if v.Deployments[i].Stack == ref {
			return v.Deployments[i]
		}
	}
	t.Fatalf("no deployment of %s in %+v", ref, v.Deployments)
	return DeploymentView{}
}

// A diamond whose b deploys slowly: while it runs the status shows a succeeded, b deploying and the
// join d waiting for it, from the database; at the end every stack succeeded, and the timeline has each
// deployment with its times, the parents' versions it covers and its console URL.
func TestStatusFollowsARunningCascade(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b", "d"), testDB(t))
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/root", "p/b"}, {"p/a", "p/d"}, {"p/b", "p/d"}} {
		h.edge(e[0], e[1])
	}
	h.behave("p/b", emulator.DeploymentBehaviour{Duration: 3 * time.Second})
	h.fire("p/root", map[string]any{"v": 1})

	v := h.waitStatus("a succeeded while b deploys", func(v StatusView) bool {
		s := stackStates(v)
		return s["p/a"] == pageSucceeded && s["p/b"] == pageDeploying
	})
	assert.Equal(t, map[string]string{"p/root": pageIdle, "p/a": pageSucceeded, "p/b": pageDeploying,
		"p/d": pageWaiting}, stackStates(v))
	assert.Equal(t, []EdgeStatus{{"p/a", "p/d", false}, {"p/b", "p/d", false}, {"p/root", "p/a", false},
		{"p/root", "p/b", false}}, v.Edges)
	for _, s := range v.Stacks {
		if s.Stack == "p/d" {
			assert.Equal(t, PhaseWaiting, s.Phase)
			assert.Equal(t, "waits for p/b above it", s.Why)
		}
	}
	require.Len(t, v.Cascades, 1)
	c := v.Cascades[0]
	assert.Equal(t, cascadeRunning, c.State)
	assert.Equal(t, "acme/p/root", c.Root)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateDeploying, "p/d": StateWaiting}, states(c))
	running := deploymentOf(t, v, "p/b")
	assert.Zero(t, running.EndedMS, "b's deployment has not ended")
	assert.Empty(t, running.Outcome)

	v = h.waitStatus("the cascade done", func(v StatusView) bool {
		return len(v.Cascades) == 1 && v.Cascades[0].State == cascadeDone
	})
	assert.Equal(t, map[string]string{"p/root": pageIdle, "p/a": pageSucceeded, "p/b": pageSucceeded,
		"p/d": pageSucceeded}, stackStates(v))
	require.Len(t, v.Deployments, 3, "one deployment each of a, b and d")
	for _, ref := range []string{"p/a", "p/b", "p/d"} {
		d := deploymentOf(t, v, ref)
		assert.Equal(t, outcomeSucceeded, d.Outcome, ref)
		assert.NotEmpty(t, d.DeploymentID, ref)
		assert.Contains(t, d.ConsoleURL, "/acme/"+ref+"/deployments/", "%s's page in Pulumi Cloud's console", ref)
		assert.True(t, d.IntentMS <= d.StartedMS && d.StartedMS <= d.EndedMS, "%s: intent %d, started %d, ended %d",
			ref, d.IntentMS, d.StartedMS, d.EndedMS)
		assert.Positive(t, d.Version, ref)
	}
	assert.Equal(t, map[string]int{"p/root": rootVersion(t, v)}, deploymentOf(t, v, "p/a").Covers)
	assert.Equal(t, map[string]int{"p/a": deploymentOf(t, v, "p/a").Version, "p/b": deploymentOf(t, v, "p/b").Version},
		deploymentOf(t, v, "p/d").Covers, "d deployed once, after both its parents")
	assert.Greater(t, deploymentOf(t, v, "p/d").IntentMS, deploymentOf(t, v, "p/b").EndedMS-1)
}

func rootVersion(t *testing.T, v StatusView) int {
	t.Helper()
	for _, s := range v.Stacks {
		if s.Stack == "p/root" {
			return s.Version
		}
	}
	t.Fatal("no p/root among the stacks")
	return 0
}

// A failed deployment shows failed, the stack below it skipped, and its sibling succeeded.
func TestStatusShowsFailuresAndSkips(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "a1", "b"), testDB(t))
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/a", "p/a1"}, {"p/root", "p/b"}} {
		h.edge(e[0], e[1])
	}
	h.behave("p/a", emulator.DeploymentBehaviour{Outcome: "failed"})
	h.fire("p/root", map[string]any{"v": 1})
	h.waitDone(1)
	v := h.statusView()
	assert.Equal(t, map[string]string{"p/root": pageIdle, "p/a": pageFailed, "p/a1": pageSkipped,
		"p/b": pageSucceeded}, stackStates(v))
	assert.Equal(t, "failed", deploymentOf(t, v, "p/a").Outcome)
}

func TestStatusOrganizationParameter(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root"), testDB(t))

	code, body := h.status("")
	assert.Equal(t, http.StatusOK, code, "the one organization the relay schedules is the default: %s", body)
	assert.Contains(t, body, `"organization":"acme"`)

	code, body = h.status("?organization=no%20such")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.JSONEq(t, `{"error":"the query parameter organization \"no such\" is not an organization name: 1-100 `+
		`letters, digits, '-', '_' or '.'"}`, body)

	code, body = h.status("?organization=beta")
	assert.Equal(t, http.StatusNotFound, code)
	assert.JSONEq(t, `{"error":"the relay does not schedule organization \"beta\": it schedules acme"}`, body)

	// With two organizations, neither is a default.
	_, err := h.r.db.Exec(`INSERT INTO relay_org (organization) VALUES ('beta')`)
	require.NoError(t, err)
	code, body = h.status("")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.JSONEq(t, `{"error":"the query parameter organization is missing: name the organization to show, one of `+
		`those the relay schedules (acme, beta)"}`, body)
	code, body = h.status("?organization=beta")
	assert.Equal(t, http.StatusOK, code, body)
	var beta StatusView
	require.NoError(t, json.Unmarshal([]byte(body), &beta))
	beta.NowMS = 0
	assert.Equal(t, StatusView{Organization: "beta", Stacks: []StackStatus{}, Edges: []EdgeStatus{},
		Cascades: []CascadeView{}, Deployments: []DeploymentView{}}, beta, "an organization the relay knows nothing of yet")
}

// The page and its assets are served on the admin address, each under a policy that lets it load only
// from the relay; anything else there is still 404.
func TestStatusPageIsServed(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root"), testDB(t))
	for path, want := range map[string]struct{ contentType, contains string }{
		"/":                   {"text/html", `<script src="/status/status.js" defer></script>`},
		"/status/status.js":   {"text/javascript", `"/v1/status"`},
		"/status/status.css":  {"text/css", ".node rect"},
		"/status/favicon.svg": {"image/svg+xml", "<svg"},
	} {
		resp, err := http.Get(h.base + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, resp.Header.Get("Content-Type"), want.contentType, path)
		assert.Equal(t, statusCSP, resp.Header.Get("Content-Security-Policy"), path)
		assert.Contains(t, string(body), want.contains, path)
	}
	for _, path := range []string{"/index.html", "/status/", "/status/nothing.js", "/nothing"} {
		code, _ := get(t, h.base+path)
		assert.Equal(t, http.StatusNotFound, code, path)
	}
}
