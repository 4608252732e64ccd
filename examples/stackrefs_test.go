//go:build e2e

package examples

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// refCloud is an emulator with deployable stacks org/{project}/{names}.
func refCloud(t *testing.T, project string, names ...string) *cloud {
	t.Helper()
	c := startCloud(t)
	for _, name := range names {
		require.NoError(t, c.CreateStack("org", project, name))
		require.NoError(t, c.SetDeploymentSettings("org", project, name, map[string]any{"source": "git"}))
	}
	return c
}

// reads records that reader's program holds a StackReference to upstream (both project/stack).
func reads(t *testing.T, c *cloud, reader, upstream string) {
	t.Helper()
	r, u := stackKeyOf(reader), stackKeyOf(upstream)
	require.NoError(t, c.AddStackReference("org", r[0], r[1], u[0], u[1]))
}

func stackKeyOf(ref string) [2]string {
	for i := range len(ref) {
		if ref[i] == '/' {
			return [2]string{ref[:i], ref[i+1:]}
		}
	}
	return [2]string{ref, ""}
}

// deploysOf counts the succeeded deployments of each stack.
func deploysOf(c *cloud) map[string]int {
	out := map[string]int{}
	for _, d := range c.Deployments() {
		if d.Status == emulator.StatusSucceeded {
			out[d.Project+"/"+d.Stack]++
		}
	}
	return out
}

const refProgram = `name: refs
runtime: yaml
resources:
  graph:
    type: auto-deploy:DeploymentGraph
    properties:
      organization: org
      fromStackReferences:
        projects: [ref]
`

// TestReferenceDerivedGraph wires the edges the stacks' StackReferences imply: an update
// of the root deploys every transitive reader exactly once, a new reference is wired and a
// removed one unwired by the next up, and stacks outside the selection are left alone.
func TestReferenceDerivedGraph(t *testing.T) {
	t.Parallel()
	c := refCloud(t, "ref", "net", "db", "app", "cache", "web")
	require.NoError(t, c.CreateStack("org", "other", "x"))
	require.NoError(t, c.CreateStack("org", "other", "lib"))
	reads(t, c, "ref/db", "ref/net")
	reads(t, c, "ref/app", "ref/db")
	reads(t, c, "ref/app", "ref/net") // implied by net → db → app: left out
	reads(t, c, "ref/cache", "ref/net")
	reads(t, c, "other/x", "ref/net")   // outside the selection: no edge
	reads(t, c, "ref/app", "other/lib") // a selected stack reading one outside it: a warning

	w := newProgramWorkspace(t, refProgram, c)
	out := w.pulumi("preview")
	assert.Contains(t, out, "edge ref/net → ref/app left out: ref/net → ref/db → ref/app already deploys ref/app")
	assert.Contains(t, out, "ref/app reads other/lib through a StackReference, but no edge redeploys ref/app "+
		"when other/lib changes")
	w.pulumi("up", "--yes")
	assert.ElementsMatch(t, []string{"net → ref/db", "net → ref/cache", "db → ref/app"}, keys(edgeOwners(c)))

	result, err := c.FireUpdate("org", "ref", "net")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ref/db", "ref/cache", "ref/app"}, deployedStacks(result),
		"every transitive reader once, and nothing outside the selection")

	// A new reference shows in the next preview and is wired by the next up: one POST of its
	// mark on its target, one of the webhook pending, one PATCH putting it in place once checked.
	reads(t, c, "ref/web", "ref/app")
	out = w.pulumi("preview", "--diff")
	assert.Contains(t, out, `+ effectiveEdges: ref/app → ref/web`)
	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview")
	assert.Equal(t, 3, c.Stats().Writes)
	assert.Contains(t, keys(edgeOwners(c)), "app → ref/web")

	// A removed reference is unwired: one DELETE, and one of its mark.
	require.NoError(t, c.RemoveStackReference("org", "ref", "cache", "ref", "net"))
	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview")
	assert.Equal(t, 2, c.Stats().Writes)
	assert.ElementsMatch(t, []string{"net → ref/db", "db → ref/app", "app → ref/web"}, keys(edgeOwners(c)))

	// Nothing changed: nothing written.
	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview", "--expect-no-changes")
	assert.Zero(t, c.Stats().Writes)
	w.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}

// TestDiamondDeploysItsJoin: u → b → d and u → c → d cannot be reduced. Preview warns with
// both paths; the emulator, running deployments one at a time per stack, deploys d twice
// per update of u, or once when d's settings skip intermediate deployments.
func TestDiamondDeploysItsJoin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		skip       bool
		wantJoin   int
		wantInWarn string
	}{
		{"without skipIntermediateDeployments", false, 2, "do not skip intermediate deployments"},
		{"with skipIntermediateDeployments", true, 1, "skip intermediate deployments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := refCloud(t, "ref", "u", "b", "c", "d")
			require.NoError(t, c.SetDeploymentSettings("org", "ref", "d", map[string]any{"source": "git",
				"operationContext": map[string]any{"options": map[string]any{"skipIntermediateDeployments": tc.skip}}}))
			reads(t, c, "ref/b", "ref/u")
			reads(t, c, "ref/c", "ref/u")
			reads(t, c, "ref/d", "ref/b")
			reads(t, c, "ref/d", "ref/c")
			w := newProgramWorkspace(t, refProgram, c)
			out := w.pulumi("preview")
			assert.Contains(t, out, "ref/d is deployed twice after each update of ref/u, once per path: "+
				"ref/u → ref/b → ref/d and ref/u → ref/c → ref/d")
			assert.Contains(t, out, tc.wantInWarn)
			w.pulumi("up", "--yes")

			c.SetManualDeployments(true)
			_, err := c.FireUpdate("org", "ref", "u")
			require.NoError(t, err)
			c.RunDeployments()
			counts := deploysOf(c)
			t.Logf("deployments: %v", counts)
			assert.Equal(t, 1, counts["ref/b"])
			assert.Equal(t, 1, counts["ref/c"])
			assert.Equal(t, tc.wantJoin, counts["ref/d"], "deployments of the join")
		})
	}
}

// TestDeclaredWithoutReference: an AutoDeployer edge to a stack whose program does not read
// the source warns at preview, and still works.
func TestDeclaredWithoutReference(t *testing.T) {
	t.Parallel()
	c := refCloud(t, "own", "a", "b", "c")
	reads(t, c, "own/b", "own/a")
	w := newProgramWorkspace(t, deployersProgram("declared", deployer{name: "a", stack: "a",
		refs: []string{"own/b", "own/c"}}), c)
	out := w.pulumi("preview")
	assert.Contains(t, out, "edge own/a → own/c: own/c's program holds no StackReference to own/a")
	assert.NotContains(t, out, "edge own/a → own/b: own/b's program holds no StackReference")
	w.pulumi("up", "--yes")
	assertDeploysOnce(t, c, "a", "b", "c")
}

// TestAutoDeployerRedundantEdge: a → c beside a → b → c deploys c twice; AutoDeployer warns
// at preview, through the graph it reads for the cycle check, whichever edge comes second.
func TestAutoDeployerRedundantEdge(t *testing.T) {
	t.Parallel()
	c := refCloud(t, "own", "a", "b", "c")
	w := newProgramWorkspace(t, `name: redundant
runtime: yaml
resources:
  c:
    type: auto-deploy:AutoDeployer
    properties: {organization: org, project: own, stack: c, downstreamRefs: []}
  b:
    type: auto-deploy:AutoDeployer
    properties: {organization: org, project: own, stack: b, downstreamRefs: ["${c.ref}"]}
  a:
    type: auto-deploy:AutoDeployer
    properties: {organization: org, project: own, stack: a, downstreamRefs: ["${b.ref}", "${c.ref}"]}
`, c)
	out := w.pulumi("preview")
	assert.Contains(t, out, "own/a → own/c is implied by the longer path own/a → own/b → own/c: own/c deploys "+
		"twice after each update of own/a")
	w.pulumi("up", "--yes")
	result, err := c.FireUpdate("org", "own", "a")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"own/b", "own/c", "own/c"}, deployedStacks(result),
		"as warned: c twice")
}

// TestReferenceRecordedAtTheEndOfARunningUpdate: lastUpdate is when an update started, and
// the update records what its program reads when it ends. An up that reads stack b while
// b's update runs (and writes, for c's new reference, so it records what it read) marks b
// as read while updating; when b's update ends with a new reference to a, the next preview
// names the edge and the next up wires it, though b's lastUpdate has not moved since.
func TestReferenceRecordedAtTheEndOfARunningUpdate(t *testing.T) {
	t.Parallel()
	c := refCloud(t, "ref", "a", "b", "c")
	w := newProgramWorkspace(t, refProgram, c)
	w.pulumi("up", "--yes", "--skip-preview")

	running, err := c.StartUpdate("org", "ref", "b", emulator.Update{Duration: time.Hour, Reads: []string{"ref/a"}})
	require.NoError(t, err)
	reads(t, c, "ref/c", "ref/a")
	// The read must fall in a later second than b's lastUpdate, else it is read again anyway.
	for time.Now().Unix() <= running.Update.Started.Unix() {
		time.Sleep(50 * time.Millisecond)
	}
	w.pulumi("up", "--yes", "--skip-preview")
	assert.ElementsMatch(t, []string{"a → ref/c"}, keys(edgeOwners(c)), "b's update has recorded nothing yet")
	state := w.pulumi("stack", "export")
	assert.Contains(t, state, `"updating": true`, "b was read while it updated")

	_, err = c.FinishUpdate(running.Update.ID)
	require.NoError(t, err)
	assert.Contains(t, w.pulumi("preview", "--diff"), "+ effectiveEdges: ref/a → ref/b")
	w.pulumi("up", "--yes", "--skip-preview")
	assert.ElementsMatch(t, []string{"a → ref/c", "a → ref/b"}, keys(edgeOwners(c)))
}
