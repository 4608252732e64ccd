package relay

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// This file holds the relay's decisions as pure functions of what it knows about an organization: its
// stacks, each with its newest version and what is happening to it, and the relay edges between them,
// each with the parent's version the child last deployed against. The relay is level-triggered: it
// does not follow events down a tree, it compares what is with what each stack last deployed against,
// as make compares a target with its sources and a Kubernetes controller compares spec with status.
// Everything that reads Pulumi Cloud or the database gathers these facts and records the answers.

// StackFacts is what the schedule knows about one stack.
type StackFacts struct {
	// Version is the stack's newest version whose update ended, 0 when it never had one.
	Version int
	// Deploying is set while the relay's own deployment of the stack is asked for or running.
	Deploying bool
	// Updating is set while an update or deployment someone else started is in progress.
	Updating bool
	// Failed is set when the relay's last deployment of the stack failed (or was cancelled) and no
	// successful update has fixed it since: nothing below it starts until it is fixed.
	Failed bool
	// Unsure is set while a read about the stack failed and waits for a retry: what it will turn out
	// to be is unknown, so nothing below it starts meanwhile.
	Unsure bool
	// Estimate is how long a deployment of the stack takes, in seconds, for the priorities.
	Estimate float64
}

// Link is one relay edge, as the relay records it.
type Link struct {
	Parent, Child string
	// Recorded is the parent's version the child last deployed against (or was found not to need a
	// deployment for); 0 for an edge the child never deployed over.
	Recorded int
	// AlwaysDeploy makes every new version of the parent a reason to deploy the child, whether or not
	// the parent's outputs changed.
	AlwaysDeploy bool
}

// World is what the relay knows of one organization. Stacks not in Stacks (deleted, or never seen)
// are not part of the graph: links to or from them are ignored.
type World struct {
	Stacks map[string]StackFacts
	Links  []Link
}

// Phase is where a stack stands in the organization's schedule.
type Phase string

// The phases of Plan. Idle stacks have nothing to do; the others are listed with a reason.
const (
	PhaseIdle      Phase = "idle"
	PhaseReady     Phase = "ready"     // a parent changed and nothing above it is unsettled: judge it now
	PhaseWaiting   Phase = "waiting"   // something above it is due, deploying or unsure
	PhaseBlocked   Phase = "blocked"   // a stack above it failed and is not fixed yet
	PhaseCycle     Phase = "cycle"     // it is on or below a cycle of edges: nothing there deploys
	PhaseDeploying Phase = "deploying" // the relay deploys it, or someone else updates it
	PhaseUnsure    Phase = "unsure"    // a read about it failed; retried
)

// Candidate is a ready stack: one of its parents has a version newer than the one the stack last
// deployed against, and nothing above it is due, deploying, failed or unsure.
type Candidate struct {
	Stack string
	// Changed are the links whose parent moved past Recorded, in the order of World.Links.
	Changed []Link
	// Covers is the version of every parent now: what a deployment started now deploys against.
	Covers map[string]int
	// Always is the reason it deploys whatever the outputs say ("" when only an outputs comparison
	// can tell): its last deployment failed, a new edge, or an alwaysDeploy edge.
	Always string
	// Priority is the work on the longest path from the stack down, itself included: among ready
	// stacks, the one with the most below it starts first, so a long chain is not starved behind
	// leaves.
	Priority float64
}

// Plan is what the organization's schedule can do now.
type Plan struct {
	// Ready are the stacks to judge now, highest priority first.
	Ready []Candidate
	// Phase is every stack's phase but idle ones, and Why says why, in words.
	Phase map[string]Phase
	Why   map[string]string
	// Cycles are the cycles among the edges, each as a path that closes on its first stack.
	Cycles [][]string
}

// graphOf is the graph of the links between known stacks, each link once.
type graphOf struct {
	order         []string // every known stack, in a topological order where there are no cycles
	parents, kids map[string][]Link
	inCycle       map[string]bool
	underCycle    map[string]bool // below a stack on a cycle
	cycles        [][]string
	priority      map[string]float64
}

func buildGraph(w World) *graphOf {
	g := &graphOf{parents: map[string][]Link{}, kids: map[string][]Link{}, inCycle: map[string]bool{},
		underCycle: map[string]bool{}}
	// Cycles and priorities follow the rules the impact plan follows (package edge), so that what a plan
	// says the relay would do is what it does.
	eg := edge.Graph{}
	for _, l := range w.Links {
		_, okP := w.Stacks[l.Parent]
		_, okC := w.Stacks[l.Child]
		if _, dup := eg[l.Parent][l.Child]; !okP || !okC || dup {
			continue
		}
		eg.Add(l.Parent, l.Child, l.AlwaysDeploy)
		g.parents[l.Child] = append(g.parents[l.Child], l)
		g.kids[l.Parent] = append(g.kids[l.Parent], l)
	}
	names := make([]string, 0, len(w.Stacks))
	for s := range w.Stacks {
		names = append(names, s)
	}
	slices.Sort(names)
	estimates := make(map[string]float64, len(w.Stacks))
	for s, f := range w.Stacks {
		estimates[s] = f.Estimate
	}
	g.cycles = edge.Cycles(eg)
	for _, c := range g.cycles {
		for _, s := range c {
			g.inCycle[s] = true
		}
	}
	g.priority = edge.Priorities(eg, estimates)
	var below []string
	for s := range g.inCycle {
		below = append(below, s)
	}
	for len(below) > 0 {
		s := below[len(below)-1]
		below = below[:len(below)-1]
		for _, l := range g.kids[s] {
			if !g.inCycle[l.Child] && !g.underCycle[l.Child] {
				g.underCycle[l.Child] = true
				below = append(below, l.Child)
			}
		}
	}
	// Kahn's algorithm over the stacks not on a cycle; stacks on or below a cycle come last.
	indeg := map[string]int{}
	for _, s := range names {
		for _, l := range g.parents[s] {
			if !g.inCycle[l.Parent] {
				indeg[s]++
			}
		}
	}
	queue := []string{}
	for _, s := range names {
		if indeg[s] == 0 && !g.inCycle[s] {
			queue = append(queue, s)
		}
	}
	placed := map[string]bool{}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		g.order = append(g.order, s)
		placed[s] = true
		for _, l := range g.kids[s] {
			if indeg[l.Child]--; indeg[l.Child] == 0 && !g.inCycle[l.Child] {
				queue = append(queue, l.Child)
			}
		}
	}
	for _, s := range names {
		if !placed[s] {
			g.order = append(g.order, s)
		}
	}
	for s, f := range w.Stacks {
		if _, ok := g.priority[s]; !ok {
			g.priority[s] = max(f.Estimate, 0)
		}
	}
	return g
}

// Schedule decides, from what the relay knows of an organization, which stacks are ready to be
// judged now and where every other stack stands. A stack is ready when one of its parents has a
// version newer than the one it last deployed against, it is not deploying or being updated, and no
// stack above it is ready, waiting for a verdict, deploying, being updated by anyone, unsure or
// failed: so it starts once, after all its ancestors, and one deployment covers every change above
// it.
func Schedule(w World) Plan {
	g := buildGraph(w)
	plan := Plan{Phase: map[string]Phase{}, Why: map[string]string{}, Cycles: g.cycles}
	// unsettled[s] names a stack at or above s that keeps s's descendants waiting; failed[s] a failed
	// stack at or above s. Both are carried down the topological order.
	unsettled := map[string]string{}
	failed := map[string]string{}
	for _, s := range g.order {
		f := w.Stacks[s]
		if g.inCycle[s] || g.underCycle[s] {
			plan.Phase[s], plan.Why[s] = PhaseCycle, "the edges above it form a cycle, so nothing on or below it "+
				"deploys: "+cycleText(g.cycles)
			unsettled[s] = s
			continue
		}
		var above, failedAbove string
		for _, l := range g.parents[s] {
			if above == "" {
				above = unsettled[l.Parent]
			}
			if failedAbove == "" {
				failedAbove = failed[l.Parent]
			}
		}
		changed, covers := changedLinks(w, g.parents[s])
		switch {
		case f.Deploying || f.Updating:
			plan.Phase[s] = PhaseDeploying
			unsettled[s] = s
		case f.Unsure:
			plan.Phase[s], plan.Why[s] = PhaseUnsure, "a read about it failed; retried"
			unsettled[s] = s
		case len(changed) == 0:
			// Nothing to do here; what is above still matters to what is below.
		case failedAbove != "":
			plan.Phase[s], plan.Why[s] = PhaseBlocked, "waits: "+failedAbove+" above it failed and is not fixed yet"
		case above != "":
			plan.Phase[s], plan.Why[s] = PhaseWaiting, "waits for "+above+" above it"
			unsettled[s] = s
		default:
			plan.Phase[s] = PhaseReady
			plan.Ready = append(plan.Ready, Candidate{Stack: s, Changed: changed, Covers: covers,
				Always: alwaysReason(f, changed), Priority: g.priority[s]})
			unsettled[s] = s
		}
		if unsettled[s] == "" {
			unsettled[s] = above
		}
		switch {
		case f.Failed && unsettled[s] != s:
			// Failed and settled: what is below waits for a fix. A failed stack being judged or
			// deployed again holds what is below as any unsettled stack does.
			failed[s] = s
		default:
			failed[s] = failedAbove
		}
	}
	slices.SortStableFunc(plan.Ready, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.Stack, b.Stack))
	})
	return plan
}

func cycleText(cycles [][]string) string {
	var parts []string
	for _, c := range cycles {
		parts = append(parts, strings.Join(c, " → "))
	}
	return strings.Join(parts, "; ")
}

// changedLinks returns the links into a stack whose parent has a version newer than the one the stack
// last deployed against, and every parent's version now.
func changedLinks(w World, parents []Link) ([]Link, map[string]int) {
	var changed []Link
	covers := make(map[string]int, len(parents))
	for _, l := range parents {
		v := w.Stacks[l.Parent].Version
		covers[l.Parent] = v
		if v > l.Recorded {
			changed = append(changed, l)
		}
	}
	return changed, covers
}

// alwaysReason is why a ready stack deploys whatever its parents' outputs say, if anything does.
func alwaysReason(f StackFacts, changed []Link) string {
	if f.Failed {
		return "its last deployment failed"
	}
	for _, l := range changed {
		if l.Recorded == 0 {
			return "first deployment after the edge from " + l.Parent
		}
	}
	for _, l := range changed {
		if l.AlwaysDeploy {
			return "alwaysDeploy: " + l.Parent + " has a new version"
		}
	}
	return ""
}

// OutputsChanged reports whether a parent's outputs differ between two of its versions.
type OutputsChanged func(parent string, from, to int) (bool, error)

// Verdict says whether a ready stack deploys, and why, in words.
type Verdict struct {
	Deploy bool
	Reason string
}

// Judge decides whether a ready stack deploys: at once for a reason that needs no comparison
// (Candidate.Always), otherwise when the outputs of a parent that moved changed between the version
// the stack last deployed against and now. changed is asked about the moved links in order until one
// says yes; its error is returned for the caller to retry (a read that failed says nothing about the
// outputs).
func Judge(c Candidate, changed OutputsChanged) (Verdict, error) {
	if c.Always != "" {
		return Verdict{Deploy: true, Reason: c.Always}, nil
	}
	var same []string
	for _, l := range c.Changed {
		to := c.Covers[l.Parent]
		diff, err := changed(l.Parent, l.Recorded, to)
		if err != nil {
			return Verdict{}, err
		}
		if diff {
			return Verdict{Deploy: true, Reason: fmt.Sprintf("outputs of %s changed (version %d to %d)",
				l.Parent, l.Recorded, to)}, nil
		}
		same = append(same, fmt.Sprintf("%s version %d to %d", l.Parent, l.Recorded, to))
	}
	return Verdict{Reason: "no parent's outputs changed: " + strings.Join(same, ", ")}, nil
}
