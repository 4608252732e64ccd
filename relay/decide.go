package relay

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// This file holds every decision the relay makes about a cascade, as pure functions of the
// graph, the stacks' states, their versions and (through a comparison the caller supplies)
// their outputs. Storage and HTTP only gather those facts and record the answers.

// State is where one stack below a cascade's root stands.
type State string

// The states a stack goes through: waiting, then deploying, then one of the four finished ones;
// or straight from waiting to a skip.
const (
	StateWaiting               State = "waiting"
	StateDeploying             State = "deploying"
	StateSucceeded             State = "succeeded"
	StateFailed                State = "failed"
	StateSkippedUnchanged      State = "skipped-unchanged"
	StateSkippedUpstreamFailed State = "skipped-upstream-failed"
)

// Finished reports whether a stack in state s has nothing more to do in its generation.
func (s State) Finished() bool {
	switch s {
	case StateSucceeded, StateFailed, StateSkippedUnchanged, StateSkippedUpstreamFailed:
		return true
	}
	return false
}

// blocksBelow marks the states that keep everything below a stack from deploying.
func (s State) blocksBelow() bool { return s == StateFailed || s == StateSkippedUpstreamFailed }

// Node is one stack below a cascade's root. Stacks are named "project/stack" within the
// cascade's organization; Parents are the stacks with an edge to this one that the cascade
// reached, the root among them when it is a direct parent.
type Node struct {
	Stack   string
	Parents []string
	State   State
	// Generation is the cascade generation the state belongs to. A deployment started in an
	// older generation than the cascade's runs on, and its stack deploys once more after it.
	Generation int
}

// Plan is what a cascade can do now.
type Plan struct {
	// UpstreamFailed are the waiting stacks below a failure, each with the parent that
	// blocks it, in the order given.
	UpstreamFailed []Blocked
	// Ready are the waiting stacks whose parents have all finished without a failure: each
	// is now judged (Judge) to deploy or be skipped.
	Ready []string
	// Done is true when every stack has finished.
	Done bool
}

// Blocked is a stack that cannot deploy because of its parent Parent.
type Blocked struct {
	Stack, Parent string
}

// PlanCascade decides which stacks are ready, which are blocked by a failure above them and
// whether the cascade is done, given the root and the other stacks in a stable order. A
// failure blocks at once even while other parents are still running: nothing below a failed
// stack will deploy, so nothing is gained by waiting.
func PlanCascade(root string, nodes []Node) Plan {
	state := make(map[string]State, len(nodes)+1)
	state[root] = StateSucceeded
	for _, n := range nodes {
		state[n.Stack] = n.State
	}
	var plan Plan
	for changed := true; changed; {
		changed = false
		for _, n := range nodes {
			if state[n.Stack] != StateWaiting {
				continue
			}
			for _, p := range n.Parents {
				if state[p].blocksBelow() {
					state[n.Stack] = StateSkippedUpstreamFailed
					plan.UpstreamFailed = append(plan.UpstreamFailed, Blocked{Stack: n.Stack, Parent: p})
					changed = true
					break
				}
			}
		}
	}
	plan.Done = true
	for _, n := range nodes {
		st := state[n.Stack]
		if !st.Finished() {
			plan.Done = false
		}
		if st == StateWaiting && allFinished(n.Parents, state) {
			plan.Ready = append(plan.Ready, n.Stack)
		}
	}
	return plan
}

func allFinished(parents []string, state map[string]State) bool {
	for _, p := range parents {
		if !state[p].Finished() {
			return false
		}
	}
	return true
}

// Edge is what the relay knows of one parent of a ready stack.
type Edge struct {
	Parent string
	// Recorded is the parent's version the stack last deployed against, as the relay
	// recorded it; 0 when there is no record (a new edge, or a stack the relay never deployed).
	Recorded int
	// Current is the parent's version now: the root's version in the cascade, or the version
	// another parent finished at.
	Current int
}

// Verdict says whether a ready stack deploys, and why, in words for the cascade listing.
type Verdict struct {
	Deploy bool
	Reason string
}

// OutputsChanged reports whether a parent's outputs differ between two of its versions.
type OutputsChanged func(parent string, from, to int) (bool, error)

// Judge decides whether a ready stack deploys. It always deploys after its own failed
// deployment and over a new edge; otherwise only when some parent's outputs changed between
// the version it last deployed against and now. changed is asked only about edges whose
// versions differ, in order, until one says yes; an error comparing counts as a change, since
// deploying once too often is safer than missing a change.
func Judge(lastFailed bool, edges []Edge, changed OutputsChanged) Verdict {
	if lastFailed {
		return Verdict{Deploy: true, Reason: "its last deployment failed"}
	}
	for _, e := range edges {
		if e.Recorded == 0 {
			return Verdict{Deploy: true, Reason: fmt.Sprintf("first deployment after the edge from %s", e.Parent)}
		}
	}
	var same []string
	for _, e := range edges {
		if e.Recorded == e.Current {
			same = append(same, fmt.Sprintf("%s at version %d", e.Parent, e.Current))
			continue
		}
		diff, err := changed(e.Parent, e.Recorded, e.Current)
		if err != nil {
			return Verdict{Deploy: true, Reason: fmt.Sprintf(
				"outputs of %s could not be compared (version %d to %d), so it deploys: %v", e.Parent, e.Recorded, e.Current, err)}
		}
		if diff {
			return Verdict{Deploy: true, Reason: fmt.Sprintf(
				"outputs of %s changed (version %d to %d)", e.Parent, e.Recorded, e.Current)}
		}
		same = append(same, fmt.Sprintf("%s version %d to %d", e.Parent, e.Recorded, e.Current))
	}
	return Verdict{Reason: "no parent's outputs changed: " + strings.Join(same, ", ")}
}

// Merge folds a newer update of the root into a running cascade as generation gen: every
// stack not deploying waits again (and is judged again once its parents finish in gen), and a
// deploying stack keeps its older generation so that it deploys once more after its current
// run (AfterDeployment). No stack deploys more than once per generation, and every stack's
// last deployment starts after the root's last update.
func Merge(nodes []Node, gen int) []Node {
	out := slices.Clone(nodes)
	for i := range out {
		if out[i].State != StateDeploying {
			out[i].State = StateWaiting
			out[i].Generation = gen
		}
	}
	return out
}

// AfterDeployment is a stack's state once its deployment ended: the outcome, or waiting when
// the cascade moved to a newer generation while it ran.
func AfterDeployment(nodeGen, cascadeGen int, succeeded bool) State {
	switch {
	case nodeGen < cascadeGen:
		return StateWaiting
	case succeeded:
		return StateSucceeded
	}
	return StateFailed
}

// FindCycle returns a cycle reachable from root in the graph children (stack → the stacks it
// has edges to) as the path that closes it, first stack repeated at the end, or nil when there
// is none. Children are visited in the order given, so the answer is stable.
func FindCycle(root string, children map[string][]string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(s string) []string {
		mark[s] = onPath
		path = append(path, s)
		for _, c := range children[s] {
			switch mark[c] {
			case onPath:
				start := slices.Index(path, c)
				return append(slices.Clone(path[start:]), c)
			case unseen:
				if cyc := visit(c); cyc != nil {
					return cyc
				}
			}
		}
		path = path[:len(path)-1]
		mark[s] = done
		return nil
	}
	return visit(root)
}

// OutputsEqual compares two stacks' outputs as decoded from JSON, with secrets already
// replaced by their plaintexts (revealSecrets), so a secret is compared by value.
func OutputsEqual(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }
