package relay

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// A cascade is how the relay tells, and shows, what one change did: when a stack's version moves by
// someone else's update (a person's `pulumi up`, a deployment the relay did not start, a refresh), a
// cascade rooted there lists every stack below it at that moment, and follows each to its end in the
// organization's one schedule: deployed (by a deployment the relay asked for after the change), found
// not to need a deployment, or held by a failure above it. Several cascades can share a stack, and
// one deployment then finishes it in each: the schedule deploys a stack once for every change above it
// that ended before it started. Cascades decide nothing; they are the schedule's record.

// State is where one stack below a cascade's root stands.
type State string

// The states of a stack in a cascade: waiting, then deploying, then one of the four finished ones; or
// straight from waiting to a skip or a failure.
const (
	StateWaiting               State = "waiting"
	StateDeploying             State = "deploying"
	StateSucceeded             State = "succeeded"
	StateFailed                State = "failed"
	StateSkippedUnchanged      State = "skipped-unchanged"
	StateSkippedUpstreamFailed State = "skipped-upstream-failed"
)

// Finished reports whether a stack in state s has nothing more to do in its cascade.
func (s State) Finished() bool {
	switch s {
	case StateSucceeded, StateFailed, StateSkippedUnchanged, StateSkippedUpstreamFailed:
		return true
	}
	return false
}

// Cascade states.
const (
	cascadeRunning = "running"
	cascadeDone    = "done"
	cascadeFailed  = "failed" // a cycle among its stacks: nothing on or below it deployed
)

// cascade is one running cascade in memory.
type cascade struct {
	id      int64
	root    string
	version int
	cause   string
	created time.Time
	state   string
	err     string
	rows    []*cascadeRow
}

// cascadeRow is one stack below a cascade's root.
type cascadeRow struct {
	stack   string
	parents []string // its parents within the cascade, the root among them when it is one
	state   State
	reason  string
	// deployment is the relay's deployment that settles it in this cascade, once there is one.
	deploymentID string
	covers       map[string]int
	deployments  int // deployments of it the relay started for this cascade
	version      int // its version once it finished
	dirty        bool
}

// rowFacts is what the schedule knows of a row's stack now.
type rowFacts struct {
	deleted bool
	phase   Phase // its phase in the schedule's Plan; PhaseIdle when it has nothing to do
	why     string
	flight  *flight // the relay's deployment of it in flight
	last    *flight // the relay's last deployment of it that ended
	version int
	// skipReason is why it was last found not to need a deployment.
	skipReason string
}

// advanceRow moves a row on from what the schedule knows of its stack, given the states of its parents'
// rows in the cascade (a parent outside the cascade's rows, the root, counts as finished) and whether
// each of them was deleted. A deployment counts for the cascade only when the relay asked for it after
// the cascade began: one that ran before is for an earlier change.
func advanceRow(r cascadeRow, began time.Time, f rowFacts, parents map[string]State, deleted map[string]bool) cascadeRow {
	if r.state.Finished() {
		return r
	}
	since := func(fl *flight) bool { return fl != nil && fl.IntentMS >= began.UnixMilli() }
	set := func(s State, reason string) cascadeRow {
		if r.state != s || r.reason != reason {
			r.state, r.reason, r.dirty = s, reason, true
		}
		return r
	}
	ended := func() cascadeRow {
		if r.state != StateDeploying {
			r.deployments++
		}
		r.deploymentID, r.covers, r.version = f.last.ID, maps.Clone(f.last.Covers), f.last.Version
		r.dirty = true
		reason := f.last.Why
		if f.last.Reason != "" {
			reason += ": " + f.last.Reason
		}
		if f.last.Outcome == outcomeSucceeded {
			return set(StateSucceeded, reason)
		}
		return set(StateFailed, reason)
	}
	switch {
	case f.deleted:
		r.version = 0
		return set(StateFailed, "the stack was deleted: it left the graph, and nothing waits on it")
	case f.phase == PhaseCycle:
		return set(StateFailed, f.why)
	case r.state == StateDeploying && r.deploymentID != "" && f.last != nil && f.last.ID == r.deploymentID:
		// The deployment the row follows ended, even if another one of the stack started since.
		return ended()
	case since(f.flight):
		if r.deploymentID != f.flight.ID || r.state != StateDeploying {
			r.deploymentID, r.covers, r.dirty = f.flight.ID, maps.Clone(f.flight.Covers), true
			if r.state != StateDeploying {
				r.deployments++
			}
		}
		if f.flight.ID == "" {
			return set(StateDeploying, "asking for a deployment: "+f.flight.Reason)
		}
		return set(StateDeploying, fmt.Sprintf("deployment %s running: %s", f.flight.ID, f.flight.Reason))
	case since(f.last):
		return ended()
	case f.phase == PhaseBlocked:
		return set(StateSkippedUpstreamFailed, f.why)
	}
	finished := true
	for _, p := range r.parents {
		st, in := parents[p]
		if !in || deleted[p] {
			continue
		}
		if st == StateFailed || st == StateSkippedUpstreamFailed {
			return set(StateSkippedUpstreamFailed, fmt.Sprintf("its parent %s %s", p, upstreamWord(st)))
		}
		finished = finished && st.Finished()
	}
	idle := f.phase == PhaseIdle || f.phase == ""
	if finished && idle && f.flight == nil {
		reason := f.skipReason
		if reason == "" {
			reason = "no parent's outputs changed"
		}
		r.version = f.version
		return set(StateSkippedUnchanged, reason)
	}
	why := f.why
	switch {
	case f.flight != nil:
		why = fmt.Sprintf("waits: its deployment %s for an earlier change runs; then it is judged again", f.flight.ID)
	case why == "" || idle:
		why = "waits for its parents"
	}
	return set(StateWaiting, why)
}

func upstreamWord(s State) string {
	if s == StateFailed {
		return "failed"
	}
	return "was skipped because a stack above it failed"
}

// newCascade lists what lies below root now, every stack waiting.
func newCascade(o *org, root string, version int, cause string, now time.Time) *cascade {
	c := &cascade{root: root, version: version, cause: cause, created: now, state: cascadeRunning}
	order, parents := o.descendants(root)
	for _, s := range order {
		c.rows = append(c.rows, &cascadeRow{stack: s, parents: parents[s], state: StateWaiting,
			reason: "waits for its parents", dirty: true})
	}
	return c
}

// advance moves every row on, parents first (rows are in topological order), and reports whether the
// cascade finished.
func (c *cascade) advance(facts func(string) rowFacts) bool {
	states := make(map[string]State, len(c.rows))
	for _, r := range c.rows {
		states[r.stack] = r.state
	}
	deleted := map[string]bool{}
	for _, r := range c.rows {
		f := facts(r.stack)
		*r = advanceRow(*r, c.created, f, states, deleted)
		states[r.stack] = r.state
		deleted[r.stack] = f.deleted
	}
	if !slices.ContainsFunc(c.rows, func(r *cascadeRow) bool { return !r.state.Finished() }) {
		if c.state == cascadeRunning {
			c.state = cascadeDone
		}
		return true
	}
	return false
}
