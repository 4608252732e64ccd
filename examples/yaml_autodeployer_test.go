//go:build e2e

package examples

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const graphProject = "dependency-example"

// TestYAMLAutoDeployerGraph runs the seed's a–f program and counts what each phase asks
// of Pulumi Cloud: writes must equal the edges that changed.
func TestYAMLAutoDeployerGraph(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	seedGraphStacks(t, c, "pulumi")
	w := newWorkspace(t, "yaml/auto-deployer", c)

	phase := func(name string, args ...string) (total, writes int, byRoute map[string]int) {
		t.Helper()
		c.ResetStats()
		w.pulumi(args...)
		s := c.Stats()
		t.Logf("%-16s requests=%d writes=%d %v", name, s.Total, s.Writes, s.ByRoute)
		return s.Total, s.Writes, s.ByRoute
	}
	const hooksRoute = "/api/stacks/{org}/{project}/{stack}/hooks"

	// Create: exactly the 5 edges, 2 on a and 3 on b, each marked on its target, written
	// pending, then put in place.
	_, writes, routes := phase("create", "up", "--yes")
	assert.Equal(t, 3*5, writes)
	assert.Equal(t, 2*5, routes["POST "+hooksRoute])
	assertSeedGraph(t, c, "pulumi")

	// No-op: no request at all, let alone a write.
	total, writes, _ := phase("no-op", "up", "--yes", "--expect-no-changes")
	assert.Zero(t, writes)
	assert.Zero(t, total)

	// Removing one ref is one DELETE, one of its mark, and nothing else.
	w.edit("        - ${f.ref}\n", "")
	_, writes, routes = phase("remove-one-ref", "up", "--yes", "--skip-preview")
	assert.Equal(t, 2, writes)
	assert.Equal(t, 2, routes["DELETE "+hooksRoute+"/{name}"])
	assert.ElementsMatch(t, []string{graphProject + "/d", graphProject + "/e"}, edges(c)["b"])

	// Reordering refs changes nothing.
	w.edit("        - ${b.ref}\n        - ${c.ref}\n", "        - ${c.ref}\n        - ${b.ref}\n")
	_, writes, _ = phase("reorder-refs", "up", "--yes", "--expect-no-changes")
	assert.Zero(t, writes)

	// Deleted behind Pulumi's back: refresh notices with one list per stack of the graph (the
	// AutoDeployers' stacks, and those below them, which the check for loops in Pulumi Cloud
	// walks) and one list of the organization's stacks, to warn about edges to deleted stacks;
	// up restores it.
	hookOnA := withoutMarks(c.Webhooks())[0]
	require.Equal(t, "a", hookOnA.Stack)
	c.api(t, http.MethodDelete, hookOnA.Scope.Path()+"/"+hookOnA.Name, nil, http.StatusNoContent)
	refreshed := time.Now()
	total, writes, routes = phase("refresh", "refresh", "--yes", "--skip-preview")
	assert.Zero(t, writes)
	assertListedOnce(t, c, refreshed)
	assert.LessOrEqual(t, routes["GET "+hooksRoute], 6, "at most one list per stack of the graph (a to f)")
	assert.Equal(t, 1, routes["GET /api/user/stacks"], "one list of the organization's stacks")
	assert.Equal(t, routes["GET "+hooksRoute]+1, total)
	_, writes, routes = phase("restore", "up", "--yes", "--skip-preview")
	assert.Equal(t, 3, writes, "its mark (there still: a POST that finds it), pending, then in place")
	assert.Equal(t, 2, routes["POST "+hooksRoute])
	assert.Len(t, edges(c)["a"], 2)

	// Destroy removes the 4 webhooks left, their marks, and nothing else.
	_, writes, routes = phase("destroy", "destroy", "--yes", "--skip-preview")
	assert.Equal(t, 2*4, writes)
	assert.Equal(t, 2*4, routes["DELETE "+hooksRoute+"/{name}"])
	assert.Empty(t, c.Webhooks())
}

// edges maps each stack to the targets of its webhooks.
func edges(c *cloud) map[string][]string {
	out := map[string][]string{}
	for _, h := range withoutMarks(c.Webhooks()) {
		out[h.Stack] = append(out[h.Stack], h.PayloadURL)
	}
	return out
}

func stackNames(refs []string) []string {
	names := make([]string, len(refs))
	for i, ref := range refs {
		names[i] = ref[len(graphProject)+1:]
	}
	return names
}
