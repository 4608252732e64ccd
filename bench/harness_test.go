//go:build e2e

// Package bench holds the benchmarks of BENCHMARKS.md, run by `make bench` and
// `make bench-scale`, and their smoke test, part of `make test-e2e`.
//
// This file is the benchmark harness: a tree of stacks, declared with one AutoDeployer per
// stack, one Webhook per edge, or one DeploymentGraph for the whole tree, taken through create, no-op up,
// refresh, remove-one-ref, reorder-refs and destroy by the real CLI against the emulator.
// Each phase records its wall time, the CPU of the CLI and of the plugin, the API requests
// and writes the emulator counted, the TCP connections it accepted and the plugin's peak
// RSS. A benchRunner runs one phase per call, so TestBench can interleave scenarios.
//
// It is shared by TestBenchSmoke (tag e2e, part of `make test`: counts only) and
// TestBench (tags e2e and bench, `make bench` and `make bench-scale`: counts and times).
// The emulator, the workspaces and the CLI runner are internal/e2e's, as in examples/.
package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The three ways of declaring the same graph.
const (
	benchAutoDeployer    = "AutoDeployer"
	benchWebhookPerEdge  = "Webhook-per-edge"
	benchDeploymentGraph = "DeploymentGraph"
	// benchFromReferences is one DeploymentGraph whose edges come from StackReferences: each
	// stack of the tree reads its parent. Its phases change references, not the program.
	benchFromReferences = "DeploymentGraph-fromStackReferences"
)

// The phases, in the order they run.
const (
	benchPhaseCreate  = "create"
	benchPhaseNoop    = "no-op up"
	benchPhaseRefresh = "refresh"
	benchPhaseRemove  = "remove one ref"
	benchPhaseReorder = "reorder refs"
	benchPhaseDestroy = "destroy"
)

var benchPhases = []string{
	benchPhaseCreate, benchPhaseNoop, benchPhaseRefresh, benchPhaseRemove, benchPhaseReorder, benchPhaseDestroy,
}

const (
	benchHooksRoute = "/api/stacks/{org}/{project}/{stack}/hooks"
	benchSampleGap  = 50 * time.Millisecond
)

// benchScenario is one tree, one way of declaring it, one added latency.
type benchScenario struct {
	Mode     string
	Stacks   int
	Fanout   int
	Latency  time.Duration // added by the emulator to every /api request
	Parallel int           // --parallel; 0 leaves the CLI's default
	// SkipCheckpoints sets PULUMI_SKIP_CHECKPOINTS=true: the engine writes the state once
	// at the end instead of after every step.
	SkipCheckpoints bool
	Timeout         time.Duration // per CLI command
}

func (s benchScenario) Name() string {
	name := fmt.Sprintf("%s/tree-%d/%dms", s.Mode, s.Stacks, s.Latency.Milliseconds())
	if s.Parallel > 0 {
		name += fmt.Sprintf("/p%d", s.Parallel)
	}
	if s.SkipCheckpoints {
		name += "/skip-checkpoints"
	}
	return name
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
}

// benchResult is one scenario's phases plus the facts the targets are checked against.
type benchResult struct {
	Scenario           benchScenario
	Edges              int
	StacksWithWebhooks int
	Resources          int
	// StateBytes is the size of `pulumi stack export` after create: the engine writes
	// about this much after every step.
	StateBytes int
	Phases     []benchPhase
	Runs       int // how many runs were merged into this one
}

func (r benchResult) phase(name string) (benchPhase, bool) {
	for _, p := range r.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return benchPhase{}, false
}

// benchGraphProgram is the tree's edges as one DeploymentGraph, each upstream's list in
// order, or reversed.
func benchGraphProgram(edges [][2]int, reversed bool) string {
	var order []int
	children := map[int][]string{}
	for _, e := range edges {
		if children[e[0]] == nil {
			order = append(order, e[0])
		}
		children[e[0]] = append(children[e[0]], fmt.Sprintf("tree/s%d", e[1]))
	}
	var b strings.Builder
	b.WriteString("name: tree\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n" +
		"    properties:\n      organization: org\n      edges:\n")
	for _, parent := range order {
		list := children[parent]
		if reversed {
			slices.Reverse(list)
		}
		fmt.Fprintf(&b, "        tree/s%d: [%s]\n", parent, strings.Join(list, ", "))
	}
	return b.String()
}

// benchWebhookBlock is one edge as the seed's first way declares it: a Webhook resource.
func benchWebhookBlock(e [2]int) string {
	return fmt.Sprintf(`  deploy-s%[1]d-s%[2]d:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: tree
      stackName: s%[1]d
      format: pulumi_deployments
      payloadUrl: tree/s%[2]d
      active: true
      displayName: deploy s%[2]d after s%[1]d
      filters:
        - update_succeeded
`, e[0], e[1])
}

func benchWebhookProgram(blocks []string) string {
	return "name: tree\nruntime: yaml\nresources:\n" + strings.Join(blocks, "")
}

var benchRefLine = regexp.MustCompile(`^        - \$\{s\d+\.ref\}$`)

// benchReverseRefLists reverses every AutoDeployer's downstreamRefs list in a treeProgram.
func benchReverseRefLists(program string) string {
	lines := strings.Split(program, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && benchRefLine.MatchString(lines[j]) {
			j++
		}
		if j > i {
			slices.Reverse(lines[i:j])
			i = j
		} else {
			i++
		}
	}
	return strings.Join(lines, "\n")
}

// startBenchCloud is e2e.StartCloud whose server also counts the TCP connections it
// accepts, which shows whether the plugin keeps its connections alive.
func startBenchCloud(t *testing.T) (*e2e.Cloud, *atomic.Int64) {
	t.Helper()
	conns := &atomic.Int64{}
	c := e2e.StartCloud(t, emulatortest.WithHTTPServer(func(hs *http.Server) {
		hs.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				conns.Add(1)
			}
		}
	}))
	return c, conns
}

// benchProcSampler watches, for one phase, every process whose executable is path: the
// highest VmHWM (the kernel's resident-set high-water mark) and the CPU time of each. A
// process that lives less than one sample gap may be missed, so both are sampled lower
// bounds.
type benchProcSampler struct {
	path string
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	peak int64
	cpu  map[int]time.Duration // user+system time of each process, as last read
}

func startBenchProcSampler(path string) *benchProcSampler {
	s := &benchProcSampler{path: path, stop: make(chan struct{}), done: make(chan struct{}), cpu: map[int]time.Duration{}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(benchSampleGap)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *benchProcSampler) sample() {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err != nil || exe != s.path {
			continue
		}
		hwm := benchReadPeakRSS(filepath.Join(dir, "status"))
		cpu := benchReadCPUTime(filepath.Join(dir, "stat"))
		s.mu.Lock()
		s.peak = max(s.peak, hwm)
		s.cpu[pid] = max(s.cpu[pid], cpu)
		s.mu.Unlock()
	}
}

// finish stops sampling and returns the peak VmHWM in KiB, the processes seen and
// their CPU time.
func (s *benchProcSampler) finish() (int64, int, time.Duration) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var cpu time.Duration
	for _, d := range s.cpu {
		cpu += d
	}
	return s.peak, len(s.cpu), cpu
}

// benchReadPeakRSS returns the VmHWM (peak resident set size) line of /proc/<pid>/status in KiB, or 0.
func benchReadPeakRSS(status string) int64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// benchReadCPUTime returns utime+stime from /proc/<pid>/stat, or 0.
func benchReadCPUTime(stat string) time.Duration {
	data, err := os.ReadFile(stat)
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; the fields after it start past ")".
	_, rest, ok := strings.Cut(string(data), ") ")
	if !ok {
		return 0
	}
	fields := strings.Fields(rest) // fields[0] is field 3 (state): utime is 14, stime 15
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / benchClockTicks
}

// benchClockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux Go runs on.
const benchClockTicks = 100

// benchRunner is one scenario set up and ready to run its phases in order, one call of
// runPhase each, so that callers can interleave the phases of several scenarios.
type benchRunner struct {
	t        *testing.T
	sc       benchScenario
	say      func(format string, args ...any)
	c        *e2e.Cloud
	conns    *atomic.Int64
	w        *e2e.Workspace
	plugin   string
	edges    [][2]int
	blocks   []string // the Webhook-per-edge program, one resource per block
	res      benchResult
	nextStep int
}

// runBench takes one scenario through every phase. progress, if set, hears about each
// phase as it ends. It fails the test when a command fails or the cloud does not hold
// the graph it should; it does not judge counts or times, the callers do.
func runBench(t *testing.T, sc benchScenario, progress func(string)) benchResult {
	t.Helper()
	r := newBenchRunner(t, sc, progress)
	for range benchPhases {
		r.runPhase()
	}
	return r.res
}

// newBenchRunner seeds an emulator with the tree's stacks and writes the program.
func newBenchRunner(t *testing.T, sc benchScenario, progress func(string)) *benchRunner {
	t.Helper()
	if sc.Timeout == 0 {
		sc.Timeout = 10 * time.Minute
	}
	r := &benchRunner{t: t, sc: sc, edges: e2e.TreeEdges(sc.Stacks, sc.Fanout)}
	r.say = func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf("[%s] %s", sc.Name(), fmt.Sprintf(format, args...)))
		}
	}
	r.c, r.conns = startBenchCloud(t)
	parents := map[int]bool{}
	for _, e := range r.edges {
		parents[e[0]] = true
	}
	r.res = benchResult{Scenario: sc, Edges: len(r.edges), StacksWithWebhooks: len(parents), Runs: 1,
		Resources: sc.Stacks}

	// TreeProgram seeds the stacks either way; the Webhook-per-edge program replaces its text.
	program := e2e.TreeProgram(t, r.c, sc.Stacks, sc.Fanout)
	switch sc.Mode {
	case benchWebhookPerEdge:
		for _, e := range r.edges {
			r.blocks = append(r.blocks, benchWebhookBlock(e))
		}
		program = benchWebhookProgram(r.blocks)
		r.res.Resources = len(r.edges)
	case benchDeploymentGraph:
		program = benchGraphProgram(r.edges, false)
		r.res.Resources = 1
	case benchFromReferences:
		for _, e := range r.edges {
			require.NoError(t, r.c.AddStackReference("org", "tree", fmt.Sprintf("s%d", e[1]), "tree",
				fmt.Sprintf("s%d", e[0])))
		}
		program = "name: tree\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n" +
			"    properties:\n      organization: org\n      fromStackReferences:\n        projects: [tree]\n"
		r.res.Resources = 1
	}

	r.w = e2e.NewProgramWorkspace(t, program, r.c)
	// A private copy of the plugin, first on PATH: its processes are the ones sampled.
	r.plugin = e2e.PrivatePlugin(t, r.w)
	if sc.SkipCheckpoints {
		r.w.Env = append(r.w.Env, "PULUMI_SKIP_CHECKPOINTS=true")
	}
	r.c.SetFaults(emulator.Faults{Latency: sc.Latency})
	r.say("%d stacks, %d edges, %d resources, %v added latency: ready", sc.Stacks, len(r.edges), r.res.Resources,
		sc.Latency)
	return r
}

// runPhase edits the program for the next phase, runs it and checks the cloud after it.
func (r *benchRunner) runPhase() {
	t, w, c := r.t, r.w, r.c
	t.Helper()
	name := benchPhases[r.nextStep]
	r.nextStep++
	up := []string{"up", "--yes", "--skip-preview"}
	switch name {
	case benchPhaseCreate:
		r.command(name, len(r.edges), up...)
		e2e.AssertTree(t, c, r.sc.Stacks, r.sc.Fanout)
		state, _, err := w.RunTimed(r.sc.Timeout, "stack", "export")
		require.NoError(t, err, state)
		r.res.StateBytes = len(state)
	case benchPhaseNoop:
		r.command(name, 0, append(up, "--expect-no-changes")...)
	case benchPhaseRefresh:
		r.command(name, 0, "refresh", "--yes", "--skip-preview")
	case benchPhaseRemove:
		// The last edge goes: one ref line, one Webhook block, or one element of the graph.
		switch r.sc.Mode {
		case benchWebhookPerEdge:
			r.blocks = r.blocks[:len(r.blocks)-1]
			w.WriteProgram(benchWebhookProgram(r.blocks))
		case benchDeploymentGraph:
			w.WriteProgram(benchGraphProgram(r.edges[:len(r.edges)-1], false))
		case benchFromReferences:
			last := r.edges[len(r.edges)-1]
			require.NoError(t, c.RemoveStackReference("org", "tree", fmt.Sprintf("s%d", last[1]), "tree",
				fmt.Sprintf("s%d", last[0])))
		default:
			w.Edit(fmt.Sprintf("        - ${s%d.ref}\n", r.edges[len(r.edges)-1][1]), "")
		}
		r.command(name, 1, up...)
		require.Len(t, c.Webhooks(), len(r.edges)-1)
	case benchPhaseReorder:
		// Every refs list reversed, or every Webhook block in reverse order.
		switch r.sc.Mode {
		case benchWebhookPerEdge:
			slices.Reverse(r.blocks)
			w.WriteProgram(benchWebhookProgram(r.blocks))
		case benchDeploymentGraph:
			w.WriteProgram(benchGraphProgram(r.edges[:len(r.edges)-1], true))
		case benchFromReferences: // nothing to reorder: the run reads the same references again
		default:
			w.WriteProgram(benchReverseRefLists(w.ReadProgram()))
		}
		r.command(name, 0, append(up, "--expect-no-changes")...)
	case benchPhaseDestroy:
		r.command(name, len(r.edges)-1, "destroy", "--yes", "--skip-preview")
		require.Empty(t, c.Webhooks())
	}
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
	stopHeartbeat := benchHeartbeat(func() {
		s := c.Stats()
		r.say("%-15s %8.0fs  still running: requests=%d writes=%d webhooks=%d", name, time.Since(started).Seconds(),
			s.Total, s.Writes, len(c.Webhooks()))
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
		CLICPU: cliCPU, PluginCPU: pluginCPU}
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
// equal the edges that changed, and an AutoDeployer or DeploymentGraph refresh makes at
// most one request per stack that has webhooks, plus the organization's stack list. It returns one line per miss.
func benchCountTargets(r benchResult) []string {
	var misses []string
	for _, p := range r.Phases {
		if p.Writes != p.WantWrites {
			misses = append(misses, fmt.Sprintf("%s %s: %d writes, want %d (%v)", r.Scenario.Name(), p.Name,
				p.Writes, p.WantWrites, p.ByRoute))
		}
	}
	if r.Scenario.Mode != benchWebhookPerEdge {
		// One list per stack with webhooks, and the organization's stacks listed once (a page
		// per 100, the emulator's page size) to find edges to deleted stacks.
		stackPages := (r.Scenario.Stacks + 99) / 100
		if p, ok := r.phase(benchPhaseRefresh); ok && p.Requests > r.StacksWithWebhooks+stackPages {
			misses = append(misses, fmt.Sprintf("%s refresh: %d requests (%d hook lists), want at most %d, one per "+
				"stack with webhooks and %d for the organization's stacks", r.Scenario.Name(), p.Requests,
				p.HookLists, r.StacksWithWebhooks+stackPages, stackPages))
		}
	}
	return misses
}
