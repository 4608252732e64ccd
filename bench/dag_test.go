//go:build e2e

package bench

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// TestLayeredDAG: every stack below layer 0 reads the two hubs and three other distinct
// stacks of the three layers above it; layer 0 reads nothing; the same call gives the same graph.
func TestLayeredDAG(t *testing.T) {
	t.Parallel()
	const layers, width = 6, 10
	edges := e2e.LayeredDAG(layers, width)
	require.Equal(t, edges, e2e.LayeredDAG(layers, width), "deterministic")
	require.Len(t, e2e.DAGStacks(layers, width), layers*width)

	reads := map[string][]string{}
	for _, e := range edges {
		reads[e[1]] = append(reads[e[1]], e[0])
	}
	layerOf := map[string]int{}
	for layer := range layers {
		for i := range width {
			layerOf[e2e.DAGRef(layer, i)] = layer
		}
	}
	hubs := []string{e2e.DAGRef(0, 0), e2e.DAGRef(0, 1)}
	for layer := range layers {
		for i := range width {
			reader := e2e.DAGRef(layer, i)
			got := reads[reader]
			if layer == 0 {
				assert.Empty(t, got, "%s is in layer 0", reader)
				continue
			}
			require.Len(t, got, 5, "%s reads %v", reader, got)
			assert.Equal(t, hubs, got[:2], "%s reads the hubs first", reader)
			others := got[2:]
			assert.Len(t, slices.Compact(slices.Sorted(slices.Values(others))), 3, "%s reads %v", reader, others)
			for _, u := range others {
				assert.NotContains(t, hubs, u, "%s reads a hub twice", reader)
				assert.Contains(t, []int{layer - 1, layer - 2, layer - 3}, layerOf[u], "%s reads %s", reader, u)
			}
		}
	}
	// The fourth layer reads each of the three above it.
	var above []int
	for _, u := range reads[e2e.DAGRef(3, 4)][2:] {
		above = append(above, layerOf[u])
	}
	assert.Equal(t, []int{2, 1, 0}, above)
}

// TestTransitiveReduction: an edge goes when a longer path implies it, whatever the
// order; the others stay, in order.
func TestTransitiveReduction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		edges, want [][2]string
	}{
		{"chain and shortcut", [][2]string{{"a", "c"}, {"a", "b"}, {"b", "c"}}, [][2]string{{"a", "b"}, {"b", "c"}}},
		{"diamond and hub", [][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}, {"a", "d"}},
			[][2]string{{"a", "b"}, {"a", "c"}, {"b", "d"}, {"c", "d"}}},
		{"long path", [][2]string{{"a", "e"}, {"a", "b"}, {"b", "c"}, {"c", "d"}, {"d", "e"}, {"x", "e"}},
			[][2]string{{"a", "b"}, {"b", "c"}, {"c", "d"}, {"d", "e"}, {"x", "e"}}},
		{"implied by an edge listed later", [][2]string{{"a", "b"}, {"a", "c"}, {"c", "b"}, {"d", "b"}},
			[][2]string{{"a", "c"}, {"c", "b"}, {"d", "b"}}},
	} {
		assert.Equal(t, tc.want, e2e.TransitiveReduction(tc.edges), tc.name)
	}
	assert.PanicsWithValue(t, "TransitiveReduction: a is on a loop", func() {
		e2e.TransitiveReduction([][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}})
	})
}

// TestLayeredDAGReduction: the reduction of the layered DAG keeps what every stack reaches,
// keeps the hubs' edges to layer 1 only (every later stack reads a stack that reads the
// hubs), and is its own reduction.
func TestLayeredDAGReduction(t *testing.T) {
	t.Parallel()
	const layers, width = 6, 10
	edges := e2e.LayeredDAG(layers, width)
	reduced := e2e.TransitiveReduction(edges)
	assert.Equal(t, reduced, e2e.TransitiveReduction(reduced))
	assert.Equal(t, benchClosure(edges), benchClosure(reduced), "the same stacks reach the same stacks")
	for _, hub := range []string{e2e.DAGRef(0, 0), e2e.DAGRef(0, 1)} {
		var kept []string
		for _, e := range reduced {
			if e[0] == hub {
				kept = append(kept, e[1])
			}
		}
		var layer1 []string
		for i := range width {
			layer1 = append(layer1, e2e.DAGRef(1, i))
		}
		assert.Equal(t, layer1, kept, "%s keeps its edges to layer 1", hub)
	}
}

// benchClosure lists every pair from → to with a path between them.
func benchClosure(edges [][2]string) []string {
	next := map[string][]string{}
	for _, e := range edges {
		next[e[0]] = append(next[e[0]], e[1])
	}
	var out []string
	for from := range next {
		seen := map[string]bool{}
		stack := slices.Clone(next[from])
		for len(stack) > 0 {
			at := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !seen[at] {
				seen[at] = true
				out = append(out, fmt.Sprintf("%s → %s", from, at))
				stack = append(stack, next[at]...)
			}
		}
	}
	slices.Sort(out)
	return out
}
