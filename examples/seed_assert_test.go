//go:build e2e

package examples

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed programs exist in every language; these check what each must leave in the
// emulator, whatever language ran it.

// seedWebhookStacks creates the network, database and compute stacks the seed's webhook
// program points at, with deployment settings.
func seedWebhookStacks(t *testing.T, c *cloud) {
	t.Helper()
	for _, project := range []string{"network", "database", "compute"} {
		c.SeedDeployable(t, "org", project, "prod")
	}
}

// assertSeedWebhooks checks the two deployment webhooks network → database → compute.
func assertSeedWebhooks(t *testing.T, c *cloud) {
	t.Helper()
	hooks := hooksByDisplayName(t, c)
	require.Len(t, hooks, 2)
	for display, want := range map[string][2]string{
		"deploy-database": {"network", "database/prod"},
		"deploy-compute":  {"database", "compute/prod"},
	} {
		require.Contains(t, hooks, display)
		h := hooks[display]
		assert.Equal(t, "stack", h.Type, display)
		assert.Equal(t, "org", h.Org, display)
		assert.Equal(t, want[0]+"/prod", h.Project+"/"+h.Stack, display)
		assert.Equal(t, want[1], h.PayloadURL, display)
		assert.Equal(t, "pulumi_deployments", h.Format, display)
		assert.Equal(t, []string{"update_succeeded"}, h.Filters, display)
		assert.True(t, h.Active, display)
	}
	result, err := c.FireUpdate("org", "network", "prod")
	require.NoError(t, err)
	assert.Equal(t, []string{"database/prod", "compute/prod"}, deployedStacks(result))
	assert.Empty(t, result.FailedDeliveries)
}

// seedGraphStacks creates stacks a to f of dependency-example in org, with settings.
func seedGraphStacks(t *testing.T, c *cloud, org string) {
	t.Helper()
	c.SeedDeployable(t, org, graphProject, "a", "b", "c", "d", "e", "f")
}

// assertSeedGraph checks the five edges of the a–f graph and that an update of a
// redeploys b, c, d, e and f once each.
func assertSeedGraph(t *testing.T, c *cloud, org string) {
	t.Helper()
	created := edges(c)
	assert.Len(t, created, 2, "webhooks only on a and b: %v", created)
	assert.ElementsMatch(t, []string{graphProject + "/b", graphProject + "/c"}, created["a"])
	assert.ElementsMatch(t, []string{graphProject + "/d", graphProject + "/e", graphProject + "/f"}, created["b"])
	for _, h := range withoutMarks(c.Webhooks()) {
		assert.Equal(t, org, h.Org, "%+v", h)
		assert.Equal(t, graphProject, h.Project, "%+v", h)
		assert.Equal(t, "pulumi_deployments", h.Format, "%+v", h)
		assert.Equal(t, []string{"update_succeeded"}, h.Filters, "%+v", h)
		assert.True(t, h.Active, "%+v", h)
	}
	result, err := c.FireUpdate(org, graphProject, "a")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"b", "c", "d", "e", "f"}, stackNames(deployedStacks(result)))
	assert.Empty(t, result.FailedDeliveries)
	assert.False(t, result.Truncated)
}

// assertNoOpUp runs up, which must change nothing: no write reaches Pulumi Cloud, every
// resource is "same", and the webhooks are as they were.
func assertNoOpUp(t *testing.T, c *cloud, up func() (resourceChanges map[string]int)) {
	t.Helper()
	before := withoutMarks(c.Webhooks())
	c.ResetStats()
	changes := up()
	stats := c.Stats()
	assert.Zero(t, stats.Writes, "a no-op up wrote to Pulumi Cloud: %v", stats.ByRoute)
	for op := range changes {
		assert.Equal(t, "same", op, "a no-op up changed something: %v", changes)
	}
	assert.Equal(t, before, withoutMarks(c.Webhooks()))
}
