package provider

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransitiveReduction(t *testing.T) {
	t.Parallel()
	// net → db → app and net → app: the direct edge is implied by the longer path.
	graph := map[string][]string{"p/net": {"p/app", "p/db"}, "p/db": {"p/app"}, "p/app": {}}
	reduced, dropped := transitiveReduction(graph)
	assert.Equal(t, map[string][]string{"p/net": {"p/db"}, "p/db": {"p/app"}, "p/app": {}}, reduced)
	assert.Equal(t, []redundantEdge{{"p/net", "p/app", []string{"p/net", "p/db", "p/app"}}}, dropped)

	// A longer chain: a → b → c → d with a → d and b → d.
	graph = map[string][]string{"p/a": {"p/b", "p/d"}, "p/b": {"p/c", "p/d"}, "p/c": {"p/d"}}
	reduced, dropped = transitiveReduction(graph)
	assert.Equal(t, map[string][]string{"p/a": {"p/b"}, "p/b": {"p/c"}, "p/c": {"p/d"}}, reduced)
	assert.Equal(t, []redundantEdge{
		{"p/a", "p/d", []string{"p/a", "p/b", "p/c", "p/d"}},
		{"p/b", "p/d", []string{"p/b", "p/c", "p/d"}},
	}, dropped, "each witness is the path that deploys d once both edges are left out")

	// A tree has nothing to reduce.
	tree := map[string][]string{"p/a": {"p/b", "p/c"}, "p/b": {"p/d"}}
	reduced, dropped = transitiveReduction(tree)
	assert.Equal(t, map[string][]string{"p/a": {"p/b", "p/c"}, "p/b": {"p/d"}}, reduced)
	assert.Empty(t, dropped)

	// A loop is left for the loop check, which names it.
	loop := map[string][]string{"p/a": {"p/b"}, "p/b": {"p/a", "p/c"}, "p/c": {}}
	reduced, dropped = transitiveReduction(loop)
	assert.Equal(t, map[string][]string{"p/a": {"p/b"}, "p/b": {"p/a", "p/c"}, "p/c": {}}, reduced)
	assert.Empty(t, dropped)
	assert.Empty(t, newShape(loop).joins(5))
}

// TestReductionOfAHubDAG: every stack reads the hub and a stack of the layer above, so
// its edge from the hub is implied, except in the first layer below the hub.
func TestReductionOfAHubDAG(t *testing.T) {
	t.Parallel()
	graph := map[string][]string{
		"p/hub": {"p/a1", "p/a2", "p/b1", "p/b2", "p/c1"},
		"p/a1":  {"p/b1"}, "p/a2": {"p/b1", "p/b2"},
		"p/b1": {"p/c1"}, "p/b2": {"p/c1"},
	}
	reduced, dropped := transitiveReduction(graph)
	assert.Equal(t, []string{"p/a1", "p/a2"}, reduced["p/hub"])
	var implied []string
	for _, r := range dropped {
		implied = append(implied, r.upstream+" → "+r.downstream+" via "+arrowPath(r.path))
	}
	assert.Equal(t, []string{
		"p/hub → p/b1 via p/hub → p/a1 → p/b1",
		"p/hub → p/b2 via p/hub → p/a2 → p/b2",
		"p/hub → p/c1 via p/hub → p/a1 → p/b1 → p/c1",
	}, implied)
}

func TestJoins(t *testing.T) {
	t.Parallel()
	// u → b → d and u → c → d: neither path implies the other.
	diamond := map[string][]string{"p/u": {"p/b", "p/c"}, "p/b": {"p/d"}, "p/c": {"p/d"}}
	assert.Equal(t, []join{{stack: "p/d", upstream: "p/u", paths: 2,
		examples: [2][]string{{"p/u", "p/b", "p/d"}, {"p/u", "p/c", "p/d"}}}}, newShape(diamond).joins(5))

	// Counted from the stack with no upstream above the diamond: it deploys d twice too.
	graph := map[string][]string{"p/r": {"p/u"}, "p/u": {"p/b", "p/c"}, "p/b": {"p/d"}, "p/c": {"p/d"}}
	got := newShape(graph).joins(5)
	require.Len(t, got, 1)
	assert.Equal(t, "p/r", got[0].upstream)
	assert.Equal(t, [2][]string{{"p/r", "p/u", "p/b", "p/d"}, {"p/r", "p/u", "p/c", "p/d"}}, got[0].examples)

	// Two unrelated upstreams of one stack are no join: no update reaches it twice.
	assert.Empty(t, newShape(map[string][]string{"p/a": {"p/d"}, "p/b": {"p/d"}}).joins(5))

	// Diamonds in a row multiply: 2 × 3 × 5 = 30 paths from s into z.
	chain := map[string][]string{}
	layers := [][]string{{"p/s"}, {"p/a1", "p/a2"}, {"p/m"}, {"p/b1", "p/b2", "p/b3"}, {"p/n"},
		{"p/c1", "p/c2", "p/c3", "p/c4", "p/c5"}, {"p/z"}}
	for i := 0; i+1 < len(layers); i++ {
		for _, u := range layers[i] {
			chain[u] = append(chain[u], layers[i+1]...)
		}
	}
	joins := newShape(chain).joins(1)
	require.Len(t, joins, 3)
	assert.Equal(t, join{stack: "p/z", upstream: "p/s", paths: 30, examples: [2][]string{
		{"p/s", "p/a1", "p/m", "p/b1", "p/n", "p/c1", "p/z"},
		{"p/s", "p/a1", "p/m", "p/b1", "p/n", "p/c2", "p/z"},
	}}, joins[0])
	assert.Equal(t, "30 times", joins[0].times())
	assert.Equal(t, []uint64{6, 2}, []uint64{joins[1].paths, joins[2].paths}, "n from s: 2 × 3; m: 2")
	assert.Nil(t, joins[1].examples[0], "examples only for the first limit joins")

	// Counts saturate instead of overflowing: 70 stacked diamonds are 2^70 paths.
	deep := map[string][]string{}
	prev := "p/j0"
	for i := range 70 {
		l, r, next := fmt.Sprintf("p/l%d", i), fmt.Sprintf("p/r%d", i), fmt.Sprintf("p/j%d", i+1)
		deep[prev] = []string{l, r}
		deep[l], deep[r] = []string{next}, []string{next}
		prev = next
	}
	top := newShape(deep).joins(1)[0]
	assert.Equal(t, "more than 10^18 times", top.times())
}

// TestShapeAgainstBruteForce checks reduction, reachability and path counts on random
// DAGs against the definitions, searched edge by edge and path by path.
func TestShapeAgainstBruteForce(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 2 + rng.IntN(14)
		graph := map[string][]string{}
		for i := range n {
			for j := i + 1; j < n; j++ {
				if rng.IntN(3) == 0 {
					u, d := fmt.Sprintf("p/s%02d", i), fmt.Sprintf("p/s%02d", j)
					graph[u] = append(graph[u], d)
				}
			}
		}
		s := newShape(graph)
		reduced, dropped := s.reduce(graph)
		for u, ds := range graph {
			for _, d := range ds {
				others := slices.DeleteFunc(slices.Clone(ds), func(x string) bool { return x == d })
				redundant := pathBetween(graph, others, d) != nil
				assert.Equal(t, !redundant, slices.Contains(reduced[u], d), "seed %d: %s → %s", seed, u, d)
			}
		}
		for _, r := range dropped {
			for i := 0; i+1 < len(r.path); i++ {
				assert.Contains(t, graph[r.path[i]], r.path[i+1], "seed %d: witness %v is a path", seed, r.path)
			}
			assert.Greater(t, len(r.path), 2)
			for i := 0; i+1 < len(r.path); i++ {
				assert.Contains(t, reduced[r.path[i]], r.path[i+1], "seed %d: witness %v is kept", seed, r.path)
			}
		}
		paths := bruteForcePaths(graph)
		parents := map[string][]string{}
		for u, ds := range graph {
			for _, d := range ds {
				parents[d] = append(parents[d], u)
			}
		}
		var want []string
		for d, bySource := range paths {
			most, meets := uint64(0), false
			for source, n := range bySource {
				most = max(most, n)
				below := reachableBrute(graph, source)
				arriving := 0
				for _, p := range parents[d] {
					if p == source || below[p] {
						arriving++
					}
				}
				meets = meets || arriving > 1
			}
			if meets {
				want = append(want, fmt.Sprintf("%s:%d", d, most))
			}
		}
		var got []string
		for _, j := range s.joins(len(graph) + n) {
			got = append(got, fmt.Sprintf("%s:%d", j.stack, j.paths))
			assert.Equal(t, j.paths, paths[j.stack][j.upstream], "seed %d: counted from the upstream named", seed)
			assert.NotEqual(t, j.examples[0], j.examples[1], "seed %d: two different paths", seed)
			for _, path := range j.examples {
				assert.Equal(t, []string{j.upstream, j.stack}, []string{path[0], path[len(path)-1]})
			}
		}
		assert.ElementsMatch(t, want, got, "seed %d", seed)
		for u := range graph {
			below := reachableBrute(graph, u)
			for v := range graph {
				assert.Equal(t, below[v], s.reaches(u, v), "seed %d: %s reaches %s", seed, u, v)
			}
		}
	}
}

// bruteForcePaths counts, for every stack, the paths into it from every other, by walking them.
func bruteForcePaths(graph map[string][]string) map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	var walk func(source, at string)
	walk = func(source, at string) {
		for _, d := range graph[at] {
			if out[d] == nil {
				out[d] = map[string]uint64{}
			}
			out[d][source]++
			walk(source, d)
		}
	}
	for _, u := range slices.Sorted(maps.Keys(graph)) {
		walk(u, u)
	}
	return out
}

func reachableBrute(graph map[string][]string, from string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(at string) {
		for _, d := range graph[at] {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(from)
	return seen
}

// layeredDAG is the shape of BENCHMARKS.md's DAG: layers of width stacks, each reading
// three stacks of the three layers above it and the two hubs of the first layer.
func layeredDAG(layers, width int) map[string][]string {
	name := func(layer, i int) string { return fmt.Sprintf("dag/l%02d-s%03d", layer, i) }
	graph := map[string][]string{}
	for layer := 1; layer < layers; layer++ {
		for i := range width {
			reader := name(layer, i)
			upstreams := []string{name(0, 0), name(0, 1)}
			for k := range 3 {
				above := layer - 1 - k%min(3, layer)
				upstreams = append(upstreams, name(above, (i*7+k*13)%width))
			}
			for _, u := range slices.Compact(slices.Sorted(slices.Values(upstreams))) {
				if !slices.Contains(graph[u], reader) {
					graph[u] = append(graph[u], reader)
				}
			}
		}
	}
	return graph
}

func BenchmarkGraphShape(b *testing.B) {
	for _, size := range []struct{ layers, width int }{{20, 100}, {50, 200}} {
		graph := layeredDAG(size.layers, size.width)
		edges := 0
		for _, ds := range graph {
			edges += len(ds)
		}
		b.Run(fmt.Sprintf("layered-%d-stacks-%d-edges", size.layers*size.width, edges), func(b *testing.B) {
			for b.Loop() {
				reduced, _ := newShape(graph).reduce(graph)
				newShape(reduced).joins(maxShapeLines)
			}
		})
	}
}
