package edge

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// graphOf builds a graph from "from>to" specs in project p, the edge always deploying when to ends
// with "!".
func graphOf(specs ...string) Graph {
	g := Graph{}
	for _, spec := range specs {
		from, to, _ := strings.Cut(spec, ">")
		always := strings.HasSuffix(to, "!")
		g.Add("p/"+from, "p/"+strings.TrimSuffix(to, "!"), always)
	}
	return g
}

// refs qualifies stack names with project p.
func refs(names ...string) []string {
	out := []string{}
	for _, n := range names {
		out = append(out, "p/"+n)
	}
	return out
}

func TestPlanCascade(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		graph     Graph
		estimates map[string]float64 // by stack name in project p
		waves     [][]string
		critical  []string
		seconds   float64
		skipped   []string
		defaults  []string // the stacks whose estimate is a default
	}{
		{name: "chain, no history: every estimate is the 60 s default",
			graph: graphOf("a>b", "b>c"), waves: [][]string{refs("b"), refs("c")},
			critical: refs("b", "c"), seconds: 120, skipped: refs("b", "c"), defaults: refs("b", "c")},
		{name: "diamond: the join waits for both parents, the longer parent starts first",
			graph: graphOf("a>b", "a>c", "b>d", "c>d"), estimates: map[string]float64{"b": 10, "c": 30, "d": 5},
			waves: [][]string{refs("c", "b"), refs("d")}, critical: refs("c", "d"), seconds: 35,
			skipped: refs("c", "b", "d")},
		{name: "a shortcut does not pull the join forward: its wave is its longest path",
			graph: graphOf("a>b", "b>c", "c>d", "a>d"), estimates: map[string]float64{"b": 1, "c": 1, "d": 1},
			waves: [][]string{refs("b"), refs("c"), refs("d")}, critical: refs("b", "c", "d"), seconds: 3,
			skipped: refs("b", "c", "d")},
		{name: "hub: its fan-out starts most work below first, then by name",
			graph:     graphOf("a>hub", "hub>x", "hub>y", "hub>z", "y>y2"),
			estimates: map[string]float64{"hub": 4, "x": 2, "y": 1, "z": 2, "y2": 3},
			waves:     [][]string{refs("hub"), refs("y", "x", "z"), refs("y2")}, critical: refs("hub", "y", "y2"),
			seconds: 8, skipped: refs("hub", "y", "x", "z", "y2")},
		{name: "equal priorities go by name", graph: graphOf("a>c", "a>b"),
			estimates: map[string]float64{"b": 5, "c": 5}, waves: [][]string{refs("b", "c")}, critical: refs("b"),
			seconds: 5, skipped: refs("b", "c")},
		{name: "alwaysDeploy from the changed stack: its branch deploys, and what it reaches",
			graph:     graphOf("a>b!", "a>c", "b>d", "c>d", "c>e"),
			estimates: map[string]float64{"b": 2, "c": 2, "d": 2, "e": 2},
			waves:     [][]string{refs("b", "c"), refs("d", "e")}, critical: refs("b", "d"), seconds: 4,
			skipped: refs("c", "e")},
		{name: "alwaysDeploy below a skipped stack does not deploy: its parent has no new version",
			graph: graphOf("a>b", "b>c!"), estimates: map[string]float64{"b": 1, "c": 1},
			waves: [][]string{refs("b"), refs("c")}, critical: refs("b", "c"), seconds: 2, skipped: refs("b", "c")},
		{name: "stacks not below the change are not in the plan, nor do their edges move a wave",
			graph: graphOf("a>b", "other>b", "other>x", "x>b"), estimates: map[string]float64{"b": 1},
			waves: [][]string{refs("b")}, critical: refs("b"), seconds: 1, skipped: refs("b")},
		{name: "a cycle elsewhere does not stop the plan", graph: graphOf("a>b", "x>y", "y>x"),
			estimates: map[string]float64{"b": 1}, waves: [][]string{refs("b")}, critical: refs("b"), seconds: 1,
			skipped: refs("b")},
		{name: "no edges: nothing deploys", graph: graphOf("x>y"), waves: [][]string{}, critical: []string{},
			skipped: []string{}},
		{name: "a stack without history gets the median of the others'",
			graph: graphOf("a>b", "a>c", "a>d", "a>e"), estimates: map[string]float64{"b": 10, "c": 20, "e": 40},
			waves: [][]string{refs("e", "c", "d", "b")}, critical: refs("e"), seconds: 40,
			skipped: refs("e", "c", "d", "b"), defaults: refs("d")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			estimates := map[string]float64{}
			for name, v := range c.estimates {
				estimates["p/"+name] = v
			}
			plan, err := PlanCascade(c.graph, "p/a", estimates)
			require.NoError(t, err)
			assert.Equal(t, "p/a", plan.Stack)
			assert.Equal(t, c.waves, plan.Waves, "waves")
			assert.Equal(t, c.critical, plan.CriticalPath, "critical path")
			assert.InDelta(t, c.seconds, plan.EstimatedSeconds, 1e-9, "estimated seconds")
			assert.Equal(t, c.skipped, plan.SkippedIfUnchanged, "skipped if unchanged")
			var inWaves, defaults []string
			for _, w := range plan.Waves {
				for _, s := range w {
					inWaves = append(inWaves, s)
					if plan.Estimates[s].Default {
						defaults = append(defaults, s)
					}
				}
			}
			assert.ElementsMatch(t, inWaves, slices.Collect(maps.Keys(plan.Estimates)), "an estimate per stack")
			assert.ElementsMatch(t, c.defaults, defaults, "default estimates")
		})
	}
}

func TestPlanCascadeDefaultEstimates(t *testing.T) {
	t.Parallel()
	plan, err := PlanCascade(graphOf("a>b", "a>c", "a>d"), "p/a",
		map[string]float64{"p/b": 10, "p/c": 20, "p/a": 1000, "p/elsewhere": 1000})
	require.NoError(t, err)
	// The median of the plan's stacks with a history (10 and 20), not of every estimate given.
	assert.Equal(t, map[string]Estimate{"p/b": {Seconds: 10}, "p/c": {Seconds: 20},
		"p/d": {Seconds: 15, Default: true}}, plan.Estimates)

	plan, err = PlanCascade(graphOf("a>b"), "p/a", nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]Estimate{"p/b": {Seconds: DefaultEstimateSeconds, Default: true}}, plan.Estimates)
}

func TestPlanCascadeRefusesACycle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		graph Graph
		want  string
	}{
		{"through the changed stack", graphOf("a>b", "b>a"), "p/a → p/b → p/a"},
		{"below it", graphOf("a>b", "b>c", "c>d", "d>b"), "p/b → p/c → p/d → p/b"},
		{"a stack deploying itself", graphOf("a>b", "b>b"), "p/b → p/b"},
		{"two cycles", graphOf("a>b", "a>x", "b>c", "c>b", "x>y", "y>x"), "p/b → p/c → p/b; p/x → p/y → p/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := PlanCascade(c.graph, "p/a", nil)
			var cycle *CycleError
			require.True(t, errors.As(err, &cycle), "%v", err)
			assert.Equal(t, "the relay edges below p/a form a cycle, so the relay deploys nothing on or below it; "+
				"remove one of its edges: "+c.want, err.Error())
		})
	}
}

func TestCycles(t *testing.T) {
	t.Parallel()
	// One path per strongly connected part, from its first stack by name, the shortest way back.
	g := graphOf("a>b", "b>c", "c>a", "b>a", "x>x", "m>n")
	assert.Equal(t, [][]string{refs("a", "b", "a"), refs("x", "x")}, Cycles(g))
	assert.Empty(t, Cycles(graphOf("a>b", "a>c", "b>d", "c>d")))
}

func TestPriorities(t *testing.T) {
	t.Parallel()
	g := graphOf("a>b", "b>c", "a>d", "d>x", "x>y", "y>x", "d>e")
	est := map[string]float64{"p/a": 1, "p/b": 2, "p/c": 3, "p/d": 1, "p/e": -5, "p/x": 100, "p/y": 100}
	assert.Equal(t, map[string]float64{
		"p/a": 6, "p/b": 5, "p/c": 3,
		// Edges into a cycle count for nothing; a stack on one keeps its own estimate; a negative
		// estimate counts 0.
		"p/d": 1, "p/x": 100, "p/y": 100, "p/e": 0,
	}, Priorities(g, est))
}

func TestMedian(t *testing.T) {
	t.Parallel()
	assert.Zero(t, Median(nil))
	assert.Equal(t, 3.0, Median([]float64{5, 3, 1}))
	assert.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
}
