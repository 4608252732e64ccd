//go:build e2e || bench

// The benchmark harness: one dependency tree of stacks, declared either with one
// AutoDeployer per stack or with one Webhook per edge, taken through create, no-op up,
// refresh, remove-one-ref, reorder-refs and destroy by the real CLI against the
// emulator. Each phase records its wall time, the API requests and writes the emulator
// counted, the new TCP connections it accepted and the plugin's peak RSS.
//
// It is shared by TestBenchSmoke (tag e2e, part of `make test`: counts only) and
// TestBench (tag bench, `make bench` and `make bench-scale`: counts and times). It uses
// the e2e helpers, so the bench build passes both tags: -tags "e2e bench".

package examples

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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
)

// The two ways of declaring the same graph.
const (
	modeAutoDeployer = "AutoDeployer"
	modeWebhook      = "Webhook-per-edge"
)

// The phases, in the order they run.
const (
	phaseCreate  = "create"
	phaseNoop    = "no-op up"
	phaseRefresh = "refresh"
	phaseRemove  = "remove one ref"
	phaseReorder = "reorder refs"
	phaseDestroy = "destroy"
)

var benchPhases = []string{phaseCreate, phaseNoop, phaseRefresh, phaseRemove, phaseReorder, phaseDestroy}

const (
	hooksRoute   = "/api/stacks/{org}/{project}/{stack}/hooks"
	rssSampleGap = 50 * time.Millisecond
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
	// spread (see mergeRuns); Wall is then the median.
	Walls            []time.Duration
	MinWall, MaxWall time.Duration
	Requests         int
	Writes           int
	WantWrites       int
	HookLists        int // GET of a stack's webhook list
	ByRoute          map[string]int
	PeakRSSKiB       int64 // highest VmHWM of any plugin process, sampled every rssSampleGap
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

// treeEdges lists the tree's edges parent → child, as treeProgram builds them.
func treeEdges(n, fanout int) [][2]int {
	var out [][2]int
	for i := range n {
		for child := fanout*i + 1; child <= fanout*i+fanout && child < n; child++ {
			out = append(out, [2]int{i, child})
		}
	}
	return out
}

// webhookBlock is one edge as the seed's first way declares it: a Webhook resource.
func webhookBlock(e [2]int) string {
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

func webhookProgram(blocks []string) string {
	return "name: tree\nruntime: yaml\nresources:\n" + strings.Join(blocks, "")
}

var refLine = regexp.MustCompile(`^        - \$\{s\d+\.ref\}$`)

// reverseRefLists reverses every AutoDeployer's downstreamRefs list in a treeProgram.
func reverseRefLists(program string) string {
	lines := strings.Split(program, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && refLine.MatchString(lines[j]) {
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

// startBenchCloud is startCloud whose server also counts the TCP connections it accepts,
// which shows whether the plugin keeps its connections alive.
func startBenchCloud(t *testing.T) (*cloud, *atomic.Int64) {
	t.Helper()
	srv := emulator.New(emulator.Options{Token: testToken})
	conns := &atomic.Int64{}
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return &cloud{Server: srv, URL: hs.URL}, conns
}

// procSampler watches, for one phase, every process whose executable is path: the
// highest VmHWM (the kernel's resident-set high-water mark) and the CPU time of each. A
// process that lives less than one sample gap may be missed, so both are sampled lower
// bounds.
type procSampler struct {
	path string
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	peak int64
	cpu  map[int]time.Duration // user+system time of each process, as last read
}

func startProcSampler(path string) *procSampler {
	s := &procSampler{path: path, stop: make(chan struct{}), done: make(chan struct{}), cpu: map[int]time.Duration{}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(rssSampleGap)
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

func (s *procSampler) sample() {
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
		hwm := readVmHWM(filepath.Join(dir, "status"))
		cpu := readCPUTime(filepath.Join(dir, "stat"))
		s.mu.Lock()
		s.peak = max(s.peak, hwm)
		s.cpu[pid] = max(s.cpu[pid], cpu)
		s.mu.Unlock()
	}
}

// finish stops sampling and returns the peak VmHWM in KiB, the processes seen and
// their CPU time.
func (s *procSampler) finish() (int64, int, time.Duration) {
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

// readVmHWM returns the VmHWM line of /proc/<pid>/status in KiB, or 0.
func readVmHWM(status string) int64 {
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

// readCPUTime returns utime+stime from /proc/<pid>/stat, or 0.
func readCPUTime(stat string) time.Duration {
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
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux Go runs on.
const clockTicks = 100

// benchRunner is one scenario set up and ready to run its phases in order, one call of
// runPhase each, so that callers can interleave the phases of several scenarios.
type benchRunner struct {
	t        *testing.T
	sc       benchScenario
	say      func(format string, args ...any)
	c        *cloud
	conns    *atomic.Int64
	w        *workspace
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
	r := &benchRunner{t: t, sc: sc, edges: treeEdges(sc.Stacks, sc.Fanout)}
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

	// treeProgram seeds the stacks either way; the Webhook-per-edge program replaces its text.
	program := treeProgram(t, r.c, sc.Stacks, sc.Fanout)
	if sc.Mode == modeWebhook {
		for _, e := range r.edges {
			r.blocks = append(r.blocks, webhookBlock(e))
		}
		program = webhookProgram(r.blocks)
		r.res.Resources = len(r.edges)
	}

	// A private copy of the plugin, first on PATH: its processes are the ones sampled.
	private := t.TempDir()
	r.plugin = filepath.Join(private, "pulumi-resource-auto-deploy")
	copyFile(t, filepath.Join(binDir(t), "pulumi-resource-auto-deploy"), r.plugin)
	r.w = newProgramWorkspace(t, program, r.c)
	r.w.prependPath(private)
	if sc.SkipCheckpoints {
		r.w.env = append(r.w.env, "PULUMI_SKIP_CHECKPOINTS=true")
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
	case phaseCreate:
		r.command(name, len(r.edges), up...)
		assertTree(t, c, r.sc.Stacks, r.sc.Fanout)
		state, _, err := benchCLI(w, r.sc.Timeout, "stack", "export")
		require.NoError(t, err, state)
		r.res.StateBytes = len(state)
	case phaseNoop:
		r.command(name, 0, append(up, "--expect-no-changes")...)
	case phaseRefresh:
		r.command(name, 0, "refresh", "--yes", "--skip-preview")
	case phaseRemove:
		// The last edge goes: one ref line, or one Webhook block.
		if r.sc.Mode == modeWebhook {
			r.blocks = r.blocks[:len(r.blocks)-1]
			writeProgram(t, w, webhookProgram(r.blocks))
		} else {
			w.edit(fmt.Sprintf("        - ${s%d.ref}\n", r.edges[len(r.edges)-1][1]), "")
		}
		r.command(name, 1, up...)
		require.Len(t, c.Webhooks(), len(r.edges)-1)
	case phaseReorder:
		// Every refs list reversed, or every Webhook block in reverse order.
		if r.sc.Mode == modeWebhook {
			slices.Reverse(r.blocks)
			writeProgram(t, w, webhookProgram(r.blocks))
		} else {
			writeProgram(t, w, reverseRefLists(readProgram(t, w)))
		}
		r.command(name, 0, append(up, "--expect-no-changes")...)
	case phaseDestroy:
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
	procs := startProcSampler(r.plugin)
	started := time.Now()
	stopHeartbeat := heartbeat(func() {
		s := c.Stats()
		r.say("%-15s %8.0fs  still running: requests=%d writes=%d webhooks=%d", name, time.Since(started).Seconds(),
			s.Total, s.Writes, len(c.Webhooks()))
	})
	out, cliCPU, err := benchCLI(r.w, r.sc.Timeout, args...)
	stopHeartbeat()
	wall := time.Since(started)
	peak, plugins, pluginCPU := procs.finish()
	require.NoError(t, err, "%s: pulumi %s failed after %v:\n%s", r.sc.Name(), strings.Join(args, " "), wall,
		tail(out, 4000))
	s := c.Stats()
	p := benchPhase{Name: name, Wall: wall, Walls: []time.Duration{wall}, MinWall: wall, MaxWall: wall,
		Requests: s.Total, Writes: s.Writes, WantWrites: wantWrites, HookLists: s.ByRoute["GET "+hooksRoute],
		ByRoute: s.ByRoute, PeakRSSKiB: peak, Plugins: plugins, NewConns: int(r.conns.Load() - before),
		CLICPU: cliCPU, PluginCPU: pluginCPU}
	r.res.Phases = append(r.res.Phases, p)
	r.say("%-15s %8.1fs  requests=%-5d writes=%-5d (want %d) hook-lists=%-4d conns=%-4d cpu=%.1fs plugin-cpu=%.2fs "+
		"plugin-rss=%.1fMB (%d procs)", name, wall.Seconds(), p.Requests, p.Writes, wantWrites, p.HookLists,
		p.NewConns, cliCPU.Seconds(), pluginCPU.Seconds(), float64(peak)/1024, plugins)
}

// heartbeatGap is how often a long phase says it is still running.
const heartbeatGap = 30 * time.Second

// heartbeat calls beat every heartbeatGap until the returned stop is called.
func heartbeat(beat func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(heartbeatGap)
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

// benchCLI runs the CLI with a deadline of its own: w.run's five minutes are too short
// for the 2,000-stack tree.
// It also returns the CPU time of the command and of the children it reaped.
func benchCLI(w *workspace, timeout time.Duration, args ...string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(w.t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, "pulumi"), append(args, "--non-interactive")...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return out.String(), cpu, err
}

func readProgram(t *testing.T, w *workspace) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(w.dir, "Pulumi.yaml"))
	require.NoError(t, err)
	return string(data)
}

func writeProgram(t *testing.T, w *workspace, program string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "Pulumi.yaml"), []byte(program), 0o600))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// countTargets checks the request-count targets, which hold whatever the machine: writes
// equal the edges that changed, and an AutoDeployer refresh makes at most one request
// per stack that has webhooks. It returns one line per miss.
func countTargets(r benchResult) []string {
	var misses []string
	for _, p := range r.Phases {
		if p.Writes != p.WantWrites {
			misses = append(misses, fmt.Sprintf("%s %s: %d writes, want %d (%v)", r.Scenario.Name(), p.Name,
				p.Writes, p.WantWrites, p.ByRoute))
		}
	}
	if r.Scenario.Mode == modeAutoDeployer {
		if p, ok := r.phase(phaseRefresh); ok && p.Requests > r.StacksWithWebhooks {
			misses = append(misses, fmt.Sprintf("%s refresh: %d requests (%d hook lists), want at most %d, one per "+
				"stack with webhooks", r.Scenario.Name(), p.Requests, p.HookLists, r.StacksWithWebhooks))
		}
	}
	return misses
}
