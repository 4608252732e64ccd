package edge

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// This file answers "if stack X changes, what would the relay deploy, in what order, and for how
// long?" from the relay graph alone, with the relay's own rules (relay/schedule.go): a stack below X
// starts only when nothing above it among the stacks X's change reaches is still due or deploying, so
// with equal durations it starts in wave k, the length of the longest path from X to it; within a
// wave, the stack with the most estimated work below it (its own included) starts first, then by name.
// It is the one place those rules are written for a plan, so the relay route, the command and the
// provider function answer alike.

// Graph is a relay graph as the webhooks say: for each stack ("project/stack") with relay edges that
// deliver, the stacks those edges deploy, each with whether its edge always deploys (alwaysDeploy).
type Graph map[string]map[string]bool

// Add records the edge from → to, always deploying when always is set on any webhook making it.
func (g Graph) Add(from, to string, always bool) {
	if g[from] == nil {
		g[from] = map[string]bool{}
	}
	g[from][to] = g[from][to] || always
}

// kids are the stacks s's edges deploy, by name.
func (g Graph) kids(s string) []string { return slices.Sorted(maps.Keys(g[s])) }

// stacks are every stack of g, sources and targets, by name.
func (g Graph) stacks() []string {
	set := map[string]bool{}
	for s, kids := range g {
		set[s] = true
		for k := range kids {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// DefaultEstimateSeconds is the estimate of a stack when no stack of the plan has a deployment history.
const DefaultEstimateSeconds = 60

// Estimate is how long a stack's deployment is expected to take.
type Estimate struct {
	Seconds float64 `json:"seconds"`
	// Default is set when the stack has no deployment history: Seconds is then the median of the
	// other stacks' estimates, or DefaultEstimateSeconds when none has one.
	Default bool `json:"default"`
}

// Plan is what a change of one stack would deploy through the relay.
type Plan struct {
	// Stack is the stack that changes, "project/stack".
	Stack string `json:"stack"`
	// Waves are the stacks that may deploy, in the order the relay would start them: wave k holds the
	// stacks whose longest path from Stack has k edges, each wave highest priority first.
	Waves [][]string `json:"waves"`
	// CriticalPath is the chain of stacks below Stack, from one of its children down, with the most
	// estimated work; EstimatedSeconds is that work: how long the change takes to settle when nothing
	// limits how many stacks deploy at once.
	CriticalPath     []string `json:"criticalPath"`
	EstimatedSeconds float64  `json:"estimatedSeconds"`
	// SkippedIfUnchanged are the stacks of Waves that would not deploy if Stack's outputs stayed the
	// same: those reached only through edges that deploy on changed outputs, not through an
	// alwaysDeploy edge from Stack or a stack that deploys. In wave order.
	SkippedIfUnchanged []string `json:"skippedIfUnchanged"`
	// Estimates are the estimates the plan used, for each stack of Waves.
	Estimates map[string]Estimate `json:"estimates"`
}

// CycleError is a plan refused because the edges below the changed stack form a cycle: the relay
// deploys nothing on or below one.
type CycleError struct {
	Stack string
	// Cycles are paths that close on their first stack.
	Cycles [][]string
}

func (e *CycleError) Error() string {
	var paths []string
	for _, c := range e.Cycles {
		paths = append(paths, strings.Join(c, " → "))
	}
	return fmt.Sprintf("the relay edges below %s form a cycle, so the relay deploys nothing on or below it; "+
		"remove one of its edges: %s", e.Stack, strings.Join(paths, "; "))
}

// PlanCascade plans a change of stack changed over the graph g. estimates holds each stack's
// estimated deployment time in seconds; a stack below changed missing from it gets a default (see
// Estimate). A cycle reachable from changed is a *CycleError.
func PlanCascade(g Graph, changed string, estimates map[string]float64) (Plan, error) {
	// below is the part of g that changed's change reaches: every edge out of a stack below it.
	below := Graph{}
	seen := map[string]bool{changed: true}
	for queue := []string{changed}; len(queue) > 0; queue = queue[1:] {
		s := queue[0]
		below[s] = map[string]bool{}
		for _, k := range g.kids(s) {
			below[s][k] = g[s][k]
			if !seen[k] {
				seen[k] = true
				queue = append(queue, k)
			}
		}
	}
	if cycles := Cycles(below); len(cycles) > 0 {
		return Plan{}, &CycleError{Stack: changed, Cycles: cycles}
	}
	affected := slices.DeleteFunc(below.stacks(), func(s string) bool { return s == changed })

	plan := Plan{Stack: changed, Waves: [][]string{}, CriticalPath: []string{}, SkippedIfUnchanged: []string{},
		Estimates: estimatesFor(affected, estimates)}
	seconds := map[string]float64{}
	for s, e := range plan.Estimates {
		seconds[s] = e.Seconds
	}
	priority := Priorities(below, seconds)

	parents := map[string][]string{}
	for _, s := range below.stacks() {
		for _, k := range below.kids(s) {
			parents[k] = append(parents[k], s)
		}
	}
	wave := map[string]int{changed: 0}
	var waveOf func(s string) int
	waveOf = func(s string) int {
		if w, ok := wave[s]; ok {
			return w
		}
		for _, p := range parents[s] {
			wave[s] = max(wave[s], waveOf(p)+1)
		}
		return wave[s]
	}
	for _, s := range affected {
		w := waveOf(s)
		for len(plan.Waves) < w {
			plan.Waves = append(plan.Waves, nil)
		}
		plan.Waves[w-1] = append(plan.Waves[w-1], s)
	}
	byPriority := func(a, b string) int { return cmp.Or(cmp.Compare(priority[b], priority[a]), strings.Compare(a, b)) }
	for _, w := range plan.Waves {
		slices.SortFunc(w, byPriority)
	}

	for at := changed; len(below[at]) > 0; {
		at = slices.MinFunc(below.kids(at), byPriority)
		plan.CriticalPath = append(plan.CriticalPath, at)
	}
	if len(plan.CriticalPath) > 0 {
		plan.EstimatedSeconds = priority[plan.CriticalPath[0]]
	}

	// With changed's outputs the same, its children are due only through alwaysDeploy edges; below
	// them a stack deploys when any parent does, as a deployment is taken to change its outputs.
	// Waves are a topological order, so every parent is judged before its children.
	deploys := map[string]bool{}
	for _, w := range plan.Waves {
		for _, s := range w {
			for _, p := range parents[s] {
				deploys[s] = deploys[s] || (p == changed && below[p][s]) || deploys[p]
			}
			if !deploys[s] {
				plan.SkippedIfUnchanged = append(plan.SkippedIfUnchanged, s)
			}
		}
	}
	return plan, nil
}

// estimatesFor gives each stack its estimate from known, or the default for one missing there.
func estimatesFor(stacks []string, known map[string]float64) map[string]Estimate {
	var have []float64
	for _, s := range stacks {
		if v, ok := known[s]; ok {
			have = append(have, v)
		}
	}
	fallback := float64(DefaultEstimateSeconds)
	if len(have) > 0 {
		fallback = Median(have)
	}
	out := make(map[string]Estimate, len(stacks))
	for _, s := range stacks {
		if v, ok := known[s]; ok {
			out[s] = Estimate{Seconds: v}
		} else {
			out[s] = Estimate{Seconds: fallback, Default: true}
		}
	}
	return out
}

// Median is the middle of values (the mean of the two middle ones for an even count), 0 for none.
func Median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	v := slices.Sorted(slices.Values(values))
	mid := len(v) / 2
	if len(v)%2 == 1 {
		return v[mid]
	}
	return (v[mid-1] + v[mid]) / 2
}

// Priorities is, for every stack of g, the estimated work on the longest path from it down, its own
// estimate included: the order in which the relay starts stacks that are ready together, most work
// below first, so a long chain is not starved behind leaves. A stack missing from estimates, or with
// a negative one, counts 0. Edges into a stack on a cycle count for nothing, as nothing on a cycle
// deploys.
func Priorities(g Graph, estimates map[string]float64) map[string]float64 {
	onCycle := map[string]bool{}
	for _, comp := range cyclicComponents(g) {
		for _, s := range comp {
			onCycle[s] = true
		}
	}
	priority := map[string]float64{}
	var of func(s string) float64
	of = func(s string) float64 {
		if p, ok := priority[s]; ok {
			return p
		}
		below := 0.0
		for k := range g[s] {
			if !onCycle[k] {
				below = max(below, of(k))
			}
		}
		priority[s] = max(estimates[s], 0) + below
		return priority[s]
	}
	for _, s := range g.stacks() {
		of(s)
	}
	return priority
}

// Cycles are the cycles of g, one per strongly connected part that has one, each as the shortest
// path from the part's first stack by name back to it, ordered by that stack.
func Cycles(g Graph) [][]string {
	var cycles [][]string
	for _, comp := range cyclicComponents(g) {
		cycles = append(cycles, closingPath(g, comp))
	}
	slices.SortFunc(cycles, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return cycles
}

// cyclicComponents are g's strongly connected parts that hold a cycle: two stacks or more, or one with
// an edge to itself (Tarjan's algorithm).
func cyclicComponents(g Graph) [][]string {
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var comps [][]string
	var visit func(s string)
	visit = func(s string) {
		n := len(index)
		index[s], low[s] = n, n
		stack = append(stack, s)
		onStack[s] = true
		for _, k := range g.kids(s) {
			if _, seen := index[k]; !seen {
				visit(k)
				low[s] = min(low[s], low[k])
			} else if onStack[k] {
				low[s] = min(low[s], index[k])
			}
		}
		if low[s] != index[s] {
			return
		}
		var comp []string
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[top] = false
			comp = append(comp, top)
			if top == s {
				break
			}
		}
		if _, self := g[s][s]; len(comp) > 1 || self {
			comps = append(comps, comp)
		}
	}
	for _, s := range g.stacks() {
		if _, seen := index[s]; !seen {
			visit(s)
		}
	}
	return comps
}

// closingPath is the shortest path from comp's first stack by name back to it, inside comp.
func closingPath(g Graph, comp []string) []string {
	start := slices.Min(comp)
	prev := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, k := range g.kids(s) {
			if !slices.Contains(comp, k) {
				continue
			}
			if k == start {
				path := []string{start}
				for at := s; at != start; at = prev[at] {
					path = append(path, at)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if _, seen := prev[k]; !seen {
				prev[k] = s
				queue = append(queue, k)
			}
		}
	}
	panic("edge: a cyclic component without a cycle through its first stack")
}
