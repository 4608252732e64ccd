package emulator

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testClock is an emulator clock that moves only when the test moves it, so a test can tell an update's
// start from its end by their times.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// stackState is what GET stack and the stack list say about a stack's updates.
type stackState struct {
	Version          int            `json:"version"`
	ActiveUpdate     string         `json:"activeUpdate"`
	CurrentOperation *operationWire `json:"currentOperation"`
	Raw              map[string]any `json:"-"`
	LastUpdate       int64          `json:"-"`
}

func (h *harness) stackState(t *testing.T, stack string) stackState {
	t.Helper()
	r := h.call(http.MethodGet, "/api/stacks/acme/app/"+stack, nil)
	st := must[stackState](t, r, http.StatusOK)
	st.Raw = must[map[string]any](t, r, http.StatusOK)
	list := must[stackPage](t, h.call(http.MethodGet, "/api/user/stacks?project=app", nil), http.StatusOK)
	for _, s := range list.Stacks {
		if s.StackName == stack {
			st.LastUpdate = s.LastUpdate
		}
	}
	return st
}

// A deployment's update moves lastUpdate and activeUpdate when it starts, shows as the stack's current
// operation while it runs, and its end leaves lastUpdate where it was.
func TestDeploymentUpdateStartsAndEnds(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	h := newHarness(t, func(o *Options) { o.Now = clock.Now; o.DeploymentDuration = long })
	seedStacks(t, h.srv, "acme", "app", "web")

	before := h.stackState(t, "web")
	assert.Zero(t, before.LastUpdate, "never updated")
	assert.Empty(t, before.ActiveUpdate)
	assert.Nil(t, before.CurrentOperation)
	assert.Contains(t, before.Raw, "currentOperation", "null, not absent, when nothing runs")

	started := clock.advance(time.Minute)
	ref := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	h.waitFor(t, "the deployment to run", func() bool { return h.deploymentsOf(t, "web")[0].Status == StatusRunning })
	d := h.deploymentsOf(t, "web")[0]
	running := h.stackState(t, "web")
	assert.Equal(t, started.Unix(), running.LastUpdate)
	assert.Equal(t, d.UpdateID, running.ActiveUpdate)
	assert.Equal(t, &operationWire{Kind: "update", Author: "emulator", Started: started.Unix()}, running.CurrentOperation)
	updates := h.getDeployment(t, "web", ref["id"].(string))["updates"].([]any)
	require.Len(t, updates, 1)
	inProgress := updates[0].(map[string]any)
	assert.Equal(t, "in-progress", inProgress["result"])
	assert.Equal(t, float64(0), inProgress["version"], "no version yet")
	assert.Equal(t, float64(0), inProgress["endTime"], "not ended")

	ended := clock.advance(time.Minute)
	_, err := h.srv.FinishDeployment(d.ID)
	require.NoError(t, err)
	after := h.stackState(t, "web")
	assert.Equal(t, started.Unix(), after.LastUpdate, "the end does not move lastUpdate")
	assert.Equal(t, d.UpdateID, after.ActiveUpdate, "the latest update, now finished")
	assert.Nil(t, after.CurrentOperation)
	assert.Equal(t, 1, after.Version)
	done := h.getDeployment(t, "web", ref["id"].(string))["updates"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"id": d.UpdateID, "updateID": d.UpdateID, "version": float64(1),
		"startTime": float64(started.Unix()), "endTime": float64(ended.Unix()), "kind": "update",
		"result": StatusSucceeded, "message": "", "environment": map[string]any{}}, done)
}

// A preview changes nothing on the stack: it is no current operation and leaves lastUpdate alone. A
// failed update still started, so it moves lastUpdate, and its update says failed without a version.
func TestDeploymentUpdatesThatWriteNoVersion(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	h := newHarness(t, func(o *Options) { o.Now = clock.Now; o.DeploymentDuration = long })
	seedStacks(t, h.srv, "acme", "app", "web")

	preview := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "preview"}), http.StatusAccepted)
	h.waitFor(t, "the preview to run", func() bool { return h.deploymentsOf(t, "web")[0].Status == StatusRunning })
	st := h.stackState(t, "web")
	assert.Nil(t, st.CurrentOperation)
	assert.Zero(t, st.LastUpdate)
	assert.Empty(t, st.ActiveUpdate)
	_, err := h.srv.FinishDeployment(preview["id"].(string))
	require.NoError(t, err)
	u := h.getDeployment(t, "web", preview["id"].(string))["updates"].([]any)[0].(map[string]any)
	assert.Equal(t, "preview", u["kind"])
	assert.Equal(t, float64(0), u["version"], "a preview writes no version")

	require.NoError(t, h.srv.SetDeploymentBehaviour("acme", "app", "web", DeploymentBehaviour{Outcome: OutcomeFailed}))
	started := clock.advance(time.Minute)
	update := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	h.waitFor(t, "the update to run", func() bool { return h.deploymentsOf(t, "web")[1].Status == StatusRunning })
	clock.advance(time.Minute)
	_, err = h.srv.FinishDeployment(update["id"].(string))
	require.NoError(t, err)
	st = h.stackState(t, "web")
	assert.Equal(t, started.Unix(), st.LastUpdate)
	assert.Equal(t, h.deploymentsOf(t, "web")[1].UpdateID, st.ActiveUpdate)
	assert.Zero(t, st.Version)
	u = h.getDeployment(t, "web", update["id"].(string))["updates"].([]any)[0].(map[string]any)
	assert.Equal(t, StatusFailed, u["result"])
	assert.Equal(t, float64(0), u["version"])
}

// A stack deleted and created again under its name is another stack: it lists none of the first one's
// deployments, and its own are numbered from 1 again.
func TestRecreatedStackHasOnlyItsOwnDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	const base = "/api/stacks/acme/app/web/deployments"
	old := must[map[string]any](t, h.call(http.MethodPost, base, map[string]any{"operation": "update"}), http.StatusAccepted)
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/web", nil).status)
	seedStacks(t, h.srv, "acme", "app", "web")

	mustError(t, h.call(http.MethodGet, base+"/"+old["id"].(string), nil), http.StatusNotFound)
	fresh := must[map[string]any](t, h.call(http.MethodPost, base, map[string]any{"operation": "update"}), http.StatusAccepted)
	assert.Equal(t, float64(1), fresh["version"])
	list := must[struct {
		Deployments []map[string]any `json:"deployments"`
		Total       int              `json:"total"`
	}](t, h.call(http.MethodGet, base, nil), http.StatusOK)
	assert.Equal(t, 1, list.Total)
	assert.Equal(t, fresh["id"], list.Deployments[0]["id"])
	byVersion := must[map[string]any](t, h.call(http.MethodGet, base+"/version/1", nil), http.StatusOK)
	assert.Equal(t, fresh["id"], byVersion["id"])
}

// orgHook creates an organization webhook that wants every stack and deployment event and is never sent
// (its URL is not on this machine), so a test reads the events from its deliveries.
func (h *harness) orgHook(t *testing.T, name string) {
	t.Helper()
	must[map[string]any](t, h.call(http.MethodPost, "/api/orgs/acme/hooks", map[string]any{
		"organizationName": "acme", "name": name, "displayName": name, "payloadUrl": "https://example.com/" + name,
		"active": true, "groups": []string{"deployments", "stacks"},
	}), http.StatusCreated)
}

func eventsOf(s *Server, hook string) []string {
	var out []string
	for _, d := range deliveriesOf(s, hook) {
		out = append(out, d.Event)
	}
	return out
}

func (h *harness) upstreamOf(t *testing.T, stack string) []string {
	t.Helper()
	wire := must[struct {
		ReferencedStacks []StackReference `json:"referencedStacks"`
	}](t, h.call(http.MethodGet, "/api/stacks/acme/app/"+stack+"/upstreamreferences", nil), http.StatusOK)
	out := []string{}
	for _, r := range wire.ReferencedStacks {
		out = append(out, r.Project+"/"+r.Stack)
	}
	return out
}

// A person's update that takes time answers at once and runs on its own: the stack shows it as its
// current operation from its start, which is also its lastUpdate; a deployment of the stack waits for it;
// its end writes the version, raises its event and records what the program now reads.
func TestPersonsUpdateTakesTime(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	h := newHarness(t, func(o *Options) { o.Now = clock.Now; o.DeploymentDuration = long })
	seedStacks(t, h.srv, "acme", "app", "web", "net", "db")
	h.orgHook(t, "all")
	require.NoError(t, h.srv.AddStackReference("acme", "app", "web", "app", "net"))

	started := clock.advance(time.Minute)
	res := must[UpdateResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/web/update", map[string]any{
		"durationMs": long.Milliseconds(), "outputs": map[string]any{"url": "https://web"}, "reads": []string{"app/db"},
	}, nil), http.StatusOK)
	assert.Equal(t, StatusRunning, res.Update.Status)
	assert.Empty(t, res.Deployments)
	st := h.stackState(t, "web")
	assert.Equal(t, started.Unix(), st.LastUpdate)
	assert.Equal(t, res.Update.ID, st.ActiveUpdate)
	assert.Equal(t, &operationWire{Kind: "update", Author: "emulator", Started: started.Unix()}, st.CurrentOperation)
	assert.Zero(t, st.Version)
	assert.Equal(t, []string{"app/net"}, h.upstreamOf(t, "web"), "references change at the update's end")
	assert.False(t, h.srv.Idle())

	dep := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	assert.Equal(t, StatusNotStarted, h.getDeployment(t, "web", dep["id"].(string))["status"],
		"a deployment waits for the person's update")

	ended := clock.advance(time.Minute)
	must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/updates/"+res.Update.ID+"/finish", nil, nil), http.StatusOK)
	h.waitFor(t, "the deployment to start", func() bool { return h.deploymentsOf(t, "web")[0].Status == StatusRunning })
	d := h.deploymentsOf(t, "web")[0]
	assert.Equal(t, ended, d.Started, "it starts when the update ends")
	assert.Equal(t, []string{"app/db"}, h.upstreamOf(t, "web"))
	updates := must[[]StackUpdate](t, h.send(http.MethodGet, "/_emulator/updates", nil, nil), http.StatusOK)
	require.Len(t, updates, 1)
	assert.Equal(t, StackUpdate{ID: res.Update.ID, Org: "acme", Project: "app", Stack: "web", Kind: "update",
		Status: StatusSucceeded, Version: 1, Started: started, Finished: ended}, updates[0])
	outs, err := h.srv.StackOutputs("acme", "app", "web", 1)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"url": "https://web"}, outs.Plain)
	assert.Equal(t, []string{"update_succeeded"}, eventsOf(h.srv, "all"), "the deployment has not ended yet")

	st = h.stackState(t, "web")
	assert.Equal(t, ended.Unix(), st.LastUpdate, "the deployment's update started when the person's ended")
	assert.Equal(t, d.UpdateID, st.ActiveUpdate)
}

// Its timer ends a person's update on its own.
func TestPersonsUpdateEndsOnItsOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	res, err := h.srv.StartUpdate("acme", "app", "web", Update{Duration: 20 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, StatusRunning, res.Update.Status)
	waitIdle(t, h.srv)
	assert.Equal(t, StatusSucceeded, h.srv.Updates()[0].Status)
	assert.Equal(t, 1, h.stackState(t, "web").Version)
	assert.Nil(t, h.stackState(t, "web").CurrentOperation)
}

// A refresh writes a version and raises refresh_succeeded; a failed update writes none, keeps outputs
// and references, and raises update_failed naming the version it would have written.
func TestPersonsUpdateKindsAndOutcomes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web", "net")
	h.orgHook(t, "all")
	require.NoError(t, h.srv.AddStackReference("acme", "app", "web", "app", "net"))

	res, err := h.srv.StartUpdate("acme", "app", "web", Update{Kind: UpdateKindRefresh,
		Outputs: &StackOutputs{Plain: map[string]any{"v": "1"}}})
	require.NoError(t, err)
	assert.Equal(t, StatusSucceeded, res.Update.Status)
	assert.Equal(t, 1, res.Update.Version)
	failed := must[UpdateResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/web/update", map[string]any{
		"outcome": "failed", "outputs": map[string]any{"v": "2"}, "reads": []string{},
	}, nil), http.StatusOK)
	assert.Equal(t, StatusFailed, failed.Update.Status)
	assert.Zero(t, failed.Update.Version)

	assert.Equal(t, 1, h.stackState(t, "web").Version)
	outs, err := h.srv.StackOutputs("acme", "app", "web", 0)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"v": "1"}, outs.Plain)
	assert.Equal(t, []string{"app/net"}, h.upstreamOf(t, "web"), "a failed update records no references")
	assert.Equal(t, []string{"refresh_succeeded", "update_failed"}, eventsOf(h.srv, "all"))
	var payload updatePayload
	require.NoError(t, json.Unmarshal([]byte(deliveriesOf(h.srv, "all")[1].Payload), &payload))
	assert.Equal(t, "https://app.pulumi.com/acme/app/web/updates/2", payload.UpdateURL)
	assert.Equal(t, StatusFailed, payload.Result)

	_, err = h.srv.StartUpdate("acme", "app", "web", Update{Reads: []string{}})
	require.NoError(t, err)
	assert.Empty(t, h.upstreamOf(t, "web"), "an empty reads forgets every reference")
}

// With synchronous deployments, a deployment a webhook starts on a stack that a person is updating
// waits, and runs to its end when the update ends.
func TestPersonsUpdateHoldsSynchronousDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net", "web")
	h.createStackHook(t, deployHook("acme", "app", "net", "web"))
	res, err := h.srv.StartUpdate("acme", "app", "web", Update{Duration: long})
	require.NoError(t, err)

	fired, err := h.srv.FireUpdate("acme", "app", "net")
	require.NoError(t, err)
	require.Len(t, fired.Deployments, 1)
	assert.Equal(t, StatusNotStarted, fired.Deployments[0].Status)

	ended, err := h.srv.FinishUpdate(res.Update.ID)
	require.NoError(t, err)
	assert.Empty(t, ended.Deployments, "web has no webhooks of its own")
	ds := h.deploymentsOf(t, "web")
	assert.Equal(t, StatusSucceeded, ds[0].Status)
	assert.Equal(t, 2, ds[0].StackVersion, "after the person's update, version 1")
	assert.True(t, h.srv.Idle())
}

// With manual deployments, a deployment waiting for a person's update is not started by a step, and a
// step with nothing else to do says idle.
func TestPersonsUpdateHoldsManualDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	h.srv.SetManualDeployments(true)
	res, err := h.srv.StartUpdate("acme", "app", "web", Update{Duration: long})
	require.NoError(t, err)
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	step := h.srv.StepDeployments()
	assert.Empty(t, step.Started)
	assert.True(t, step.Idle, "nothing a step can do")
	assert.Empty(t, h.srv.RunDeployments().Deployments, "and running returns instead of looping")

	_, err = h.srv.FinishUpdate(res.Update.ID)
	require.NoError(t, err)
	step = h.srv.StepDeployments()
	assert.Len(t, step.Started, 1)
}

func TestPersonsUpdateRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.DeploymentDuration = long })
	seedStacks(t, h.srv, "acme", "app", "web", "busy")
	res, err := h.srv.StartUpdate("acme", "app", "web", Update{Duration: long})
	require.NoError(t, err)
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/busy/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	h.waitFor(t, "busy's deployment to run", func() bool { return h.deploymentsOf(t, "busy")[0].Status == StatusRunning })

	const path = "/_emulator/stacks/acme/app/"
	for _, tc := range []struct {
		name, stack string
		body        map[string]any
		status      int
		want        string
	}{
		{"update in progress", "web", nil, http.StatusConflict,
			"Stack 'acme/app/web' has an update in progress (" + res.Update.ID + "): another cannot start until it ends"},
		{"deployment running", "busy", map[string]any{"durationMs": 10}, http.StatusConflict,
			"Stack 'acme/app/busy' is being deployed (deployment "},
		{"unknown kind", "busy", map[string]any{"kind": "destroy"}, http.StatusBadRequest,
			`kind "destroy" is invalid: use "update" or "refresh"`},
		{"unknown outcome", "busy", map[string]any{"outcome": "maybe"}, http.StatusBadRequest,
			`outcome "maybe" is invalid: use "succeeded" or "failed"`},
		{"too long", "busy", map[string]any{"durationMs": 3600001}, http.StatusBadRequest,
			"durationMs 3600001 is invalid: use 0 to 3600000"},
		{"bad read", "busy", map[string]any{"reads": []string{"app/web", "web"}}, http.StatusBadRequest,
			`reads[1] "web" is invalid: use project/stack`},
		{"missing read", "busy", map[string]any{"reads": []string{"app/ghost"}}, http.StatusNotFound,
			"reads[0]: Stack 'acme/app/ghost' not found"},
		{"self read", "busy", map[string]any{"reads": []string{"app/busy"}}, http.StatusBadRequest,
			"reads[0]: a stack cannot reference itself"},
		{"missing stack", "ghost", nil, http.StatusNotFound, "Stack 'acme/app/ghost' not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, mustError(t, h.send(http.MethodPost, path+tc.stack+"/update", tc.body, nil), tc.status), tc.want)
		})
	}
	assert.Len(t, h.srv.Updates(), 1, "a refused update is not recorded")

	_, err = h.srv.FinishUpdate(res.Update.ID)
	require.NoError(t, err)
	assert.Equal(t, "Update "+res.Update.ID+" is succeeded, not running",
		mustError(t, h.send(http.MethodPost, "/_emulator/updates/"+res.Update.ID+"/finish", nil, nil), http.StatusConflict))
	assert.Equal(t, "Update nope not found",
		mustError(t, h.send(http.MethodPost, "/_emulator/updates/nope/finish", nil, nil), http.StatusNotFound))
	_, err = h.srv.FireUpdate("acme", "app", "busy")
	assert.NoError(t, err, "an instantaneous update lands while a deployment runs, as it always did")
}
