package emulator

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// long is a duration no test waits out: a deployment that takes it runs until the test ends it.
const long = time.Hour

func timedHarness(t *testing.T, d time.Duration) *harness {
	t.Helper()
	return newHarness(t, func(o *Options) { o.DeploymentDuration = d })
}

func (h *harness) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, h.srv.WaitFor(ctx, cond), what)
}

func (h *harness) deploymentsOf(t *testing.T, stack string) []Deployment {
	t.Helper()
	ds, err := h.srv.StackDeployments("acme", "app", stack)
	require.NoError(t, err)
	return ds
}

func (h *harness) getDeployment(t *testing.T, stack, id string) map[string]any {
	t.Helper()
	return must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/"+stack+"/deployments/"+id, nil), http.StatusOK)
}

func TestTimedDeploymentGoesThroughItsStatuses(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, long)
	seedStacks(t, h.srv, "acme", "app", "web")
	before := time.Now()
	first := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	second := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	id1, id2 := first["id"].(string), second["id"].(string)

	// The first runs at once (nothing else of the stack runs), the second waits behind it.
	h.waitFor(t, "the first deployment to run", func() bool { return h.deploymentsOf(t, "web")[0].Status == StatusRunning })
	running := h.getDeployment(t, "web", id1)
	assert.Equal(t, StatusRunning, running["status"])
	assert.Len(t, running["jobs"], 1)
	assert.Equal(t, StatusNotStarted, h.getDeployment(t, "web", id2)["status"])
	assert.False(t, h.srv.Idle())

	_, err := h.srv.FinishDeployment(id1)
	require.NoError(t, err)
	h.waitFor(t, "the second deployment to run", func() bool { return h.deploymentsOf(t, "web")[1].Status == StatusRunning })
	done := h.getDeployment(t, "web", id1)
	assert.Equal(t, StatusSucceeded, done["status"])
	_, err = h.srv.FinishDeployment(id2)
	require.NoError(t, err)
	waitIdle(t, h.srv)

	ds := h.deploymentsOf(t, "web")
	for _, d := range ds {
		assert.Equal(t, StatusSucceeded, d.Status)
		assert.False(t, d.Created.Before(before), "timestamps come from the real clock")
		assert.False(t, d.Started.Before(d.Created))
		assert.False(t, d.Finished.Before(d.Started))
	}
	assert.Greater(t, ds[1].StartOrder, ds[0].EndOrder, "one at a time")
	stack := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/web", nil), http.StatusOK)
	assert.Equal(t, float64(2), stack["version"])
}

// With a short duration, deployments end on their own, one at a time per stack in queue order, and a
// deployment a webhook starts runs only after the one that raised the event has ended.
func TestTimedDeploymentsRunOnTheirOwn(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, 5*time.Millisecond)
	seedStacks(t, h.srv, "acme", "app", "a", "b", "c", "d")
	for _, edge := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}} {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/"+edge[0]+"/hooks",
			deployHook("acme", "app", edge[0], edge[1])), http.StatusCreated)
	}
	res, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c"}, stackNames(res.Deployments), "FireUpdate answers what it queued")
	for _, d := range res.Deployments {
		assert.Equal(t, StatusNotStarted, d.Status, "and returns before they run")
	}
	waitIdle(t, h.srv)

	byID := map[string]Deployment{}
	for _, d := range h.srv.Deployments() {
		byID[d.ID] = d
		assert.Equal(t, StatusSucceeded, d.Status)
	}
	deliveries := map[string]Delivery{}
	for _, d := range h.srv.Deliveries() {
		deliveries[d.ID] = d
	}
	ds := h.deploymentsOf(t, "d")
	require.Len(t, ds, 2, "d is deployed once per parent: the emulator deploys per webhook, as the service does")
	assert.Greater(t, ds[1].StartOrder, ds[0].EndOrder, "a stack's deployments run one at a time")
	for _, d := range h.srv.Deployments() {
		if d.Cause.Kind != CauseWebhook || d.Cause.Webhook.Stack == "a" {
			continue
		}
		// The parent deployment whose update_succeeded started this one ended before it started.
		parent := deliveries[d.Cause.DeliveryID]
		var ended int64
		for _, p := range h.deploymentsOf(t, parent.Webhook.Stack) {
			if p.EndOrder < d.StartOrder && p.EndOrder > ended {
				ended = p.EndOrder
			}
		}
		assert.NotZero(t, ended, "%s started after a deployment of %s ended", d.Stack, parent.Webhook.Stack)
	}
}

func TestTimedDeploymentsCollapseWhenTheStackSkipsIntermediate(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, long)
	seedStacks(t, h.srv, "acme", "app", "web")
	require.NoError(t, h.srv.SetDeploymentSettings("acme", "app", "web", map[string]any{
		"operationContext": map[string]any{"options": map[string]any{"skipIntermediateDeployments": true}},
	}))
	var ids []string
	for range 3 {
		ref := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
			map[string]any{"operation": "update"}), http.StatusAccepted)
		ids = append(ids, ref["id"].(string))
	}
	_, err := h.srv.FinishDeployment(ids[0])
	require.NoError(t, err)
	h.waitFor(t, "the newest to run", func() bool { return h.deploymentsOf(t, "web")[2].Status == StatusRunning })
	ds := h.deploymentsOf(t, "web")
	assert.Equal(t, []string{StatusSucceeded, StatusSkipped, StatusRunning}, []string{ds[0].Status, ds[1].Status, ds[2].Status})
}

func TestDeploymentBehaviourOutcomesAndOutputs(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{DeploymentsSynchronous, DeploymentsTimed} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			_, err := h.srv.SetDeploymentMode(DeploymentMode{Mode: mode})
			require.NoError(t, err)
			seedStacks(t, h.srv, "acme", "app", "web")
			must[map[string]any](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", map[string]any{
				"organizationName": "acme", "name": "all", "displayName": "all", "payloadUrl": "https://example.com",
				"active": true, "groups": []string{"deployments", "stacks"},
			}), http.StatusCreated)
			deploy := func() Deployment {
				ref := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
					map[string]any{"operation": "update"}), http.StatusAccepted)
				waitIdle(t, h.srv)
				d, _, err := h.srv.store.StackDeployment("acme", "app", "web", ref["id"].(string), 0)
				require.NoError(t, err)
				return d
			}
			version := func() float64 {
				return must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/web", nil), http.StatusOK)["version"].(float64)
			}

			// failTimes 1, outcome succeeded, new outputs: the first fails, the retry succeeds with them.
			must[map[string]any](t, h.send(http.MethodPut, "/_emulator/stacks/acme/app/web/deployment-behaviour", map[string]any{
				"failTimes": 1, "outputs": map[string]any{"url": "https://web"}, "secretOutputs": map[string]any{"key": "k"},
			}, nil), http.StatusOK)
			failed := deploy()
			assert.Equal(t, StatusFailed, failed.Status)
			assert.Zero(t, version(), "a failed update writes no version")
			ok := deploy()
			assert.Equal(t, StatusSucceeded, ok.Status)
			assert.Equal(t, float64(1), version())
			outs, err := h.srv.StackOutputs("acme", "app", "web", 0)
			require.NoError(t, err)
			assert.Equal(t, StackOutputs{Plain: map[string]any{"url": "https://web"}, Secret: map[string]any{"key": "k"}}, outs)

			// Outputs unset: an update that changes no output still writes a version.
			require.NoError(t, h.srv.SetDeploymentBehaviour("acme", "app", "web", DeploymentBehaviour{}))
			deploy()
			assert.Equal(t, float64(2), version())
			again, err := h.srv.StackOutputs("acme", "app", "web", 2)
			require.NoError(t, err)
			assert.Equal(t, outs, again)

			// outcome failed: every deployment fails until the behaviour changes.
			require.NoError(t, h.srv.SetDeploymentBehaviour("acme", "app", "web", DeploymentBehaviour{Outcome: OutcomeFailed}))
			assert.Equal(t, StatusFailed, deploy().Status)
			assert.Equal(t, StatusFailed, deploy().Status)
			assert.Equal(t, float64(2), version())

			var events []string
			for _, d := range deliveriesOf(h.srv, "all") {
				events = append(events, d.Event)
			}
			assert.Equal(t, []string{
				"deployment_failed", "update_failed",
				"deployment_succeeded", "update_succeeded",
				"deployment_succeeded", "update_succeeded",
				"deployment_failed", "update_failed",
				"deployment_failed", "update_failed",
			}, events)
			failedDelivery := deliveriesOf(h.srv, "all")[1]
			assert.Equal(t, "stack_update", failedDelivery.Kind)
			assert.Contains(t, failedDelivery.Payload, `"result":"failed"`)
		})
	}
}

func TestDeploymentModeAndBehaviourRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	assert.Equal(t, modeWire{Mode: DeploymentsSynchronous},
		must[modeWire](t, h.send(http.MethodGet, "/_emulator/deployments/mode", nil, nil), http.StatusOK))
	must[map[string]any](t, h.send(http.MethodPut, "/_emulator/deployments/mode",
		map[string]any{"mode": "timed", "durationMs": 250}, nil), http.StatusOK)
	assert.Equal(t, DeploymentMode{Mode: DeploymentsTimed, Duration: 250 * time.Millisecond}, h.srv.DeploymentMode())
	assert.False(t, h.srv.store.ManualDeployments())

	for _, tc := range []struct {
		name, path string
		body       any
		want       string
	}{
		{"unknown mode", "/_emulator/deployments/mode", map[string]any{"mode": "fast"},
			`mode "fast" is invalid: use "synchronous", "manual" or "timed"`},
		{"negative duration", "/_emulator/deployments/mode", map[string]any{"mode": "timed", "durationMs": -1},
			"durationMs -1 is invalid: use 0 to 3600000"},
		{"unknown outcome", "/_emulator/stacks/acme/app/web/deployment-behaviour", map[string]any{"outcome": "maybe"},
			`outcome "maybe" is invalid: use "succeeded" or "failed"`},
		{"too long", "/_emulator/stacks/acme/app/web/deployment-behaviour", map[string]any{"durationMs": 3600001},
			"durationMs 3600001 is invalid"},
		{"negative failTimes", "/_emulator/stacks/acme/app/web/deployment-behaviour", map[string]any{"failTimes": -2},
			"failTimes -2 is invalid: use 0 or more"},
		{"output twice", "/_emulator/stacks/acme/app/web/deployment-behaviour",
			map[string]any{"outputs": map[string]any{"a": 1}, "secretOutputs": map[string]any{"a": 1}},
			`output "a" is in both outputs and secretOutputs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, mustError(t, h.send(http.MethodPut, tc.path, tc.body, nil), http.StatusBadRequest), tc.want)
		})
	}
	mustError(t, h.send(http.MethodPut, "/_emulator/stacks/acme/app/ghost/deployment-behaviour", map[string]any{}, nil),
		http.StatusNotFound)

	set := must[behaviourWire](t, h.send(http.MethodPut, "/_emulator/stacks/acme/app/web/deployment-behaviour", map[string]any{
		"durationMs": 40, "outcome": "failed", "failTimes": 2,
		"outputs": map[string]any{"url": "u"}, "secretOutputs": map[string]any{"pw": "p"},
	}, nil), http.StatusOK)
	assert.Equal(t, behaviourWire{DurationMs: 40, Outcome: "failed", FailTimes: 2,
		Outputs: map[string]any{"url": "u"}, SecretOutputs: map[string]any{"pw": "[secret]"}}, set)
	assert.Equal(t, set, must[behaviourWire](t, h.send(http.MethodGet, "/_emulator/stacks/acme/app/web/deployment-behaviour",
		nil, nil), http.StatusOK))
	require.Equal(t, http.StatusNoContent,
		h.send(http.MethodDelete, "/_emulator/stacks/acme/app/web/deployment-behaviour", nil, nil).status)
	assert.Equal(t, behaviourWire{Outcome: "succeeded"}, must[behaviourWire](t,
		h.send(http.MethodGet, "/_emulator/stacks/acme/app/web/deployment-behaviour", nil, nil), http.StatusOK))

	list := must[[]Deployment](t, h.send(http.MethodGet, "/_emulator/stacks/acme/app/web/deployments", nil, nil), http.StatusOK)
	assert.Empty(t, list)
}

// Switching modes: timed to manual stops the clocks, manual to timed restarts them, and back to
// synchronous runs whatever waits.
func TestSwitchingDeploymentModes(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, long)
	seedStacks(t, h.srv, "acme", "app", "web")
	for range 2 {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
			map[string]any{"operation": "update"}), http.StatusAccepted)
	}
	h.waitFor(t, "the first to run", func() bool { return h.deploymentsOf(t, "web")[0].Status == StatusRunning })

	h.srv.SetManualDeployments(true)
	h.srv.mustHaveTimers(t, 0) // manual deployments have no clocks
	_, err := h.srv.SetDeploymentMode(DeploymentMode{Mode: DeploymentsTimed, Duration: time.Millisecond})
	require.NoError(t, err)
	waitIdle(t, h.srv)
	for _, d := range h.deploymentsOf(t, "web") {
		assert.Equal(t, StatusSucceeded, d.Status)
	}

	_, err = h.srv.SetDeploymentMode(DeploymentMode{Mode: DeploymentsTimed, Duration: long})
	require.NoError(t, err)
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	res, err := h.srv.SetDeploymentMode(DeploymentMode{Mode: DeploymentsSynchronous})
	require.NoError(t, err)
	require.Len(t, res.Deployments, 1, "going synchronous runs what runs or waits")
	assert.Equal(t, StatusSucceeded, res.Deployments[0].Status)
	assert.True(t, h.srv.Idle())
}

func TestWaitIdleReportsWhatNeverEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	h.srv.SetManualDeployments(true)
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := h.srv.WaitIdle(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "emulator: not idle")
}

func TestCloseStopsTheClocks(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, long)
	seedStacks(t, h.srv, "acme", "app", "web")
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	h.waitFor(t, "the deployment to run", func() bool { return h.deploymentsOf(t, "web")[0].Status == StatusRunning })
	h.srv.mustHaveTimers(t, 1)
	h.srv.Close()
	h.srv.mustHaveTimers(t, 0)
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	h.srv.mustHaveTimers(t, 0)
}

func (s *Server) mustHaveTimers(t *testing.T, n int) {
	t.Helper()
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	assert.Len(t, s.store.timers, n)
}
