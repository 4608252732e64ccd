package emulator

import (
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
