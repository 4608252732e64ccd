//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// The layered DAG of stacks the benchmarks use beside the tree: stacks l{layer}-s{index} of
// project "dag" in organization "org", layers of width stacks each. The first two stacks
// of layer 0 are the hubs (a network, an account) every other stack reads; every stack of
// layer L ≥ 1 also reads 3 distinct stacks of layers L-1 .. L-3 (those that exist), so the
// graph is a fan-in DAG whose paths meet everywhere, as real graphs are.

// DAGProject is the project of the layered DAG's stacks.
const DAGProject = "dag"

// DAGStack is the name of stack index of layer, without its project.
func DAGStack(layer, index int) string { return fmt.Sprintf("l%02d-s%03d", layer, index) }

// DAGRef is DAGStack as project/stack, the form edges, webhooks and references use.
func DAGRef(layer, index int) string { return DAGProject + "/" + DAGStack(layer, index) }

// DAGStacks lists the DAG's stack names, layer by layer.
func DAGStacks(layers, width int) []string {
	var out []string
	for layer := range layers {
		for i := range width {
			out = append(out, DAGStack(layer, i))
		}
	}
	return out
}

// LayeredDAG lists the DAG's edges upstream → reader as project/stack refs, readers in
// order and, for each, the hubs first. Every reader of layer L ≥ 1 reads the two hubs
// and three other stacks, each drawn from a layer above it in turn (L-1, L-2, L-3, or
// only those that exist), at an index that steps through the layer, moving on to the
// next index when that stack is a hub or already read. width must be at least 5.
func LayeredDAG(layers, width int) [][2]string {
	if width < 5 {
		panic(fmt.Sprintf("LayeredDAG: width %d leaves fewer than 3 stacks besides the hubs in layer 0", width))
	}
	hubs := []string{DAGRef(0, 0), DAGRef(0, 1)}
	var out [][2]string
	for layer := 1; layer < layers; layer++ {
		for i := range width {
			reader := DAGRef(layer, i)
			reads := slices.Clone(hubs)
			for k := range 3 {
				above := layer - 1 - k%min(3, layer)
				index := (i*7 + k*13) % width
				for slices.Contains(reads, DAGRef(above, index)) {
					index = (index + 1) % width
				}
				reads = append(reads, DAGRef(above, index))
			}
			for _, upstream := range reads {
				out = append(out, [2]string{upstream, reader})
			}
		}
	}
	return out
}

// TransitiveReduction returns the edges of a DAG that no longer path implies, in their
// order: u → v goes when v is reachable from another stack u redeploys. It is the plain
// definition, worked out from scratch for every stack, for checking a faster one against;
// a graph with a loop has no unique reduction and is refused by panicking.
func TransitiveReduction(edges [][2]string) [][2]string {
	next := map[string][]string{}
	for _, e := range edges {
		next[e[0]] = append(next[e[0]], e[1])
	}
	below := map[string]map[string]bool{} // each stack's descendants, itself not included
	descendants := func(from string) map[string]bool {
		if seen, ok := below[from]; ok {
			return seen
		}
		seen := map[string]bool{}
		queue := slices.Clone(next[from])
		for len(queue) > 0 {
			at := queue[0]
			queue = queue[1:]
			if at == from {
				panic(fmt.Sprintf("TransitiveReduction: %s is on a loop", from))
			}
			if !seen[at] {
				seen[at] = true
				queue = append(queue, next[at]...)
			}
		}
		below[from] = seen
		return seen
	}
	for _, e := range edges {
		descendants(e[0]) // a loop through any stack panics here
	}
	var out [][2]string
	for _, e := range edges {
		implied := false
		for _, other := range next[e[0]] {
			if other != e[1] && descendants(other)[e[1]] {
				implied = true
				break
			}
		}
		if !implied {
			out = append(out, e)
		}
	}
	return out
}

// AssertWebhookEdges checks that c holds one webhook for each edge upstream → downstream
// (project/stack refs), each once and marked on its target, and no other.
func AssertWebhookEdges(t testing.TB, c *Cloud, edges [][2]string) {
	t.Helper()
	want := map[string]bool{}
	for _, e := range edges {
		want[e[0]+" → "+e[1]] = true
	}
	require.Len(t, want, len(edges), "the expected edges repeat an edge")
	got := map[string]bool{}
	for _, h := range EdgeWebhooks(c) {
		edge := h.Project + "/" + h.Stack + " → " + h.PayloadURL
		require.False(t, got[edge], "duplicated webhook %s", edge)
		got[edge] = true
	}
	var missing, extra []string
	for e := range want {
		if !got[e] {
			missing = append(missing, e)
		}
	}
	for e := range got {
		if !want[e] {
			extra = append(extra, e)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	require.True(t, len(missing) == 0 && len(extra) == 0, "webhooks: %d missing %v, %d not expected %v",
		len(missing), firstFew(missing), len(extra), firstFew(extra))
	requireMarked(t, c, got)
}

// firstFew is the first few of a long list, enough to see what went wrong.
func firstFew(s []string) []string { return s[:min(len(s), 10)] }
