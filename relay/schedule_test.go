package relay

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// world builds a World from "parent>child@recorded" links (recorded defaults to the parent's version,
// so the link is settled) and stacks at version 1 unless versions says otherwise.
type worldBuilder struct{ w World }

func newWorld(stacks ...string) *worldBuilder {
	b := &worldBuilder{w: World{Stacks: map[string]StackFacts{}}}
	for _, s := range stacks {
		b.w.Stacks[s] = StackFacts{Version: 1, Estimate: 1}
	}
	return b
}

func (b *worldBuilder) link(parent, child string, recorded int) *worldBuilder {
	b.w.Links = append(b.w.Links, Link{Parent: parent, Child: child, Recorded: recorded})
	return b
}

func (b *worldBuilder) set(s string, f func(*StackFacts)) *worldBuilder {
	facts := b.w.Stacks[s]
	f(&facts)
	b.w.Stacks[s] = facts
	return b
}

func readyStacks(p Plan) []string {
	var out []string
	for _, c := range p.Ready {
		out = append(out, c.Stack)
	}
	return out
}

// A diamond root → a, b → d: after the root moves, a and b are ready and d waits for both; once both
// settled (deployed: their records of the root move), d is ready, once, covering both.
func TestScheduleDiamond(t *testing.T) {
	b := newWorld("root", "a", "b", "d").link("root", "a", 1).link("root", "b", 1).link("a", "d", 1).link("b", "d", 1)
	b.set("root", func(f *StackFacts) { f.Version = 2 })
	p := Schedule(b.w)
	assert.ElementsMatch(t, []string{"a", "b"}, readyStacks(p))
	assert.Equal(t, PhaseIdle, phase(p, "d"), "d has no changed parent yet")

	// a deploys: it is deploying, b is still ready; d has nothing changed yet.
	b.set("a", func(f *StackFacts) { f.Deploying = true })
	b.w.Links[0].Recorded = 2
	p = Schedule(b.w)
	assert.Equal(t, []string{"b"}, readyStacks(p))

	// a ended with a new version: d changed, but b (above it) is still ready, so d waits.
	b.set("a", func(f *StackFacts) { f.Deploying, f.Version = false, 2 })
	p = Schedule(b.w)
	assert.Equal(t, []string{"b"}, readyStacks(p))
	assert.Equal(t, PhaseWaiting, phase(p, "d"))
	assert.Contains(t, p.Why["d"], "waits for b")

	// b skipped (its record moves, its version does not): d is ready, covering a's version 2.
	b.w.Links[1].Recorded = 2
	p = Schedule(b.w)
	require.Equal(t, []string{"d"}, readyStacks(p))
	assert.Equal(t, map[string]int{"a": 2, "b": 1}, p.Ready[0].Covers)
	assert.Equal(t, []Link{{Parent: "a", Child: "d", Recorded: 1}}, p.Ready[0].Changed)
}

// Two roots updated together over a shared descendant: x waits until both its parents settled, so it
// deploys once; y below x waits for x.
func TestScheduleTwoRoots(t *testing.T) {
	b := newWorld("r1", "r2", "x", "y").link("r1", "x", 1).link("r2", "x", 1).link("x", "y", 1)
	b.set("r1", func(f *StackFacts) { f.Version = 2 }).set("r2", func(f *StackFacts) { f.Version = 2 })
	p := Schedule(b.w)
	require.Equal(t, []string{"x"}, readyStacks(p))
	assert.Equal(t, map[string]int{"r1": 2, "r2": 2}, p.Ready[0].Covers, "one deployment covers both roots")
	b.set("x", func(f *StackFacts) { f.Deploying = true })
	p = Schedule(b.w)
	assert.Empty(t, p.Ready)
	assert.Equal(t, PhaseDeploying, phase(p, "x"))
}

// Someone else's update anywhere above a stack keeps it waiting: the relay never starts a stack while
// one of its ancestors is being updated, whoever started that.
func TestScheduleWaitsForAnyonesUpdateAbove(t *testing.T) {
	b := newWorld("root", "a", "b", "c", "other").link("root", "a", 1).link("a", "b", 1).link("b", "c", 1).
		link("other", "c", 1)
	b.set("other", func(f *StackFacts) { f.Version = 2 }).set("a", func(f *StackFacts) { f.Updating = true })
	p := Schedule(b.w)
	assert.Empty(t, p.Ready)
	assert.Equal(t, PhaseWaiting, phase(p, "c"))
	assert.Contains(t, p.Why["c"], "waits for a")

	b.set("a", func(f *StackFacts) { f.Updating = false })
	assert.Equal(t, []string{"c"}, readyStacks(Schedule(b.w)))
}

// A failed stack blocks everything below it until it is fixed; its siblings go on.
func TestScheduleFailureBlocksBelowUntilFixed(t *testing.T) {
	b := newWorld("root", "f", "s", "below", "t").link("root", "f", 2).link("f", "below", 1).
		link("root", "s", 1).link("s", "t", 1).link("root", "below", 1)
	b.set("root", func(f *StackFacts) { f.Version = 2 }).set("f", func(f *StackFacts) { f.Failed = true })
	p := Schedule(b.w)
	assert.Equal(t, []string{"s"}, readyStacks(p))
	assert.Equal(t, PhaseBlocked, phase(p, "below"))
	assert.Contains(t, p.Why["below"], "f above it failed")

	// Fixed by a successful update of f: below is judged on what changed, root's move included.
	b.set("f", func(f *StackFacts) { f.Failed, f.Version = false, 2 })
	b.set("s", func(f *StackFacts) { f.Deploying = true })
	p = Schedule(b.w)
	require.Equal(t, []string{"below"}, readyStacks(p), "s deploying beside it holds nothing below f")
	assert.Equal(t, map[string]int{"f": 2, "root": 2}, p.Ready[0].Covers)
}

// A failed stack that deploys again holds what is below it as waiting, not blocked: the failure may be
// over in a moment.
func TestScheduleAFailedStackDeployingAgainHoldsBelow(t *testing.T) {
	b := newWorld("root", "f", "below", "other").link("root", "f", 2).link("f", "below", 1).link("other", "below", 1)
	b.set("other", func(f *StackFacts) { f.Version = 2 }).set("f", func(f *StackFacts) { f.Failed, f.Deploying = true, true })
	p := Schedule(b.w)
	assert.Equal(t, PhaseWaiting, phase(p, "below"))
	assert.Contains(t, p.Why["below"], "waits for f")
	b.set("f", func(f *StackFacts) { f.Deploying = false })
	assert.Equal(t, PhaseBlocked, phase(Schedule(b.w), "below"))
}

func phase(p Plan, s string) Phase {
	if ph, ok := p.Phase[s]; ok {
		return ph
	}
	return PhaseIdle
}

// An unsure stack (a read failed) holds what is below it, not its siblings.
func TestScheduleUnsureHoldsOnlyBelow(t *testing.T) {
	b := newWorld("root", "a", "b", "c").link("root", "a", 1).link("root", "b", 1).link("a", "c", 1)
	b.set("root", func(f *StackFacts) { f.Version = 2 }).set("a", func(f *StackFacts) { f.Unsure = true })
	b.set("c", func(f *StackFacts) {}).link("root", "c", 1)
	p := Schedule(b.w)
	assert.Equal(t, []string{"b"}, readyStacks(p))
	assert.Equal(t, PhaseUnsure, phase(p, "a"))
	assert.Equal(t, PhaseWaiting, phase(p, "c"))
}

// Links to or from stacks the world does not know (deleted) are no part of the graph: the child is
// judged on the parents that remain, and nothing waits on the deleted stack.
func TestScheduleIgnoresDeletedStacks(t *testing.T) {
	b := newWorld("root", "a", "t").link("root", "a", 1).link("a", "t", 1).link("gone", "t", 1).link("root", "gone", 1)
	b.set("root", func(f *StackFacts) { f.Version = 2 })
	assert.Equal(t, []string{"a"}, readyStacks(Schedule(b.w)))
}

// A cycle holds everything on and below it, and nothing else.
func TestScheduleCycle(t *testing.T) {
	b := newWorld("root", "a", "b", "below", "free").link("root", "a", 1).link("a", "b", 1).link("b", "a", 1).
		link("b", "below", 1).link("root", "free", 1)
	b.set("root", func(f *StackFacts) { f.Version = 2 })
	p := Schedule(b.w)
	assert.Equal(t, []string{"free"}, readyStacks(p))
	require.Len(t, p.Cycles, 1)
	assert.Equal(t, []string{"a", "b", "a"}, p.Cycles[0])
	for _, s := range []string{"a", "b", "below"} {
		assert.Equal(t, PhaseCycle, phase(p, s), s)
		assert.Contains(t, p.Why[s], "a → b → a")
	}
	self := newWorld("s").link("s", "s", 1)
	self.set("s", func(f *StackFacts) { f.Version = 2 })
	assert.Equal(t, [][]string{{"s", "s"}}, Schedule(self.w).Cycles)
}

// Among ready stacks the one with the most work below it comes first: the head of a long chain before
// leaves, whatever their names.
func TestSchedulePriorityIsTheCriticalPath(t *testing.T) {
	b := newWorld("root", "a-leaf", "b-leaf", "z-chain", "z2", "z3")
	b.link("root", "a-leaf", 1).link("root", "b-leaf", 1).link("root", "z-chain", 1).link("z-chain", "z2", 1).
		link("z2", "z3", 1)
	b.set("root", func(f *StackFacts) { f.Version = 2 }).set("z3", func(f *StackFacts) { f.Estimate = 10 })
	p := Schedule(b.w)
	assert.Equal(t, []string{"z-chain", "a-leaf", "b-leaf"}, readyStacks(p))
	assert.InDelta(t, 12, p.Ready[0].Priority, 1e-9)
}

func TestScheduleAlwaysReasons(t *testing.T) {
	b := newWorld("p", "new", "always", "failed", "plain").link("p", "new", 0).link("p", "plain", 1).
		link("p", "failed", 1)
	b.w.Links = append(b.w.Links, Link{Parent: "p", Child: "always", Recorded: 1, AlwaysDeploy: true})
	b.set("p", func(f *StackFacts) { f.Version = 2 }).set("failed", func(f *StackFacts) { f.Failed = true })
	reasons := map[string]string{}
	for _, c := range Schedule(b.w).Ready {
		reasons[c.Stack] = c.Always
	}
	assert.Equal(t, map[string]string{
		"new":    "first deployment after the edge from p",
		"always": "alwaysDeploy: p has a new version",
		"failed": "its last deployment failed",
		"plain":  "",
	}, reasons)
}

func TestJudge(t *testing.T) {
	c := Candidate{Stack: "d", Changed: []Link{{Parent: "a", Recorded: 1}, {Parent: "b", Recorded: 3}},
		Covers: map[string]int{"a": 2, "b": 4}}
	var asked []string
	changedOnly := func(which string) OutputsChanged {
		return func(parent string, from, to int) (bool, error) {
			asked = append(asked, parent)
			return parent == which, nil
		}
	}
	v, err := Judge(c, changedOnly("b"))
	require.NoError(t, err)
	assert.Equal(t, Verdict{Deploy: true, Reason: "outputs of b changed (version 3 to 4)"}, v)
	assert.Equal(t, []string{"a", "b"}, asked)

	v, err = Judge(c, changedOnly("none"))
	require.NoError(t, err)
	assert.Equal(t, Verdict{Reason: "no parent's outputs changed: a version 1 to 2, b version 3 to 4"}, v)

	boom := errors.New("503")
	_, err = Judge(c, func(string, int, int) (bool, error) { return false, boom })
	assert.ErrorIs(t, err, boom)

	c.Always = "its last deployment failed"
	v, err = Judge(c, func(string, int, int) (bool, error) { panic("not asked") })
	require.NoError(t, err)
	assert.Equal(t, Verdict{Deploy: true, Reason: "its last deployment failed"}, v)
}
