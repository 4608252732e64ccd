package provider

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The shape of a deployment graph: which edges longer paths imply, how many paths lead
// from an upstream to each stack (each is one deployment per update), and loops. Graphs
// are maps from an upstream stack ref to its downstream refs.
//
// Real graphs are DAGs with hubs (network, identity, DNS read by hundreds of stacks) and
// diamonds everywhere, so nothing here searches the graph once per edge or per pair of
// parents. A shape numbers the stacks in topological order and keeps, per stack, the set
// of stacks below it as a bitset: reduction is then one pass of unions over the edges,
// O(V·E/64), and path counts one pass per stack without upstreams over what it reaches.

// shape is a graph indexed for analysis. Stacks are numbered in topological order
// (upstreams first, ties by name), so iterating a bitset visits stacks in that order.
type shape struct {
	names    []string
	index    map[string]int
	children [][]int // sorted by name, so messages name the same path on every run
	parents  [][]int
	acyclic  bool
	below    []bitset // the stacks each stack reaches, itself excluded; built on first use
}

func newShape(graph map[string][]string) *shape {
	var all []string
	seen := map[string]bool{}
	add := func(ref string) {
		if !seen[ref] {
			seen[ref] = true
			all = append(all, ref)
		}
	}
	for u, ds := range graph {
		add(u)
		for _, d := range ds {
			add(d)
		}
	}
	slices.Sort(all)
	byName := make(map[string]int, len(all))
	for i, ref := range all {
		byName[ref] = i
	}
	kids := make([][]int, len(all))
	indegree := make([]int, len(all))
	for u, ds := range graph {
		i := byName[u]
		for _, d := range ds {
			kids[i] = append(kids[i], byName[d])
		}
	}
	for i := range kids {
		slices.Sort(kids[i])
		kids[i] = slices.Compact(kids[i])
		for _, j := range kids[i] {
			indegree[j]++
		}
	}
	// Kahn's algorithm, always taking the smallest name ready, so the numbering is stable.
	order := make([]int, 0, len(all))
	ready := &intHeap{}
	for i := range all {
		if indegree[i] == 0 {
			ready.push(i)
		}
	}
	for ready.len() > 0 {
		i := ready.pop()
		order = append(order, i)
		for _, j := range kids[i] {
			if indegree[j]--; indegree[j] == 0 {
				ready.push(j)
			}
		}
	}
	s := &shape{acyclic: len(order) == len(all)}
	if !s.acyclic {
		// Stacks on a loop have no topological place: keep the name order. Only loop
		// detection runs on such a shape.
		order = order[:0]
		for i := range all {
			order = append(order, i)
		}
	}
	position := make([]int, len(all))
	for pos, i := range order {
		position[i] = pos
	}
	s.names = make([]string, len(all))
	s.index = make(map[string]int, len(all))
	s.children = make([][]int, len(all))
	s.parents = make([][]int, len(all))
	for pos, i := range order {
		s.names[pos] = all[i]
		s.index[all[i]] = pos
		for _, j := range kids[i] {
			s.children[pos] = append(s.children[pos], position[j])
			s.parents[position[j]] = append(s.parents[position[j]], pos)
		}
	}
	byNameOrder := func(a, b int) int { return cmp.Compare(s.names[a], s.names[b]) }
	for i := range s.names {
		slices.SortFunc(s.children[i], byNameOrder)
		slices.SortFunc(s.parents[i], byNameOrder)
	}
	return s
}

// descendants returns, per stack, the set of stacks it reaches. Only for acyclic shapes.
func (s *shape) descendants() []bitset {
	if s.below != nil {
		return s.below
	}
	s.below = make([]bitset, len(s.names))
	for i := len(s.names) - 1; i >= 0; i-- {
		set := newBitset(len(s.names))
		for _, c := range s.children[i] {
			set.add(c)
			set.union(s.below[c])
		}
		s.below[i] = set
	}
	return s.below
}

// redundantEdge is an edge u → d that a longer path u → … → d already implies: with both,
// an update of u deploys d twice, the first time before its other upstreams are done.
type redundantEdge struct {
	upstream, downstream string
	path                 []string // the longer path, from upstream to downstream
}

// transitiveReduction returns graph without its redundant edges, and those edges, so each
// downstream deploys once per upstream change, after its last upstream. A graph with a
// loop is returned as it is: the loop check refuses it with its path.
func transitiveReduction(graph map[string][]string) (map[string][]string, []redundantEdge) {
	return newShape(graph).reduce(graph)
}

func (s *shape) reduce(graph map[string][]string) (map[string][]string, []redundantEdge) {
	reduced := make(map[string][]string, len(graph))
	if !s.acyclic {
		for u, ds := range graph {
			reduced[u] = append([]string{}, slices.Sorted(slices.Values(ds))...)
		}
		return reduced, nil
	}
	below := s.descendants()
	implied := newBitset(len(s.names)) // the stacks a child of u reaches
	var dropped [][2]int
	kept := make([][]int, len(s.names)) // upstreams in the reduced graph, by name
	for _, u := range slices.Sorted(maps.Keys(graph)) {
		i := s.index[u]
		implied.clear()
		for _, c := range s.children[i] {
			implied.union(below[c])
		}
		reduced[u] = []string{}
		for _, d := range s.children[i] {
			if implied.has(d) {
				dropped = append(dropped, [2]int{i, d})
				continue
			}
			reduced[u] = append(reduced[u], s.names[d])
			kept[d] = append(kept[d], i)
		}
	}
	for d := range kept {
		slices.SortFunc(kept[d], func(a, b int) int { return cmp.Compare(s.names[a], s.names[b]) })
	}
	redundant := make([]redundantEdge, len(dropped))
	for k, x := range dropped {
		redundant[k] = redundantEdge{s.names[x[0]], s.names[x[1]], s.pathNames(s.witness(x[0], x[1], kept))}
	}
	return reduced, redundant
}

// witness returns the path from u to d that deploys d once the edge u → d is left out:
// walking up from d along the edges kept, the first upstream (by name) below u each time.
func (s *shape) witness(u, d int, kept [][]int) []int {
	below := s.descendants()[u]
	path := []int{d}
	for at := d; at != u; {
		next := -1
		for _, p := range kept[at] {
			if p == u {
				next = p
				break
			}
			if next < 0 && below.has(p) {
				next = p
			}
		}
		path = append(path, next)
		at = next
	}
	slices.Reverse(path)
	return path
}

func (s *shape) pathNames(path []int) []string {
	out := make([]string, len(path))
	for i, n := range path {
		out[i] = s.names[n]
	}
	return out
}

// join is a stack where paths from one update meet: two of its upstreams are below the
// same stack. Each path deploys it once; paths counts them from the upstream that has the
// most (the stacks below a join are deployed as often, and are not joins themselves
// unless paths meet there too).
type join struct {
	stack, upstream string
	paths           uint64 // saturates at maxPathCount
	examples        [2][]string
}

// maxPathCount caps path counts, which grow exponentially with a DAG's depth.
const maxPathCount = uint64(1_000_000_000_000_000_000)

func (j join) times() string {
	switch {
	case j.paths >= maxPathCount:
		return "more than 10^18 times"
	case j.paths == 2:
		return "twice"
	default:
		return fmt.Sprintf("%d times", j.paths)
	}
}

// joins returns every join, most paths first, with two example paths for the first limit
// of them. A stack above another has at least as many paths to what is below, so only
// stacks without upstreams are counted from: one pass each over what it reaches.
func (s *shape) joins(limit int) []join {
	if !s.acyclic {
		return nil
	}
	below := s.descendants()
	best := make([]uint64, len(s.names))
	from := make([]int, len(s.names))
	count := make([]uint64, len(s.names))
	meets := make([]bool, len(s.names))
	for src := range s.names {
		if len(s.parents[src]) > 0 {
			continue
		}
		s.countPaths(src, below[src], count, meets)
		for v := range below[src].members() {
			if count[v] > best[v] || (count[v] == best[v] && count[v] > 1 && s.names[src] < s.names[from[v]]) {
				best[v], from[v] = count[v], src
			}
		}
	}
	var out []join
	for v, n := range best {
		if meets[v] {
			out = append(out, join{stack: s.names[v], upstream: s.names[from[v]], paths: n})
		}
	}
	slices.SortFunc(out, func(a, b join) int {
		return cmp.Or(cmp.Compare(b.paths, a.paths), cmp.Compare(a.stack, b.stack))
	})
	for i := range out[:min(limit, len(out))] {
		src, v := s.index[out[i].upstream], s.index[out[i].stack]
		s.countPaths(src, below[src], count, nil)
		out[i].examples = [2][]string{s.pathNames(s.backtrack(src, v, count, 0)),
			s.pathNames(s.backtrack(src, v, count, 1))}
	}
	return out
}

// countPaths sets count[v] to the number of paths from src to each v it reaches, and
// meets[v] where two of them arrive through different upstreams.
func (s *shape) countPaths(src int, reached bitset, count []uint64, meets []bool) {
	count[src] = 1
	for v := range reached.members() {
		var n uint64
		arriving := 0
		for _, p := range s.parents[v] {
			if p == src || reached.has(p) {
				n = min(n+count[p], maxPathCount)
				arriving++
			}
		}
		count[v] = n
		if arriving > 1 && meets != nil {
			meets[v] = true
		}
	}
}

// backtrack walks from v up to src along parents with paths from src. The first path
// takes the first such parent everywhere; the other takes the second one at the first
// stack (from v up) that has two, so the two paths differ.
func (s *shape) backtrack(src, v int, count []uint64, which int) []int {
	reached := s.descendants()[src]
	path := []int{v}
	for at := v; at != src; {
		var options []int
		for _, p := range s.parents[at] {
			if p == src || reached.has(p) && count[p] > 0 {
				options = append(options, p)
			}
		}
		next := options[0]
		if which == 1 && len(options) > 1 {
			next, which = options[1], 0
		}
		path = append(path, next)
		at = next
	}
	slices.Reverse(path)
	return path
}

// reaches reports whether to is below from.
func (s *shape) reaches(from, to string) bool {
	i, ok := s.index[from]
	j, ok2 := s.index[to]
	if !ok || !ok2 || !s.acyclic {
		return false
	}
	return s.descendants()[i].has(j)
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

// pathBetween is shortestPath over a graph in memory.
func pathBetween(graph map[string][]string, from []string, target string) []string {
	path, _ := shortestPath(from, target, func(ref string) ([]string, error) { return graph[ref], nil })
	return path
}

func arrowPath(path []string) string { return strings.Join(path, " → ") }
