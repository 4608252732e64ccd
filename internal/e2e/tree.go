//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tree of stacks the large tests and the benchmarks use: stacks s0..s{n-1} of project
// "tree" in organization "org", where stack i redeploys stacks fanout*i+1 .. fanout*i+fanout.

// TreeChildren lists the stacks stack i of an n-stack tree redeploys.
func TreeChildren(i, n, fanout int) []int {
	var children []int
	for child := fanout*i + 1; child <= fanout*i+fanout && child < n; child++ {
		children = append(children, child)
	}
	return children
}

// TreeEdges lists the tree's n-1 edges parent → child, parents in order.
func TreeEdges(n, fanout int) [][2]int {
	var out [][2]int
	for i := range n {
		for _, child := range TreeChildren(i, n, fanout) {
			out = append(out, [2]int{i, child})
		}
	}
	return out
}

// TreeProgram returns a YAML program of n AutoDeployers, one per stack of the tree, and
// seeds c with those stacks and their deployment settings. It has n-1 edges.
func TreeProgram(t testing.TB, c *Cloud, n, fanout int) string {
	t.Helper()
	var stacks []string
	var b strings.Builder
	b.WriteString("name: tree\nruntime: yaml\nresources:\n")
	for i := range n {
		stacks = append(stacks, fmt.Sprintf("s%d", i))
		fmt.Fprintf(&b, "  s%d:\n    type: auto-deploy:AutoDeployer\n    properties:\n"+
			"      organization: org\n      project: tree\n      stack: s%d\n      downstreamRefs:", i, i)
		children := TreeChildren(i, n, fanout)
		if len(children) == 0 {
			b.WriteString(" []\n")
			continue
		}
		b.WriteString("\n")
		for _, child := range children {
			fmt.Fprintf(&b, "        - ${s%d.ref}\n", child)
		}
	}
	c.SeedDeployable(t, "org", "tree", stacks...)
	return b.String()
}

// AssertTree checks that c holds exactly the tree's edges, each once and marked on its target.
func AssertTree(t testing.TB, c *Cloud, n, fanout int) {
	t.Helper()
	want := map[string]bool{}
	for _, e := range TreeEdges(n, fanout) {
		want[fmt.Sprintf("s%d → tree/s%d", e[0], e[1])] = true
	}
	got, refs := map[string]bool{}, map[string]bool{}
	for _, h := range EdgeWebhooks(c) {
		edge := h.Stack + " → " + h.PayloadURL
		require.False(t, got[edge], "duplicated webhook %s", edge)
		got[edge] = true
		refs[h.Project+"/"+edge] = true
	}
	require.Equal(t, want, got)
	requireMarked(t, c, refs)
}
