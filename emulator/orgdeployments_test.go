package emulator

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type orgDeploymentPage struct {
	Deployments  []deploymentWire `json:"deployments"`
	ItemsPerPage int              `json:"itemsPerPage"`
	Total        int              `json:"total"`
}

func (h *harness) deploy(t *testing.T, org, stack, operation string) string {
	t.Helper()
	ref := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/"+org+"/app/"+stack+"/deployments",
		map[string]any{"operation": operation}), http.StatusAccepted)
	return ref["id"].(string)
}

func (h *harness) statusOf(t *testing.T, id string) string {
	t.Helper()
	for _, d := range h.srv.Deployments() {
		if d.ID == id {
			return d.Status
		}
	}
	t.Fatalf("no deployment %s", id)
	return ""
}

func (h *harness) metadata(t *testing.T, org string) orgDeploymentsMetadataWire {
	t.Helper()
	return must[orgDeploymentsMetadataWire](t, h.call(http.MethodGet, "/api/orgs/"+org+"/deployments/metadata", nil),
		http.StatusOK)
}

// At most the cap of deployments run at once in an organization; the rest wait, and start in the order
// they were created across the organization as running ones end or are cancelled. Another organization
// has a cap of its own, and a stack still runs one deployment at a time.
func TestConcurrencyCapsRunningDeploymentsPerOrganization(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a", "b", "c", "d")
	seedStacks(t, h.srv, "beta", "app", "x")
	must[map[string]any](t, h.send(http.MethodPut, "/_emulator/deployments/mode",
		map[string]any{"mode": "timed", "durationMs": long.Milliseconds(), "concurrency": 2}, nil), http.StatusOK)
	assert.Equal(t, modeWire{Mode: DeploymentsTimed, DurationMs: long.Milliseconds(), Concurrency: 2},
		must[modeWire](t, h.send(http.MethodGet, "/_emulator/deployments/mode", nil, nil), http.StatusOK))

	a, a2 := h.deploy(t, "acme", "a", "update"), h.deploy(t, "acme", "a", "update")
	b, c, d := h.deploy(t, "acme", "b", "update"), h.deploy(t, "acme", "c", "update"), h.deploy(t, "acme", "d", "update")
	x := h.deploy(t, "beta", "x", "update")
	statuses := func() []string {
		return []string{h.statusOf(t, a), h.statusOf(t, a2), h.statusOf(t, b), h.statusOf(t, c), h.statusOf(t, d),
			h.statusOf(t, x)}
	}
	h.waitFor(t, "a, b and x to run", func() bool { return h.statusOf(t, x) == StatusRunning })
	assert.Equal(t, []string{StatusRunning, StatusNotStarted, StatusRunning, StatusNotStarted, StatusNotStarted,
		StatusRunning}, statuses(), "a's second waits for a; c and d for the cap")
	assert.Equal(t, orgDeploymentsMetadataWire{Concurrency: 2, DeploymentCounts: deploymentCountsWire{
		NotStarted: 3, Running: 2, Total: 5}}, h.metadata(t, "acme"))
	assert.Equal(t, orgDeploymentsMetadataWire{Concurrency: 2, DeploymentCounts: deploymentCountsWire{
		Running: 1, Total: 1}}, h.metadata(t, "beta"))

	// b ends: the oldest waiting deployment that can start is c (a2 waits for a).
	_, err := h.srv.FinishDeployment(b)
	require.NoError(t, err)
	h.waitFor(t, "c to run", func() bool { return h.statusOf(t, c) == StatusRunning })
	assert.Equal(t, StatusNotStarted, h.statusOf(t, d))
	// a ends: a2 is older than d, and a is free again.
	_, err = h.srv.FinishDeployment(a)
	require.NoError(t, err)
	h.waitFor(t, "a2 to run", func() bool { return h.statusOf(t, a2) == StatusRunning })
	assert.Equal(t, StatusNotStarted, h.statusOf(t, d))
	// Cancelling a running deployment frees its slot too.
	_, err = h.srv.CancelDeployment("acme", "app", "c", c)
	require.NoError(t, err)
	h.waitFor(t, "d to run", func() bool { return h.statusOf(t, d) == StatusRunning })
	assert.Equal(t, deploymentCountsWire{Running: 2, Succeeded: 2, Failed: 1, Total: 5}, h.metadata(t, "acme").DeploymentCounts)

	// Lifting the cap starts nothing new here, and a third stack's deployment now runs beside them.
	_, err = h.srv.SetDeploymentMode(DeploymentMode{Mode: DeploymentsTimed, Duration: long})
	require.NoError(t, err)
	seedStacks(t, h.srv, "acme", "app", "e")
	e := h.deploy(t, "acme", "e", "update")
	h.waitFor(t, "e to run", func() bool { return h.statusOf(t, e) == StatusRunning })
	assert.Zero(t, h.metadata(t, "acme").Concurrency, "no cap")
}

// With manual deployments a step starts no more than the cap, oldest first.
func TestConcurrencyCapsManualSteps(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a", "b", "c")
	_, err := h.srv.SetDeploymentMode(DeploymentMode{Mode: DeploymentsManual, Concurrency: 1})
	require.NoError(t, err)
	ids := []string{h.deploy(t, "acme", "c", "update"), h.deploy(t, "acme", "a", "update"), h.deploy(t, "acme", "b", "update")}
	for _, want := range ids {
		started, _ := h.srv.StartDeployments()
		require.Len(t, started, 1)
		assert.Equal(t, want, started[0].ID, "in creation order")
		_, err := h.srv.FinishDeployment(want)
		require.NoError(t, err)
	}
	assert.True(t, h.srv.Idle())
	assert.True(t, h.srv.DeploymentMode().Concurrency == 1, "SetManualDeployments keeps the cap")
	h.srv.SetManualDeployments(true)
	assert.Equal(t, 1, h.srv.DeploymentMode().Concurrency)
	mustError(t, h.send(http.MethodPut, "/_emulator/deployments/mode", map[string]any{"mode": "timed", "concurrency": -1}, nil),
		http.StatusBadRequest)
}

// The organization's list holds every deployment of its existing stacks, newest first unless asc=true, a
// page at a time, each with its project, stack and the update it ran.
func TestListOrgDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a", "b", "gone")
	seedStacks(t, h.srv, "beta", "app", "x")
	h.deploy(t, "acme", "gone", "update")
	ids := []string{h.deploy(t, "acme", "a", "update"), h.deploy(t, "acme", "b", "preview"), h.deploy(t, "acme", "a", "refresh")}
	h.deploy(t, "beta", "x", "update")
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/gone", nil).status)

	const path = "/api/orgs/acme/deployments"
	all := must[orgDeploymentPage](t, h.call(http.MethodGet, path, nil), http.StatusOK)
	assert.Equal(t, 3, all.Total, "the deleted stack's deployment is gone, and beta's is beta's")
	assert.Equal(t, 10, all.ItemsPerPage)
	require.Len(t, all.Deployments, 3)
	assert.Equal(t, []string{ids[2], ids[1], ids[0]}, []string{all.Deployments[0].ID, all.Deployments[1].ID, all.Deployments[2].ID})
	first := all.Deployments[0]
	assert.Equal(t, "app", first.ProjectName)
	assert.Equal(t, "a", first.StackName)
	assert.Equal(t, "refresh", first.PulumiOperation)
	assert.Equal(t, 2, first.Version)
	assert.Equal(t, 2, first.LatestVersion)
	assert.Equal(t, 1, all.Deployments[1].LatestVersion, "b's own latest")
	require.Len(t, first.Updates, 1)
	assert.Equal(t, 2, first.Updates[0].Version, "the refresh wrote a's second version")
	assert.Nil(t, first.Configuration)

	asc := must[orgDeploymentPage](t, h.call(http.MethodGet, path+"?asc=true&pageSize=2&page=2", nil), http.StatusOK)
	require.Len(t, asc.Deployments, 1)
	assert.Equal(t, ids[2], asc.Deployments[0].ID)
	assert.Equal(t, 3, asc.Total)
	empty := must[orgDeploymentPage](t, h.call(http.MethodGet, "/api/orgs/nobody/deployments", nil), http.StatusOK)
	assert.Zero(t, empty.Total)
	assert.NotNil(t, empty.Deployments)
	assert.Contains(t, mustError(t, h.call(http.MethodGet, path+"?pageSize=101", nil), http.StatusBadRequest),
		"pageSize must be a whole number from 1 to 100")
	assert.Contains(t, mustError(t, h.call(http.MethodGet, path+"?page=0", nil), http.StatusBadRequest),
		"page must be a whole number from 1")
}

// Cancelling: a running deployment fails at once with its events and writes nothing; a waiting one
// leaves the queue and raises nothing; an ended one is a 409, an unknown one a 404.
func TestCancelDeployment(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	h := newHarness(t, func(o *Options) { o.Now = clock.Now; o.DeploymentDuration = long })
	seedStacks(t, h.srv, "acme", "app", "web", "other")
	h.orgHook(t, "all")
	started := clock.advance(time.Minute)
	running, queued := h.deploy(t, "acme", "web", "update"), h.deploy(t, "acme", "web", "update")
	h.waitFor(t, "the first to run", func() bool { return h.statusOf(t, running) == StatusRunning })

	const base = "/api/stacks/acme/app/web/deployments/"
	r := h.call(http.MethodPost, base+queued+"/cancel", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Empty(t, r.body)
	assert.Equal(t, StatusFailed, h.statusOf(t, queued))
	assert.Equal(t, StatusRunning, h.statusOf(t, running), "the running one goes on")
	assert.Empty(t, eventsOf(h.srv, "all"), "a deployment that never ran raises nothing")

	clock.advance(time.Minute)
	require.Equal(t, http.StatusOK, h.call(http.MethodPost, base+running+"/cancel", nil).status)
	assert.Equal(t, []string{"deployment_failed", "update_failed"}, eventsOf(h.srv, "all"))
	st := h.stackState(t, "web")
	assert.Zero(t, st.Version)
	assert.Nil(t, st.CurrentOperation)
	assert.Equal(t, started.Unix(), st.LastUpdate, "the cancelled update started")
	got := h.getDeployment(t, "web", running)
	assert.Equal(t, StatusFailed, got["status"])
	assert.Equal(t, StatusFailed, got["updates"].([]any)[0].(map[string]any)["result"])
	for _, d := range h.srv.Deployments() {
		assert.True(t, d.Cancelled, d.ID)
	}
	assert.True(t, h.srv.Idle())

	assert.Equal(t, "Deployment "+running+" has already ended (failed): there is nothing to cancel",
		mustError(t, h.call(http.MethodPost, base+running+"/cancel", nil), http.StatusConflict))
	assert.Equal(t, "Deployment nope of stack 'acme/app/web' not found",
		mustError(t, h.call(http.MethodPost, base+"nope/cancel", nil), http.StatusNotFound))
	assert.Contains(t, mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/other/deployments/"+running+"/cancel", nil),
		http.StatusNotFound), "not found", "another stack's deployment")
	mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/ghost/deployments/"+running+"/cancel", nil), http.StatusNotFound)
}

// A deployment whose stack hangs never ends on its own in timed mode, while others do; cancelling it
// ends it.
func TestHangingDeployment(t *testing.T) {
	t.Parallel()
	h := timedHarness(t, 5*time.Millisecond)
	seedStacks(t, h.srv, "acme", "app", "stuck", "fine")
	set := must[behaviourWire](t, h.send(http.MethodPut, "/_emulator/stacks/acme/app/stuck/deployment-behaviour",
		map[string]any{"hang": true}, nil), http.StatusOK)
	assert.True(t, set.Hang)
	stuck := h.deploy(t, "acme", "stuck", "update")
	h.waitFor(t, "it to run", func() bool { return h.statusOf(t, stuck) == StatusRunning })
	fine := h.deploy(t, "acme", "fine", "update")
	h.waitFor(t, "the other stack's deployment to end", func() bool { return h.statusOf(t, fine) == StatusSucceeded })
	assert.Equal(t, StatusRunning, h.statusOf(t, stuck))
	h.srv.mustHaveTimers(t, 0)
	assert.False(t, h.srv.Idle())

	_, err := h.srv.CancelDeployment("acme", "app", "stuck", stuck)
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, h.statusOf(t, stuck))
	waitIdle(t, h.srv)
}
