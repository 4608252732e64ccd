package provider

import (
	"maps"
	"slices"
	"strings"
)

// The shape of a deployment graph: which edges are implied by longer paths, and where two
// paths that cannot be reduced meet. Graphs here are maps from an upstream stack ref to
// its downstream refs, without cycles (those are refused before anything is written).

// reachable returns every ref reachable from the refs in start, start included.
func reachable(graph map[string][]string, start []string) map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(start)
	for len(stack) > 0 {
		ref := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		stack = append(stack, graph[ref]...)
	}
	return seen
}

// redundantEdge is an edge u → d that a longer path u → … → d already implies: with both,
// an update of u deploys d twice, the first time before its other upstreams are done.
type redundantEdge struct {
	upstream, downstream string
	path                 []string // the longer path, from upstream to downstream
}

// transitiveReduction returns graph without its redundant edges, and those edges. Each
// downstream is then deployed once per upstream change, after its last upstream.
func transitiveReduction(graph map[string][]string) (map[string][]string, []redundantEdge) {
	reduced := map[string][]string{}
	var dropped []redundantEdge
	for _, u := range slices.Sorted(maps.Keys(graph)) {
		reduced[u] = []string{}
		children := slices.Sorted(slices.Values(graph[u]))
		for _, d := range children {
			others := slices.DeleteFunc(slices.Clone(children), func(c string) bool { return c == d })
			if path := pathBetween(graph, others, d); path != nil {
				dropped = append(dropped, redundantEdge{u, d, append([]string{u}, path...)})
				continue
			}
			reduced[u] = append(reduced[u], d)
		}
	}
	return reduced, dropped
}

// pathBetween finds a path from one of the refs in from to target, breadth-first so it is
// a shortest one, and returns it (from its first ref to target), or nil.
func pathBetween(graph map[string][]string, from []string, target string) []string {
	path, _ := shortestPath(from, target, func(ref string) ([]string, error) { return graph[ref], nil })
	return path
}

// shortestPath searches breadth-first from the refs in from for target, asking next for a
// ref's downstream refs (neighbours are visited in sorted order, so the path found is the
// same every time), and returns the path from its first ref to target, or nil.
func shortestPath(from []string, target string, next func(ref string) ([]string, error)) ([]string, error) {
	parent := map[string]string{}
	queue := []string{}
	for _, f := range from {
		if _, ok := parent[f]; !ok {
			parent[f] = ""
			queue = append(queue, f)
		}
	}
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if ref == target {
			var path []string
			for at := ref; at != ""; at = parent[at] {
				path = append(path, at)
			}
			slices.Reverse(path)
			return path, nil
		}
		refs, err := next(ref)
		if err != nil {
			return nil, err
		}
		for _, n := range slices.Sorted(slices.Values(refs)) {
			if _, ok := parent[n]; !ok {
				parent[n] = ref
				queue = append(queue, n)
			}
		}
	}
	return nil, nil
}

// diamond is a downstream stack reached from one upstream by two paths that cannot be
// reduced: an update of the upstream deploys it once per path.
type diamond struct {
	upstream, downstream string
	paths                [2][]string
}

// diamonds finds, for each stack with two or more upstreams in graph, a pair of them that
// share an ancestor, with the two paths from the nearest such ancestor.
func diamonds(graph map[string][]string) []diamond {
	parents := map[string][]string{}
	for u, ds := range graph {
		for _, d := range ds {
			parents[d] = append(parents[d], u)
		}
	}
	reverse := map[string][]string{}
	for d, ps := range parents {
		reverse[d] = slices.Sorted(slices.Values(ps))
	}
	var out []diamond
	for _, d := range slices.Sorted(maps.Keys(reverse)) {
		ps := reverse[d]
	pairs:
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				common := reachable(reverse, []string{ps[i]})
				shared := reachable(reverse, []string{ps[j]})
				var ancestors []string
				for a := range common {
					if shared[a] {
						ancestors = append(ancestors, a)
					}
				}
				if len(ancestors) == 0 {
					continue
				}
				// The nearest shared ancestor: one from which no other shared ancestor is reachable.
				slices.Sort(ancestors)
				nearest := ancestors[0]
				for _, a := range ancestors {
					below := reachable(graph, []string{a})
					if !slices.ContainsFunc(ancestors, func(b string) bool { return b != a && below[b] }) {
						nearest = a
						break
					}
				}
				first := append(pathBetween(graph, []string{nearest}, ps[i]), d)
				second := append(pathBetween(graph, []string{nearest}, ps[j]), d)
				out = append(out, diamond{nearest, d, [2][]string{first, second}})
				break pairs
			}
		}
	}
	return out
}

func arrowPath(path []string) string { return strings.Join(path, " → ") }
