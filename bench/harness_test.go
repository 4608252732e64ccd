//go:build e2e

// Package bench holds the benchmarks of BENCHMARKS.md, run by `make bench` and
// `make bench-scale`, and their smoke test, part of `make test-e2e`.
//
// This file is the benchmark harness, which takes a graph of stacks through its phases by
// the real CLI against the emulator: a tree, declared with one AutoDeployer per stack, one
// Webhook per edge, or one DeploymentGraph for the whole tree (tree_harness_test.go), through
// an optional preview, create, no-op up, refresh, remove-one-ref, reorder-refs and destroy;
// or a layered DAG as one DeploymentGraph (dag_harness_test.go), through preview, create,
// no-op up, refresh, one new reference and destroy. Both shapes also come as one
// DeploymentGraph whose edges are StackReferences. Each phase records its wall time, the CPU of the CLI and of the plugin, the API requests
// and writes the emulator counted, the TCP connections it accepted and the plugin's peak
// RSS. A benchRunner runs one phase per call, so TestBench can interleave scenarios.
//
// It is shared by TestBenchSmoke (tag e2e, part of `make test`: counts only) and
// TestBench (tags e2e and bench, `make bench` and `make bench-scale`: counts and times).
// The emulator, the workspaces and the CLI runner are internal/e2e's, as in examples/.
package bench

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The ways of declaring the same graph.
const (
	benchAutoDeployer    = "AutoDeployer"
	benchWebhookPerEdge  = "Webhook-per-edge"
	benchDeploymentGraph = "DeploymentGraph"
	// benchFromReferences is one DeploymentGraph whose edges come from StackReferences: each
	// stack of the tree reads its parent. Its phases change references, not the program.
	benchFromReferences = "DeploymentGraph-fromStackReferences"
)

// The shapes of graph a scenario takes through the phases.
const (
	benchShapeTree = "tree"
	benchShapeDAG  = "dag"
)

// The phases. A scenario runs some of them (benchScenario.phases), always in this order.
const (
	benchPhasePreview     = "preview"
	benchPhaseCreate      = "create"
	benchPhaseNoop        = "no-op up"
	benchPhaseNoopPreview = "no-op preview"
	benchPhaseRefresh     = "refresh"
	benchPhaseRemove      = "remove one ref"
	benchPhaseReorder     = "reorder refs"
	benchPhaseNewRef      = "one new reference"
	benchPhaseNewRefMid   = "one new reference mid-graph"
	benchPhaseRemovedRef  = "one removed reference"
	benchPhaseDestroy     = "destroy"
)

var benchPhaseOrder = []string{
	benchPhasePreview, benchPhaseCreate, benchPhaseNoop, benchPhaseNoopPreview, benchPhaseRefresh, benchPhaseRemove,
	benchPhaseReorder, benchPhaseNewRef, benchPhaseNewRefMid, benchPhaseRemovedRef, benchPhaseDestroy,
}

// benchTreePhases are a tree's phases after the optional preview.
var benchTreePhases = []string{
	benchPhaseCreate, benchPhaseNoop, benchPhaseRefresh, benchPhaseRemove, benchPhaseReorder, benchPhaseDestroy,
}

// benchDAGPhases are a DAG's phases.
var benchDAGPhases = []string{
	benchPhasePreview, benchPhaseCreate, benchPhaseNoop, benchPhaseNoopPreview, benchPhaseRefresh, benchPhaseNewRef,
	benchPhaseNewRefMid, benchPhaseRemovedRef, benchPhaseDestroy,
}

const (
	benchHooksRoute = "/api/stacks/{org}/{project}/{stack}/hooks"
	benchSampleGap  = 50 * time.Millisecond
)

// benchScenario is one graph, one way of declaring it, one added latency.
type benchScenario struct {
	Mode string
	// Shape is benchShapeTree (also when empty) or benchShapeDAG. A tree has Stacks stacks
	// and a fan-out of Fanout; a DAG Layers layers of Width stacks (Stacks is their product).
	Shape         string
	Stacks        int
	Fanout        int
	Layers, Width int
	// Preview runs `pulumi preview` before a tree's create; a DAG always does.
	Preview  bool
	Latency  time.Duration // added by the emulator to every /api request
	Parallel int           // --parallel; 0 leaves the CLI's default
	// SkipCheckpoints sets PULUMI_SKIP_CHECKPOINTS=true: the engine writes the state once
	// at the end instead of after every step.
	SkipCheckpoints bool
	Timeout         time.Duration // per CLI command
}

func (s benchScenario) Name() string {
	name := fmt.Sprintf("%s/%s-%d/%dms", s.Mode, s.shape(), s.Stacks, s.Latency.Milliseconds())
	if s.Parallel > 0 {
		name += fmt.Sprintf("/p%d", s.Parallel)
	}
	if s.SkipCheckpoints {
		name += "/skip-checkpoints"
	}
	return name
}

func (s benchScenario) shape() string {
	if s.Shape == "" {
		return benchShapeTree
	}
	return s.Shape
}

// phases lists the phases the scenario runs, in order.
func (s benchScenario) phases() []string {
	if s.shape() == benchShapeDAG {
		return benchDAGPhases
	}
	if s.Preview {
		return append([]string{benchPhasePreview}, benchTreePhases...)
	}
	return benchTreePhases
}

// benchPhase is what one CLI command cost.
type benchPhase struct {
	Name string
	Wall time.Duration
	// Walls holds every run's wall time, round by round, and MinWall and MaxWall their
	// spread (see benchMergeRuns); Wall is then the median.
	Walls            []time.Duration
	MinWall, MaxWall time.Duration
	Requests         int
	Writes           int
	WantWrites       int
	HookLists        int // GET of a stack's webhook list
	ByRoute          map[string]int
	PeakRSSKiB       int64 // highest VmHWM of any plugin process, sampled every benchSampleGap
	Plugins          int   // plugin processes seen
	NewConns         int   // TCP connections the emulator accepted
	// CLICPU is the user+system time of the pulumi process and the children it reaped
	// (engine, language host, plugins); PluginCPU the plugins' share, as last sampled.
	CLICPU    time.Duration
	PluginCPU time.Duration
	// Times says when the requests ran; of the round whose wall time is the median.
	Times benchTimes
}

// benchResult is one scenario's phases plus the facts the targets are checked against.
type benchResult struct {
	Scenario benchScenario
	// Edges are the edges the program declares or the references make, KeptEdges those
	// that end up in Pulumi Cloud: fewer in a DAG, whose edges implied by longer paths the
	// provider leaves out.
	Edges, KeptEdges   int
	StacksWithWebhooks int
	// OrgStacks counts the stacks of the organization, which the provider lists a page of
	// 100 at a time.
	OrgStacks int
	Resources int
	// StateBytes is the size of `pulumi stack export` after create: the engine writes
	// about this much after every step.
	StateBytes int
	// Below is, for a DAG, how many stacks are below the reader of the mid-graph reference.
	Below  int
	Phases []benchPhase
	Runs   int // how many runs were merged into this one
}

func (r benchResult) phase(name string) (benchPhase, bool) {
	for _, p := range r.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return benchPhase{}, false
}

// benchEdgesProgram is a program named project of one DeploymentGraph with these edges
// (project/stack refs), upstreams in the order they first appear, each upstream's list in
// order, or reversed.
func benchEdgesProgram(project string, edges [][2]string, reversed bool) string {
	var order []string
	downstreams := map[string][]string{}
	for _, e := range edges {
		if downstreams[e[0]] == nil {
			order = append(order, e[0])
		}
		downstreams[e[0]] = append(downstreams[e[0]], e[1])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n"+
		"    properties:\n      organization: org\n      edges:\n", project)
	for _, upstream := range order {
		list := downstreams[upstream]
		if reversed {
			slices.Reverse(list)
		}
		fmt.Fprintf(&b, "        %s: [%s]\n", upstream, strings.Join(list, ", "))
	}
	return b.String()
}

// benchReferencesProgram is a program named project of one DeploymentGraph whose edges
// are the StackReferences of project's stacks.
func benchReferencesProgram(project string) string {
	return fmt.Sprintf("name: %[1]s\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n"+
		"    properties:\n      organization: org\n      fromStackReferences:\n        projects: [%[1]s]\n", project)
}

// startBenchCloud is e2e.StartCloud whose server also counts the TCP connections it
// accepts, which shows whether the plugin keeps its connections alive, records when each
// request ran, and has a clock the returned benchClock can shift.
func startBenchCloud(t *testing.T) (*e2e.Cloud, *atomic.Int64, *benchClock, *benchTimeline) {
	t.Helper()
	conns := &atomic.Int64{}
	clock := &benchClock{}
	timeline := &benchTimeline{}
	c := e2e.StartCloud(t, emulatortest.WithNow(clock.now), emulatortest.WithOptions(func(o *emulator.Options) {
		o.OnRequest = timeline.record
	}), emulatortest.WithHTTPServer(func(hs *http.Server) {
		hs.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				conns.Add(1)
			}
		}
	}))
	return c, conns, clock, timeline
}

// benchClock is the emulator's clock: the time now, shifted. It dates what the emulator
// records (a stack's lastUpdate); the Date of its answers stays the real one.
type benchClock struct{ offset atomic.Int64 }

func (c *benchClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// shift sets the clock to now plus by.
func (c *benchClock) shift(by time.Duration) { c.offset.Store(int64(by)) }

// benchRunner is one scenario set up and ready to run its phases in order, one call of
// runPhase each, so that callers can interleave the phases of several scenarios.
type benchRunner struct {
	t      *testing.T
	sc     benchScenario
	say    func(format string, args ...any)
	c      *e2e.Cloud
	conns  *atomic.Int64
	w      *e2e.Workspace
	plugin string
	edges  [][2]int // the tree's
	blocks []string // the Webhook-per-edge program, one resource per block
	dag    *benchDAG
	// timeline records the requests of the phase running.
	timeline *benchTimeline
	res      benchResult
	phases   []string
	// nextStep indexes phases: the phase runPhase runs next.
	nextStep int
}

// runBench takes one scenario through every phase. progress, if set, hears about each
// phase as it ends. It fails the test when a command fails or the cloud does not hold
// the graph it should; it does not judge counts or times, the callers do.
func runBench(t *testing.T, sc benchScenario, progress func(string)) benchResult {
	t.Helper()
	r := newBenchRunner(t, sc, progress)
	for r.next() != "" {
		r.runPhase()
	}
	return r.res
}

// next is the phase runPhase runs next, or "" when all have run.
func (r *benchRunner) next() string {
	if r.nextStep == len(r.phases) {
		return ""
	}
	return r.phases[r.nextStep]
}

// newBenchRunner seeds an emulator with the graph's stacks (and references) and writes the program.
func newBenchRunner(t *testing.T, sc benchScenario, progress func(string)) *benchRunner {
	t.Helper()
	if sc.Timeout == 0 {
		sc.Timeout = 10 * time.Minute
	}
	r := &benchRunner{t: t, sc: sc, phases: sc.phases()}
	r.say = func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf("[%s] %s", sc.Name(), fmt.Sprintf(format, args...)))
		}
	}
	var clock *benchClock
	r.c, r.conns, clock, r.timeline = startBenchCloud(t)
	// The references are written as the stacks' own updates wrote them, well before the
	// graph is created: an hour ago on the emulator's clock. Otherwise a run that follows
	// within the second of the seeding reads them all again (as it should: an update may
	// have landed in that second unseen), which is the bench's haste, not a user's graph.
	clock.shift(-time.Hour)
	var program string
	if sc.shape() == benchShapeDAG {
		program = r.setUpDAG()
	} else {
		program = r.setUpTree()
	}
	clock.shift(0)

	r.w = e2e.NewProgramWorkspace(t, program, r.c)
	// A private copy of the plugin, first on PATH: its processes are the ones sampled.
	r.plugin = e2e.PrivatePlugin(t, r.w)
	if sc.SkipCheckpoints {
		r.w.Env = append(r.w.Env, "PULUMI_SKIP_CHECKPOINTS=true")
	}
	r.c.SetFaults(emulator.Faults{Latency: sc.Latency})
	r.say("%d stacks, %d edges (%d kept), %d resources, %v added latency: ready", sc.Stacks, r.res.Edges,
		r.res.KeptEdges, r.res.Resources, sc.Latency)
	return r
}

// runPhase edits the program for the next phase, runs it and checks the cloud after it.
// Preview and the no-op up are the same for every shape; the other phases are the shape's own.
func (r *benchRunner) runPhase() {
	r.t.Helper()
	name := r.next()
	require.NotEmpty(r.t, name, "%s: every phase has run", r.sc.Name())
	r.nextStep++
	switch {
	case name == benchPhasePreview:
		r.command(name, 0, "preview")
		require.Empty(r.t, withoutMarks(r.c.Webhooks()), "preview wrote webhooks")
	case name == benchPhaseNoop:
		r.command(name, 0, "up", "--yes", "--skip-preview", "--expect-no-changes")
	case name == benchPhaseNoopPreview:
		r.command(name, 0, "preview", "--expect-no-changes")
	case r.dag != nil:
		r.runDAGPhase(name)
	default:
		r.runTreePhase(name)
	}
}

// recordStateSize keeps the size of the stack's exported state, as it is after create.
func (r *benchRunner) recordStateSize() {
	r.t.Helper()
	state, _, err := r.w.RunTimed(r.sc.Timeout, "stack", "export")
	require.NoError(r.t, err, state)
	r.res.StateBytes = len(state)
}

// Writes per edge: a new one is marked on its target, written pending, then put in place
// once checked; a removed one is deleted, then its mark.
const (
	benchWritesPerNewEdge     = 3
	benchWritesPerRemovedEdge = 2
)

// destroy runs the destroy phase, which deletes the given number of edges with their marks,
// and checks that no webhook is left, mark or other.
func (r *benchRunner) destroy(edges int) {
	r.t.Helper()
	r.command(benchPhaseDestroy, benchWritesPerRemovedEdge*edges, "destroy", "--yes", "--skip-preview")
	require.Empty(r.t, r.c.Webhooks())
}

// command runs one CLI command as a phase and records what it cost.
func (r *benchRunner) command(name string, wantWrites int, args ...string) {
	t, c := r.t, r.c
	t.Helper()
	if r.sc.Parallel > 0 {
		args = append(args, "--parallel", strconv.Itoa(r.sc.Parallel))
	}
	c.ResetStats()
	before := r.conns.Load()
	procs := startBenchProcSampler(r.plugin)
	started := time.Now()
	r.timeline.reset(started)
	stopHeartbeat := benchHeartbeat(func() {
		s := c.Stats()
		r.say("%-15s %8.0fs  still running: requests=%d writes=%d webhooks=%d", name, time.Since(started).Seconds(),
			s.Total, s.Writes, len(withoutMarks(c.Webhooks())))
	})
	// RunTimed has a deadline of the scenario's own: the CLI's default five minutes are too
	// short for the 2,000-stack tree.
	out, cliCPU, err := r.w.RunTimed(r.sc.Timeout, args...)
	stopHeartbeat()
	wall := time.Since(started)
	peak, plugins, pluginCPU := procs.finish()
	require.NoError(t, err, "%s: pulumi %s failed after %v:\n%s", r.sc.Name(), strings.Join(args, " "), wall,
		benchTail(out, 4000))
	s := c.Stats()
	p := benchPhase{Name: name, Wall: wall, Walls: []time.Duration{wall}, MinWall: wall, MaxWall: wall,
		Requests: s.Total, Writes: s.Writes, WantWrites: wantWrites, HookLists: s.ByRoute["GET "+benchHooksRoute],
		ByRoute: s.ByRoute, PeakRSSKiB: peak, Plugins: plugins, NewConns: int(r.conns.Load() - before),
		CLICPU: cliCPU, PluginCPU: pluginCPU, Times: r.timeline.times()}
	r.res.Phases = append(r.res.Phases, p)
	r.say("%-15s %8.1fs  requests=%-5d writes=%-5d (want %d) hook-lists=%-4d conns=%-4d cpu=%.1fs plugin-cpu=%.2fs "+
		"plugin-rss=%.1fMB (%d procs)", name, wall.Seconds(), p.Requests, p.Writes, wantWrites, p.HookLists,
		p.NewConns, cliCPU.Seconds(), pluginCPU.Seconds(), float64(peak)/1024, plugins)
}

// benchHeartbeatGap is how often a long phase says it is still running.
const benchHeartbeatGap = 30 * time.Second

// heartbeat calls beat every benchHeartbeatGap until the returned stop is called.
func benchHeartbeat(beat func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(benchHeartbeatGap)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				beat()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func benchTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// benchCountTargets checks the request-count targets, which hold whatever the machine: writes
// equal the edges that changed, an AutoDeployer or DeploymentGraph refresh lists each stack
// of the graph at most once (those with webhooks, and those below them, which the check for
// loops in Pulumi Cloud walks), plus the organization's stack list (and, for a graph derived
// from references, the selected stacks' list), and a DAG's costs follow what changed
// (benchDAGCostMisses). It returns one line per miss.
func benchCountTargets(r benchResult) []string {
	misses := benchDAGCostMisses(r)
	for _, p := range r.Phases {
		if p.Writes != p.WantWrites {
			misses = append(misses, fmt.Sprintf("%s %s: %d writes, want %d (%v)", r.Scenario.Name(), p.Name,
				p.Writes, p.WantWrites, p.ByRoute))
		}
	}
	if r.Scenario.Mode != benchWebhookPerEdge {
		limit, pages := benchRefreshLimit(r)
		if p, ok := r.phase(benchPhaseRefresh); ok && p.Requests > limit {
			misses = append(misses, fmt.Sprintf("%s refresh: %d requests (%d hook lists), want at most %d, one per "+
				"stack of the graph and %d for stack lists (%v)", r.Scenario.Name(), p.Requests, p.HookLists, limit,
				pages, p.ByRoute))
		}
	}
	return misses
}

// benchRefreshLimit is the most requests a refresh should make, and how many of them are
// pages of stack lists: one list per stack of the graph, and the organization's stacks
// listed once (a page per 100, the emulator's page size) to find edges to deleted stacks.
// A graph derived from references lists the selected stacks twice more: its Read brings
// what it knows of them up to date, and the Diff the engine runs after a refresh's Read
// (to compare with the program) works out the graph again. The selection is one project:
// the organization's stacks.
func benchRefreshLimit(r benchResult) (limit, pages int) {
	pages = (r.OrgStacks + 99) / 100
	if r.Scenario.Mode == benchFromReferences {
		pages *= 3
	}
	return r.OrgStacks + pages, pages
}
