//go:build e2e

package examples

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const migrationDeployers = `name: migrate
runtime: yaml
resources:
  b:
    type: auto-deploy:AutoDeployer
    properties: {organization: org, project: own, stack: b, downstreamRefs: [own/d]}
  a:
    type: auto-deploy:AutoDeployer
    properties: {organization: org, project: own, stack: a, downstreamRefs: [own/b, own/c]}
`

const migrationGraph = `name: migrate
runtime: yaml
resources:
  graph:
    type: auto-deploy:DeploymentGraph
    properties:
      organization: org
      edges:
        own/a: [own/b, own/c]
        own/b: [own/d]
`

// TestMigrationInOneEdit: AutoDeployers replaced by one DeploymentGraph with the same
// edges in one edit and one `pulumi up`, and back. Preview says each edge passes to the new
// resource; the up creates and deletes no webhook (so no edge is missing or doubled at any
// point), only rewrites each one's recorded owner; an update deploys every stack once.
func TestMigrationInOneEdit(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c", "d")
	w := newProgramWorkspace(t, migrationDeployers, c)
	w.pulumi("up", "--yes")
	before := withoutMarks(c.Webhooks())
	require.Len(t, before, 3)

	move := func(program string, newOwner func(stack string) string) {
		t.Helper()
		w.shared().WriteProgram(program)
		out := w.pulumi("preview")
		assert.Contains(t, out, "the edge own/a → own/b passes from urn:pulumi:test::migrate::")
		assert.Contains(t, out, "no edge's webhook is deleted or created")
		c.ResetStats()
		out = w.pulumi("up", "--yes", "--skip-preview")
		stats := c.Stats()
		t.Logf("move: requests=%d %v", stats.Total, stats.ByRoute)
		assert.Equal(t, 3, stats.ByMethod[http.MethodPost], "no edge's webhook created: the new owner's marks: %v",
			stats.ByRoute)
		assert.Equal(t, 3, stats.ByMethod[http.MethodDelete], "no edge's webhook deleted: the old owner's marks: %v",
			stats.ByRoute)
		assert.Equal(t, 3, stats.ByMethod[http.MethodPatch], "one new owner per edge")
		assert.NotContains(t, out, "left the deployment webhook", "the old owner's delete says nothing")
		after := withoutMarks(c.Webhooks())
		require.Len(t, after, 3)
		for i := range after {
			assert.Equal(t, before[i].Name, after[i].Name, "the same webhook")
			assert.True(t, strings.HasSuffix(after[i].DisplayName, "::"+newOwner(after[i].Stack)+")"),
				after[i].DisplayName)
		}
		assertDeploysOnce(t, c, "a", "b", "c", "d")
		w.pulumi("up", "--yes", "--expect-no-changes")
	}
	move(migrationGraph, func(string) string { return "graph" })
	move(migrationDeployers, func(stack string) string { return stack }) // each AutoDeployer is named after its stack
	w.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}

// TestBothDeclaredIsRefused: a DeploymentGraph added while the AutoDeployers that own the
// same edges stay in the program is refused at preview, and nothing is written.
func TestBothDeclaredIsRefused(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c", "d")
	w := newProgramWorkspace(t, migrationDeployers, c)
	w.pulumi("up", "--yes")
	w.shared().WriteProgram(migrationDeployers + strings.Join(slices.Collect(func(yield func(string) bool) {
		for line := range strings.SplitSeq(migrationGraph, "\n") {
			if !strings.HasPrefix(line, "name:") && !strings.HasPrefix(line, "runtime:") &&
				!strings.HasPrefix(line, "resources:") && !yield(line) {
				return
			}
		}
	}), "\n"))
	c.ResetStats()
	out, err := w.run("preview")
	require.Error(t, err)
	assert.True(t, strings.Contains(out, "Both resources are in this program: declare the edge in one of them "+
		"only") || strings.Contains(out, "declares edges that another resource of this program declares too"), out)
	_, err = w.run("up", "--yes", "--skip-preview")
	require.Error(t, err)
	assert.Zero(t, c.Stats().ByMethod[http.MethodPost])
	assert.Len(t, withoutMarks(c.Webhooks()), 3)
	assertDeploysOnce(t, c, "a", "b", "c", "d")
}
