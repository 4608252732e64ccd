package emulator

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diamond builds u → b, u → c, b → d, c → d out of pulumi_deployments webhooks; skip sets
// skipIntermediateDeployments on d's settings.
func diamond(t *testing.T, skip bool) *harness {
	t.Helper()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "p", "u", "b", "c", "d")
	for _, e := range [][2]string{{"u", "b"}, {"u", "c"}, {"b", "d"}, {"c", "d"}} {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/p/"+e[0]+"/hooks", deployHook("acme", "p", e[0], e[1])),
			http.StatusCreated)
	}
	if skip {
		require.NoError(t, h.srv.SetDeploymentSettings("acme", "p", "d", map[string]any{
			"operationContext": map[string]any{"options": map[string]any{"skipIntermediateDeployments": true}},
		}))
	}
	return h
}

// statusesOf maps each deployment of stack to its status, in creation order.
func statusesOf(s *Server, stack string) []string {
	var out []string
	for _, d := range s.Deployments() {
		if d.Stack == stack {
			out = append(out, d.Status)
		}
	}
	return out
}

// By default every deployment succeeds the moment it starts, so nothing ever queues and the join of a
// diamond deploys once per path, whatever its settings say.
func TestDiamondByDefaultDeploysTheJoinTwice(t *testing.T) {
	t.Parallel()
	for _, skip := range []bool{false, true} {
		h := diamond(t, skip)
		res, err := h.srv.FireUpdate("acme", "p", "u")
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "c", "d", "d"}, stackNames(res.Deployments), "skip=%v", skip)
		assert.Equal(t, []string{StatusSucceeded, StatusSucceeded}, statusesOf(h.srv, "d"))
	}
}

// With manual deployments, b and c finish in the same step, so both deployments of d wait together
// when the next step starts d: without skipIntermediateDeployments both run, one after the other;
// with it, the older is skipped and d deploys once.
func TestDiamondJoinWithManualDeployments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		skip     bool
		statuses []string
		ran      []string
	}{
		{false, []string{StatusSucceeded, StatusSucceeded}, []string{"b", "c", "d", "d"}},
		{true, []string{StatusSkipped, StatusSucceeded}, []string{"b", "c", "d"}},
	} {
		h := diamond(t, tc.skip)
		h.srv.SetManualDeployments(true)
		res, err := h.srv.FireUpdate("acme", "p", "u")
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "c"}, stackNames(res.Deployments))
		for _, d := range res.Deployments {
			assert.Equal(t, StatusNotStarted, d.Status, "nothing runs until a step")
		}

		step := h.srv.StepDeployments()
		assert.Empty(t, step.Finished)
		assert.Equal(t, []string{"b", "c"}, stackNames(step.Started))
		assert.False(t, step.Idle)

		step = h.srv.StepDeployments()
		assert.Equal(t, []string{"b", "c"}, stackNames(step.Finished))
		assert.Equal(t, []string{"d", "d"}, stackNames(step.Queued))
		assert.Equal(t, []string{"d"}, stackNames(step.Started))
		if tc.skip {
			assert.Equal(t, []string{"d"}, stackNames(step.Skipped))
			assert.Equal(t, step.Queued[1].ID, step.Started[0].ID, "the queue collapses to its newest")
		} else {
			assert.Empty(t, step.Skipped)
			assert.Equal(t, step.Queued[0].ID, step.Started[0].ID, "the oldest runs first")
			assert.Equal(t, []string{StatusRunning, StatusNotStarted}, statusesOf(h.srv, "d"), "the second waits behind the first")
		}

		run := h.srv.RunDeployments()
		assert.False(t, run.Truncated)
		assert.Equal(t, tc.statuses, statusesOf(h.srv, "d"), "skip=%v", tc.skip)
		var ran []string
		for _, d := range h.srv.Deployments() {
			if d.Status == StatusSucceeded {
				ran = append(ran, d.Stack)
			}
		}
		assert.Equal(t, tc.ran, ran, "skip=%v", tc.skip)
		assert.True(t, h.srv.StepDeployments().Idle)
	}
}

// A stack runs one deployment at a time, in order; skipIntermediateDeployments never interrupts the
// running one, and collapses only what waits.
func TestManualDeploymentsQueuePerStack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev")
	h.srv.SetManualDeployments(true)
	post := func() string {
		t.Helper()
		return must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/dev/deployments",
			map[string]any{"operation": "update"}), http.StatusAccepted)["id"].(string)
	}
	status := func(id string) string {
		t.Helper()
		return must[deploymentWire](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev/deployments/"+id, nil), http.StatusOK).Status
	}

	first := post()
	assert.Equal(t, StatusNotStarted, status(first))
	started, skipped := h.srv.StartDeployments()
	require.Len(t, started, 1)
	assert.Empty(t, skipped)
	assert.Equal(t, StatusRunning, status(first))

	second, third := post(), post()
	started, _ = h.srv.StartDeployments()
	assert.Empty(t, started, "one at a time")
	assert.Equal(t, StatusNotStarted, status(second))

	// Finishing the first does not start the next: starting is a step of its own.
	_, err := h.srv.FinishDeployment(first)
	require.NoError(t, err)
	assert.Equal(t, StatusSucceeded, status(first))
	assert.Equal(t, StatusNotStarted, status(second))
	stack := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil), http.StatusOK)
	assert.Equal(t, float64(1), stack["version"], "a stack changes when its update finishes")

	started, _ = h.srv.StartDeployments()
	require.Len(t, started, 1)
	assert.Equal(t, second, started[0].ID)
	assert.Equal(t, StatusNotStarted, status(third))

	// Now skip intermediate deployments: the running second is left alone, the waiting third and
	// fourth collapse to the fourth.
	require.NoError(t, h.srv.SetDeploymentSettings("acme", "app", "dev", map[string]any{
		"operationContext": map[string]any{"options": map[string]any{"skipIntermediateDeployments": true}},
	}))
	fourth := post()
	step := h.srv.StepDeployments()
	assert.Equal(t, second, step.Finished[0].ID)
	require.Len(t, step.Skipped, 1)
	assert.Equal(t, third, step.Skipped[0].ID)
	assert.Equal(t, fourth, step.Started[0].ID)
	assert.Equal(t, StatusSkipped, status(third))
	assert.Equal(t, StatusRunning, status(fourth))

	var e *Error
	_, err = h.srv.FinishDeployment(third)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusConflict, e.Code)
	_, err = h.srv.FinishDeployment("nope")
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusNotFound, e.Code)

	// Turning manual deployments off runs what is left.
	res := h.srv.SetManualDeployments(false)
	assert.Equal(t, []string{fourth}, []string{res.Deployments[0].ID})
	assert.Equal(t, StatusSucceeded, status(fourth))
	assert.Equal(t, StatusSucceeded, status(post()), "and new deployments succeed at once again")
}

func TestManualDeploymentsOfADeletedStackFail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev")
	h.srv.SetManualDeployments(true)
	for range 2 {
		require.Equal(t, http.StatusAccepted,
			h.call(http.MethodPost, "/api/stacks/acme/app/dev/deployments", map[string]any{"operation": "update"}).status)
	}
	h.srv.StartDeployments()
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/dev", nil).status)
	assert.Equal(t, []string{StatusFailed, StatusFailed}, statusesOf(h.srv, "dev"))
	assert.True(t, h.srv.StepDeployments().Idle)
}

func TestManualDeploymentsStopAtTheCapOnACycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.MaxCascadeDeployments = 7 })
	seedStacks(t, h.srv, "acme", "p", "a", "b")
	for _, e := range [][2]string{{"a", "b"}, {"b", "a"}} {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/p/"+e[0]+"/hooks", deployHook("acme", "p", e[0], e[1])),
			http.StatusCreated)
	}
	h.srv.SetManualDeployments(true)
	_, err := h.srv.FireUpdate("acme", "p", "a")
	require.NoError(t, err)
	res := h.srv.RunDeployments()
	assert.True(t, res.Truncated)
	assert.Len(t, res.Deployments, 7)

	off := h.srv.SetManualDeployments(false)
	assert.True(t, off.Truncated)
	for _, d := range h.srv.Deployments() {
		assert.Contains(t, []string{StatusSucceeded, StatusSkipped}, d.Status, "nothing is left waiting")
	}
}

func TestManualDeploymentsAdminRoutes(t *testing.T) {
	t.Parallel()
	h := diamond(t, true)
	admin := func(method, path string, body any) map[string]any {
		t.Helper()
		return must[map[string]any](t, h.send(method, "/_emulator/deployments/"+path, body, nil), http.StatusOK)
	}
	assert.Equal(t, false, admin(http.MethodGet, "manual", nil)["manual"])
	assert.Equal(t, true, admin(http.MethodPut, "manual", map[string]bool{"manual": true})["manual"])
	assert.Equal(t, http.StatusBadRequest, h.send(http.MethodPut, "/_emulator/deployments/manual", `{}`, nil).status)
	assert.True(t, h.srv.store.ManualDeployments())

	require.Equal(t, http.StatusOK, h.send(http.MethodPost, "/_emulator/stacks/acme/p/u/update", nil, nil).status)
	started := admin(http.MethodPost, "start", nil)["started"].([]any)
	require.Len(t, started, 2)
	id := started[0].(map[string]any)["id"].(string)
	res := admin(http.MethodPost, id+"/finish", nil)
	assert.Len(t, res["deployments"], 1, "b's update queues d")
	assert.Equal(t, http.StatusConflict, h.send(http.MethodPost, "/_emulator/deployments/"+id+"/finish", nil, nil).status)

	step := admin(http.MethodPost, "step", nil)
	assert.Len(t, step["finished"], 1)
	assert.Len(t, step["skipped"], 1, "d's two waiting deployments collapse")
	run := admin(http.MethodPost, "run", nil)
	assert.Len(t, run["deployments"], 1)
	assert.Equal(t, false, admin(http.MethodPut, "manual", map[string]bool{"manual": false})["manual"])
}
