package relay

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// The metrics a relay that runs for weeks is watched by: the Cloud client's limits, the failures in a
// row of the organization's reads, and River's discarded jobs. relay/limits_e2e_test.go has the limits
// fall and recover in the relay binary.

func TestMetricsShowFailuresInARowUntilAReadSucceeds(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	h := startRelay(t, emu, testDB(t))
	h.chain()
	failuresInARow := func() float64 {
		return metricValue(t, h.scrape(), "auto_deploy_relay_consecutive_failures", "organization="+testOrg)
	}
	h.behave("p/a", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": 1}}})
	h.fire("p/root", map[string]any{"v": 1})
	h.waitDone(1)
	assert.Zero(t, failuresInARow())
	m := h.scrape()
	assert.Equal(t, 32.0, metricValue(t, m, "auto_deploy_relay_cloud_request_limit", "kind=reads"))
	assert.Equal(t, 16.0, metricValue(t, m, "auto_deploy_relay_cloud_request_limit", "kind=writes"))

	// Every listing of a's webhooks fails: the walk below root's next change retries it, a failure
	// more each time, and nothing below root starts until it succeeds.
	emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusServiceUnavailable,
		Method: http.MethodGet, PathContains: "/p/a/hooks"}}})
	h.behave("p/a", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": 2}}})
	h.fire("p/root", map[string]any{"v": 2})
	require.Eventually(t, func() bool { return failuresInARow() >= 3 }, defaultWait, pollEvery,
		"the gauge counts the failures in a row")
	assert.Len(t, h.deployments("p/a"), 1)
	emu.SetFaults(emulator.Faults{})
	require.Eventually(t, func() bool { return failuresInARow() == 0 }, defaultWait, pollEvery,
		"a success ends the run of failures")
	h.waitDone(2)
	assert.Len(t, h.deployments("p/a"), 2)
	assert.Len(t, h.deployments("p/b"), 2)
}

func TestMetricsCountDiscardedJobs(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root"), testDB(t))
	discarded := func() float64 {
		return metricValue(t, h.scrape(), "auto_deploy_relay_jobs", "kind=relay_prune", "state=discarded")
	}
	assert.Zero(t, discarded())
	// The pruning at start completed; River discards a job whose last attempt failed, as here.
	require.Eventually(t, func() bool {
		res, err := h.r.db.ExecContext(t.Context(),
			`UPDATE river_job SET state = 'discarded' WHERE kind = 'relay_prune' AND state = 'completed'`)
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		return n == 1
	}, defaultWait, pollEvery)
	assert.Equal(t, 1.0, discarded())
}

// A leaf's listing that failed may succeed at a poll (which lists the leaves whose update it finds)
// rather than at a walk: that success, too, ends the stack's failures, and it deploys.
func TestALeafWhoseListingFailedDeploysOnceItSucceeds(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a")
	h := startRelay(t, emu, testDB(t))
	h.edge("p/root", "p/a")
	emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusServiceUnavailable,
		Method: http.MethodGet, PathContains: "/p/a/hooks", Limit: 4}}})
	h.fire("p/root", map[string]any{"v": 1})
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded}, states(c))
	assert.Len(t, h.deployments("p/a"), 1)
}
