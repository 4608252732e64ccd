//go:build e2e

package examples

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDAGPathCounts: diamonds in a row, s → {a1,a2} → m → {b1,b2,b3} → n → {c1..c5} → z,
// plus a hub edge s → z that the paths imply. Preview says how often one update of s
// deploys each join, with the real count, and leaves the hub edge out; the emulator,
// running deployments one at a time per stack, then deploys z exactly that often.
func TestDAGPathCounts(t *testing.T) {
	t.Parallel()
	layers := [][]string{{"s"}, {"a1", "a2"}, {"m"}, {"b1", "b2", "b3"}, {"n"},
		{"c1", "c2", "c3", "c4", "c5"}, {"z"}}
	var all []string
	var program strings.Builder
	program.WriteString("name: dag\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n" +
		"    properties:\n      organization: org\n      edges:\n")
	for i, layer := range layers {
		all = append(all, layer...)
		if i+1 == len(layers) {
			break
		}
		for _, u := range layer {
			fmt.Fprintf(&program, "        dag/%s:\n", u)
			for _, d := range layers[i+1] {
				fmt.Fprintf(&program, "          - dag/%s\n", d)
			}
			if u == "s" {
				program.WriteString("          - dag/z\n") // implied by every path below
			}
		}
	}
	c := refCloud(t, "dag", all...)
	w := newProgramWorkspace(t, program.String(), c)
	out := w.pulumi("preview")
	assert.Contains(t, out, "edge dag/s → dag/z left out: dag/s → dag/a1 → dag/m → dag/b1 → dag/n → dag/c1 → "+
		"dag/z already deploys dag/z")
	assert.Contains(t, out, "dag/z is deployed 30 times after each update of dag/s, once per path; two of its 30 "+
		"paths: dag/s → dag/a1 → dag/m → dag/b1 → dag/n → dag/c1 → dag/z and dag/s → dag/a1 → dag/m → dag/b1 → "+
		"dag/n → dag/c2 → dag/z")
	assert.Contains(t, out, "dag/n is deployed 6 times after each update of dag/s")
	assert.Contains(t, out, "dag/m is deployed twice after each update of dag/s")
	w.pulumi("up", "--yes", "--skip-preview")
	assert.Len(t, withoutMarks(c.Webhooks()), 2+2+3+3+5+5, "every edge but the implied one")

	c.SetManualDeployments(true)
	_, err := c.FireUpdate("org", "dag", "s")
	require.NoError(t, err)
	c.RunDeployments()
	counts := deploysOf(c)
	assert.Equal(t, map[string]int{"dag/a1": 1, "dag/a2": 1, "dag/m": 2, "dag/b1": 2, "dag/b2": 2, "dag/b3": 2,
		"dag/n": 6, "dag/c1": 6, "dag/c2": 6, "dag/c3": 6, "dag/c4": 6, "dag/c5": 6, "dag/z": 30}, counts,
		"as many deployments as preview said")

	// Nothing to say on a no-op: the shape was reported when the graph changed.
	out = w.pulumi("preview")
	assert.NotContains(t, out, "is deployed")
	assert.NotContains(t, out, "left out")
}

// afterThisSecond returns once the clock is in a later second than when it was called:
// Pulumi Cloud's lastUpdate has whole seconds, so a stack updated in the second its
// references are read is read again at the next run. Tests that count reads start after it.
func afterThisSecond(t *testing.T) {
	t.Helper()
	now := time.Now().Unix()
	require.Eventually(t, func() bool { return time.Now().Unix() > now }, 3*time.Second, 10*time.Millisecond)
}

// TestIncrementalDiscoveryThroughTheCLI: a graph derived from the references of 150
// stacks reads each stack's references when it is created; after that a preview or an up
// reads the stack list (two pages) and only the stacks updated since, and names the edge a
// new or removed reference brings.
func TestIncrementalDiscoveryThroughTheCLI(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("s%03d", i))
	}
	c := refCloud(t, "ref", names...)
	for i := 1; i < len(names); i++ {
		reads(t, c, "ref/"+names[i], "ref/"+names[(i-1)/2])
	}
	w := newProgramWorkspace(t, refProgram, c)
	afterThisSecond(t) // the references were recorded in a second before the first read
	w.pulumi("up", "--yes", "--skip-preview")
	require.Len(t, withoutMarks(c.Webhooks()), 149)
	const (
		list       = "GET /api/user/stacks"
		references = "GET /api/stacks/{org}/{project}/{stack}/upstreamreferences"
	)
	step := func(args ...string) (string, map[string]int) {
		t.Helper()
		c.ResetStats()
		out := w.pulumi(args...)
		stats := c.Stats()
		t.Logf("%s: %d requests %v", strings.Join(args, " "), stats.Total, stats.ByRoute)
		return out, stats.ByRoute
	}
	_, routes := step("preview")
	assert.Equal(t, map[string]int{list: 2}, routes, "nothing changed: the list's two pages")
	_, routes = step("up", "--yes", "--skip-preview", "--expect-no-changes")
	assert.Equal(t, map[string]int{list: 2}, routes)

	reads(t, c, "ref/s149", "ref/s010")
	out, routes := step("preview", "--diff")
	assert.Contains(t, out, "+ effectiveEdges: ref/s010 → ref/s149")
	assert.Equal(t, 2, routes[list])
	assert.Equal(t, 1, routes[references], "only the stack updated")
	_, routes = step("up", "--yes", "--skip-preview")
	assert.Equal(t, 1, routes[references])
	assert.Equal(t, 2, routes["POST "+hooksRoute], "the edge's mark and the edge")

	require.NoError(t, c.RemoveStackReference("org", "ref", "s149", "ref", "s010"))
	out, routes = step("preview", "--diff")
	assert.Contains(t, out, "- effectiveEdges: ref/s010 → ref/s149")
	assert.Equal(t, 1, routes[references])
	_, routes = step("up", "--yes", "--skip-preview")
	assert.Equal(t, 2, routes["DELETE "+hooksRoute+"/{name}"], "the edge and its mark")
	assert.Len(t, withoutMarks(c.Webhooks()), 149)
}
