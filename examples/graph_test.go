//go:build e2e

package examples

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// treeProgram returns a YAML program of n AutoDeployers on stacks s0..s{n-1} of project
// "tree" in organization "org", where stack i redeploys stacks fanout*i+1 .. fanout*i+fanout,
// and seeds c with those stacks and their deployment settings. It has n-1 edges.
func treeProgram(t *testing.T, c *cloud, n, fanout int) string {
	t.Helper()
	var seed emulator.SeedData
	var b strings.Builder
	b.WriteString("name: tree\nruntime: yaml\nresources:\n")
	for i := range n {
		seed.Stacks = append(seed.Stacks, emulator.SeedStack{Org: "org", Project: "tree",
			Stack: fmt.Sprintf("s%d", i), DeploymentSettings: true})
		fmt.Fprintf(&b, "  s%d:\n    type: auto-deploy:AutoDeployer\n    properties:\n"+
			"      organization: org\n      project: tree\n      stack: s%d\n      downstreamRefs:", i, i)
		var children []int
		for child := fanout*i + 1; child <= fanout*i+fanout && child < n; child++ {
			children = append(children, child)
		}
		if len(children) == 0 {
			b.WriteString(" []\n")
			continue
		}
		b.WriteString("\n")
		for _, child := range children {
			fmt.Fprintf(&b, "        - ${s%d.ref}\n", child)
		}
	}
	require.NoError(t, c.Seed(seed))
	return b.String()
}

// assertTree checks that c holds exactly the tree's edges, each once.
func assertTree(t *testing.T, c *cloud, n, fanout int) {
	t.Helper()
	want := map[string]bool{}
	for i := range n {
		for child := fanout*i + 1; child <= fanout*i+fanout && child < n; child++ {
			want[fmt.Sprintf("s%d → tree/s%d", i, child)] = true
		}
	}
	got := map[string]bool{}
	for _, h := range c.Webhooks() {
		edge := h.Stack + " → " + h.PayloadURL
		require.False(t, got[edge], "duplicated webhook %s", edge)
		got[edge] = true
	}
	require.Equal(t, want, got)
}
