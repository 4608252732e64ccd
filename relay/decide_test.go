package relay

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// node builds a Node of generation 1.
func node(stack string, state State, parents ...string) Node {
	return Node{Stack: stack, Parents: parents, State: state, Generation: 1}
}

func TestPlanCascade(t *testing.T) {
	t.Parallel()
	const root = "p/root"
	tests := []struct {
		name     string
		nodes    []Node
		ready    []string
		upstream []Blocked
		done     bool
	}{
		{
			name:  "the root's children are ready at once",
			nodes: []Node{node("p/a", StateWaiting, root), node("p/b", StateWaiting, root)},
			ready: []string{"p/a", "p/b"},
		},
		{
			name: "a diamond's join waits until both parents finished",
			nodes: []Node{
				node("p/a", StateSucceeded, root), node("p/b", StateDeploying, root),
				node("p/join", StateWaiting, "p/a", "p/b"),
			},
		},
		{
			name: "the join is ready once both parents finished",
			nodes: []Node{
				node("p/a", StateSucceeded, root), node("p/b", StateSkippedUnchanged, root),
				node("p/join", StateWaiting, "p/a", "p/b"),
			},
			ready: []string{"p/join"},
		},
		{
			name: "a failure skips everything below it, its siblings go on",
			nodes: []Node{
				node("p/a", StateFailed, root), node("p/b", StateWaiting, root),
				node("p/a1", StateWaiting, "p/a"), node("p/a2", StateWaiting, "p/a1"),
				node("p/join", StateWaiting, "p/a2", "p/b"),
			},
			ready: []string{"p/b"},
			upstream: []Blocked{
				{Stack: "p/a1", Parent: "p/a"}, {Stack: "p/a2", Parent: "p/a1"}, {Stack: "p/join", Parent: "p/a2"},
			},
		},
		{
			name: "a failure blocks a join whose other parent still runs",
			nodes: []Node{
				node("p/a", StateFailed, root), node("p/b", StateDeploying, root),
				node("p/join", StateWaiting, "p/a", "p/b"),
			},
			upstream: []Blocked{{Stack: "p/join", Parent: "p/a"}},
		},
		{
			name: "a skip passes on: the child is judged on its parents",
			nodes: []Node{
				node("p/a", StateSkippedUnchanged, root), node("p/a1", StateWaiting, "p/a"),
			},
			ready: []string{"p/a1"},
		},
		{
			name: "done when every stack finished",
			nodes: []Node{
				node("p/a", StateSucceeded, root), node("p/b", StateFailed, root),
				node("p/c", StateSkippedUnchanged, "p/a"), node("p/d", StateSkippedUpstreamFailed, "p/b"),
			},
			done: true,
		},
		{name: "an empty cascade is done", done: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan := PlanCascade(root, tt.nodes)
			assert.Equal(t, tt.ready, plan.Ready, "ready")
			assert.Equal(t, tt.upstream, plan.UpstreamFailed, "upstream failed")
			assert.Equal(t, tt.done, plan.Done, "done")
		})
	}
}

// comparer records what Judge asked and answers from a table of changed parents.
type comparer struct {
	changed map[string]bool
	err     error
	asked   []string
}

func (c *comparer) fn(parent string, _, _ int) (bool, error) {
	c.asked = append(c.asked, parent)
	return c.changed[parent], c.err
}

func TestJudge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		lastFailed bool
		edges      []Edge
		changed    map[string]bool
		err        error
		deploy     bool
		reason     string
		asked      []string
	}{
		{
			name:  "nothing changed: skip",
			edges: []Edge{{Parent: "p/a", Recorded: 3, Current: 3}, {Parent: "p/b", Recorded: 4, Current: 6}},
			asked: []string{"p/b"}, reason: "no parent's outputs changed: p/a at version 3, p/b version 4 to 6",
		},
		{
			name:    "a parent's outputs changed: deploy",
			edges:   []Edge{{Parent: "p/a", Recorded: 1, Current: 2}, {Parent: "p/b", Recorded: 1, Current: 2}},
			changed: map[string]bool{"p/a": true}, deploy: true,
			asked: []string{"p/a"}, reason: "outputs of p/a changed (version 1 to 2)",
		},
		{
			name:   "a new edge always deploys, without comparing",
			edges:  []Edge{{Parent: "p/a", Recorded: 2, Current: 2}, {Parent: "p/b", Current: 5}},
			deploy: true, reason: "first deployment after the edge from p/b",
		},
		{
			name:       "a failed last deployment always deploys",
			lastFailed: true,
			edges:      []Edge{{Parent: "p/a", Recorded: 2, Current: 2}},
			deploy:     true, reason: "its last deployment failed",
		},
		{
			name:   "outputs that cannot be compared deploy",
			edges:  []Edge{{Parent: "p/a", Recorded: 1, Current: 2}},
			err:    errors.New("export gone"),
			deploy: true, asked: []string{"p/a"},
			reason: "outputs of p/a could not be compared (version 1 to 2), so it deploys: export gone",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &comparer{changed: tt.changed, err: tt.err}
			v := Judge(tt.lastFailed, tt.edges, c.fn)
			assert.Equal(t, tt.deploy, v.Deploy)
			assert.Equal(t, tt.reason, v.Reason)
			assert.Equal(t, tt.asked, c.asked)
		})
	}
}

func TestMergeAndAfterDeployment(t *testing.T) {
	t.Parallel()
	nodes := []Node{
		node("p/a", StateSucceeded, "p/root"), node("p/b", StateDeploying, "p/root"),
		node("p/c", StateWaiting, "p/a", "p/b"), node("p/d", StateFailed, "p/root"),
	}
	merged := Merge(nodes, 2)
	assert.Equal(t, []Node{
		{Stack: "p/a", Parents: []string{"p/root"}, State: StateWaiting, Generation: 2},
		{Stack: "p/b", Parents: []string{"p/root"}, State: StateDeploying, Generation: 1},
		{Stack: "p/c", Parents: []string{"p/a", "p/b"}, State: StateWaiting, Generation: 2},
		{Stack: "p/d", Parents: []string{"p/root"}, State: StateWaiting, Generation: 2},
	}, merged)
	assert.Equal(t, StateSucceeded, nodes[0].State, "Merge leaves its input alone")

	// The deployment of p/b started in generation 1 deploys once more in generation 2.
	assert.Equal(t, StateWaiting, AfterDeployment(1, 2, true))
	assert.Equal(t, StateWaiting, AfterDeployment(1, 2, false))
	assert.Equal(t, StateSucceeded, AfterDeployment(2, 2, true))
	assert.Equal(t, StateFailed, AfterDeployment(2, 2, false))

	// In generation 2, a stack waits for its parents' generation-2 runs: p/c is not ready
	// while p/b still deploys, although p/a is ready.
	plan := PlanCascade("p/root", merged)
	assert.Equal(t, []string{"p/a", "p/d"}, plan.Ready)
}

func TestFindCycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		children map[string][]string
		cycle    []string
	}{
		{name: "a diamond has none", children: map[string][]string{
			"r": {"a", "b"}, "a": {"j"}, "b": {"j"},
		}},
		{name: "back to the root", children: map[string][]string{
			"r": {"a"}, "a": {"b"}, "b": {"r"},
		}, cycle: []string{"r", "a", "b", "r"}},
		{name: "below the root", children: map[string][]string{
			"r": {"a", "x"}, "x": {"y"}, "y": {"x"},
		}, cycle: []string{"x", "y", "x"}},
		{name: "a self edge", children: map[string][]string{"r": {"r"}}, cycle: []string{"r", "r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.cycle, FindCycle("r", tt.children))
		})
	}
}

func TestOutputsEqualComparesSecretsByValue(t *testing.T) {
	t.Parallel()
	decode := func(s string) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	a := map[string]any{"url": "x", "key": Secret{Ciphertext: "c1"}}
	b := map[string]any{"url": "x", "key": Secret{Ciphertext: "c2"}}
	c := map[string]any{"url": "x", "key": Secret{Ciphertext: "c3"}}
	plain := map[string]string{"c1": `"hunter2"`, "c2": `"hunter2"`, "c3": `"hunter3"`}
	reveal := func(m map[string]any) map[string]any {
		out, err := revealSecrets(m, plain)
		require.NoError(t, err)
		return out.(map[string]any)
	}
	assert.True(t, OutputsEqual(reveal(a), reveal(b)), "two encryptions of one value are equal")
	assert.False(t, OutputsEqual(reveal(a), reveal(c)), "a new secret value is a change")
	assert.False(t, OutputsEqual(reveal(a), decode(`{"url":"x","key":"hunter2"}`)),
		"a secret turning plain is a change")
	assert.True(t, OutputsEqual(decode(`{"n":[1,{"a":true}]}`), decode(`{"n":[1,{"a":true}]}`)))
	assert.False(t, OutputsEqual(decode(`{"n":[1]}`), decode(`{"n":[2]}`)))

	_, err := revealSecrets(map[string]any{"k": Secret{Ciphertext: "missing"}}, plain)
	require.EqualError(t, err, "the service returned no plaintext for a secret output")
}
