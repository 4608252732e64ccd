package emulator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Deleting a stack in the middle of a cascade: its running and waiting deployments fail and raise
// nothing, their timers stop, its own webhooks go while webhooks of other stacks that target it stay
// (their deliveries now fail with 404), and every API route of the stack answers 404.
func TestDeletingAStackMidCascade(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, long)
	seedStacks(t, h.srv, "acme", "app", "up", "mid", "down", "other")
	h.orgHook(t, "all")
	h.createStackHook(t, deployHook("acme", "app", "up", "mid"))
	midHook := h.createStackHook(t, deployHook("acme", "app", "mid", "down"))
	h.createStackHook(t, deployHook("acme", "app", "other", "mid"))
	require.Equal(t, http.StatusNoContent, h.call(http.MethodPost, "/api/stacks/acme/app/mid/tags",
		map[string]any{"name": "k", "value": "v"}).status)

	_, err := h.srv.FireUpdate("acme", "app", "up")
	require.NoError(t, err)
	_, err = h.srv.FireUpdate("acme", "app", "up")
	require.NoError(t, err)
	h.waitFor(t, "mid's first deployment to run", func() bool { return h.deploymentsOf(t, "mid")[0].Status == StatusRunning })
	mids := h.deploymentsOf(t, "mid")
	require.Len(t, mids, 2)
	assert.Equal(t, StatusNotStarted, mids[1].Status)
	h.srv.mustHaveTimers(t, 1)
	eventsBefore := len(eventsOf(h.srv, "all"))

	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/mid", nil).status)
	h.srv.mustHaveTimers(t, 0)
	for _, d := range h.srv.Deployments() {
		if d.Stack == "mid" {
			assert.Equal(t, StatusFailed, d.Status, d.ID)
		}
	}
	assert.Equal(t, []string{"stack_deleted"}, eventsOf(h.srv, "all")[eventsBefore:], "nothing more for mid")
	assert.True(t, h.srv.Idle())
	var hooks []string
	for _, w := range h.srv.Webhooks() {
		hooks = append(hooks, w.Stack+" -> "+w.PayloadURL)
	}
	assert.ElementsMatch(t, []string{" -> https://example.com/all", "up -> app/mid", "other -> app/mid"}, hooks, "mid's own webhook went, the ones to it stay")

	// A webhook that targets the deleted stack now fails its deliveries.
	res, err := h.srv.FireUpdate("acme", "app", "other")
	require.NoError(t, err)
	require.Len(t, res.FailedDeliveries, 1)
	assert.Equal(t, http.StatusNotFound, res.FailedDeliveries[0].ResponseCode)

	// Every route of the stack is a 404.
	values := map[string]string{"org": "acme", "project": "app", "stack": "mid", "id": mids[0].ID, "version": "1",
		"name": midHook.Name}
	n := 0
	for _, pattern := range h.srv.apiPatterns {
		if !strings.Contains(pattern, "/api/stacks/{org}/{project}/{stack}") {
			continue
		}
		n++
		method, path := fillPattern(pattern, values)
		// A body every route decodes, so that the answer is about the stack.
		var body any = map[string]any{"operation": "update", "name": "k", "value": "v"}
		if strings.HasSuffix(pattern, "/batch-decrypt") {
			body = map[string]any{"ciphertexts": []string{"AAAA"}}
		}
		r := h.call(method, path, body)
		assert.Equal(t, http.StatusNotFound, r.status, "%s: %s", pattern, r.body)
	}
	assert.Greater(t, n, 20, "the walk covers the stack's routes")
	for _, path := range []string{"deployment-behaviour", "deployments"} {
		mustError(t, h.send(http.MethodGet, "/_emulator/stacks/acme/app/mid/"+path, nil, nil), http.StatusNotFound)
	}
	mustError(t, h.send(http.MethodPost, "/_emulator/deployments/"+mids[0].ID+"/finish", nil, nil), http.StatusConflict)
	_, err = h.srv.CancelDeployment("acme", "app", "mid", mids[1].ID)
	assert.Error(t, err)
}

// Deleting a stack while a person's update of it runs fails the update, which raises nothing, and its
// timer never fires into the deleted stack.
func TestDeletingAStackDuringAPersonsUpdate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "solo")
	h.orgHook(t, "all")
	res, err := h.srv.StartUpdate("acme", "app", "solo", Update{Duration: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, h.srv.store.DeleteStack("acme", "app", "solo"))
	updates := h.srv.Updates()
	assert.Equal(t, StatusFailed, updates[0].Status)
	assert.False(t, updates[0].Finished.IsZero())
	waitIdle(t, h.srv)
	assert.Equal(t, []string{"stack_deleted"}, eventsOf(h.srv, "all"))
	mustError(t, h.send(http.MethodPost, "/_emulator/updates/"+res.Update.ID+"/finish", nil, nil), http.StatusConflict)
}

// Stacks deleted while timed deployments of a webhook cycle run and end on their own: no race, no
// panic, and the cycle stops where the deleted stack was.
func TestDeletingStacksWhileTimersFire(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, time.Millisecond)
	seedStacks(t, h.srv, "acme", "app", "a", "b", "c")
	for _, e := range [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}} {
		h.createStackHook(t, deployHook("acme", "app", e[0], e[1]))
	}
	_, err := h.srv.FireUpdate("acme", "app", "a")
	require.NoError(t, err)
	h.waitFor(t, "the cycle to go round a few times", func() bool { return len(h.deploymentsOf(t, "a")) >= 3 })
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/b", nil).status)
	waitIdle(t, h.srv)
	for _, d := range h.srv.Deployments() {
		assert.Contains(t, []string{StatusSucceeded, StatusFailed}, d.Status, "%s of %s", d.ID, d.Stack)
	}
	h.srv.mustHaveTimers(t, 0)
}
