//go:build e2e && bench

package bench

// TestBench measures the scenarios of BENCHMARKS.md. Run it through make, which builds
// bin/ and passes both build tags (e2e for the harness, bench for this file):
//
//	make bench        # trees of 6 and 301 stacks, all three ways, 20 ms and 0 ms, 3 rounds
//	make bench-scale  # the 2,000-stack tree as one DeploymentGraph (declared and from references,
//	                  # each with a preview first) and as AutoDeployers, the 2,000-stack layered
//	                  # DAG as one DeploymentGraph both ways, and 10,000 edges in one
//	                  # DeploymentGraph, 1 round
//
// or directly:
//
//	AUTO_DEPLOY_BIN=$PWD/bin go test -tags "e2e bench" -run '^TestBench$' -timeout 60m -v ./bench/
//
// Environment:
//
//	BENCH_SCALE=1             the 2,000-stack scenarios instead of the default set
//	BENCH_SCALE_WEBHOOK=1     with BENCH_SCALE, the same tree as one Webhook per edge too
//	BENCH_ONLY=regexp         only scenarios whose name matches, e.g. "AutoDeployer/tree-301"
//	BENCH_PARALLEL=N          pass --parallel N to every command (default: the CLI's own, 8 here)
//	BENCH_SKIP_CHECKPOINTS=1  run the CLI with PULUMI_SKIP_CHECKPOINTS=true
//	BENCH_REPEAT=N            rounds (default 3; 1 with BENCH_SCALE); times are medians
//	BENCH_OUT=file            also write the markdown report there
//
// It fails only when a command fails or the cloud ends up wrong; the targets are
// reported as PASS or MISS in the output, since times depend on the machine.

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func benchScenarios(t *testing.T) []benchScenario {
	t.Helper()
	var out []benchScenario
	if os.Getenv("BENCH_SCALE") == "1" {
		// The trees' DeploymentGraphs preview first, to set the DAG's preview against.
		out = []benchScenario{
			{Mode: benchDeploymentGraph, Stacks: 2000, Fanout: 3, Preview: true},
			{Mode: benchAutoDeployer, Stacks: 2000, Fanout: 3},
			// What discovering the graph from StackReferences costs at every run.
			{Mode: benchFromReferences, Stacks: 2000, Fanout: 3, Preview: true},
			// A real graph's shape: 20 layers of 100 stacks, paths meeting everywhere.
			benchDAGScenario(benchDeploymentGraph, 20, 100),
			benchDAGScenario(benchFromReferences, 20, 100),
			// 10,000 edges in one resource: that it completes, and its memory and time.
			{Mode: benchDeploymentGraph, Stacks: 10001, Fanout: 3},
		}
		if os.Getenv("BENCH_SCALE_WEBHOOK") == "1" {
			out = append(out, benchScenario{Mode: benchWebhookPerEdge, Stacks: 2000, Fanout: 3})
		}
		for i := range out {
			out[i].Latency, out[i].Timeout = 20*time.Millisecond, 60*time.Minute
		}
	} else {
		for _, sc := range []struct {
			stacks  int
			latency time.Duration
		}{{6, 20 * time.Millisecond}, {301, 20 * time.Millisecond}, {301, 0}} {
			for _, mode := range []string{benchAutoDeployer, benchWebhookPerEdge, benchDeploymentGraph} {
				out = append(out, benchScenario{Mode: mode, Stacks: sc.stacks, Fanout: 3, Latency: sc.latency})
			}
			if sc.stacks == 301 && sc.latency > 0 {
				out = append(out, benchScenario{Mode: benchFromReferences, Stacks: 301, Fanout: 3, Latency: sc.latency})
			}
		}
	}
	parallel := 0
	if v := os.Getenv("BENCH_PARALLEL"); v != "" {
		var err error
		parallel, err = strconv.Atoi(v)
		require.NoError(t, err, "BENCH_PARALLEL")
	}
	var only *regexp.Regexp
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		only = regexp.MustCompile(v)
	}
	var selected []benchScenario
	for _, sc := range out {
		sc.Parallel = parallel
		sc.SkipCheckpoints = os.Getenv("BENCH_SKIP_CHECKPOINTS") == "1"
		if only == nil || only.MatchString(sc.Name()) {
			selected = append(selected, sc)
		}
	}
	require.NotEmpty(t, selected, "BENCH_ONLY=%q matches no scenario", os.Getenv("BENCH_ONLY"))
	return selected
}

func TestBench(t *testing.T) {
	scenarios := benchScenarios(t)
	repeat := 3
	if os.Getenv("BENCH_SCALE") == "1" {
		repeat = 1
	}
	if v := os.Getenv("BENCH_REPEAT"); v != "" {
		var err error
		repeat, err = strconv.Atoi(v)
		require.NoError(t, err, "BENCH_REPEAT")
	}
	started := time.Now()
	loadBefore := benchLoadAverage()
	progress := func(line string) {
		fmt.Printf("%7.1fs %s\n", time.Since(started).Seconds(), line)
	}
	// Every round sets up all scenarios, then runs each phase in all of them before the
	// next phase, the scenario order rotating from round to round: a slow spell of a shared
	// machine then hits the scenarios being compared alike.
	runs := make([][]benchResult, len(scenarios))
	for round := range repeat {
		progress(fmt.Sprintf("round %d of %d: setting up %d scenarios", round+1, repeat, len(scenarios)))
		runners := make([]*benchRunner, len(scenarios))
		for i, sc := range scenarios {
			runners[i] = newBenchRunner(t, sc, progress)
		}
		for _, phase := range benchPhaseOrder {
			progress(fmt.Sprintf("round %d of %d: %s", round+1, repeat, phase))
			for k := range runners {
				if r := runners[(k+round)%len(runners)]; r.next() == phase {
					r.runPhase()
				}
			}
		}
		for i, r := range runners {
			runs[i] = append(runs[i], r.res)
		}
	}
	var results []benchResult
	for _, r := range runs {
		if len(r) > 0 {
			results = append(results, benchMergeRuns(r))
		}
	}
	report := benchReport(results, time.Since(started), loadBefore, benchLoadAverage())
	fmt.Println(report)
	if path := os.Getenv("BENCH_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644))
	}
}

// benchMergeRuns folds repeated runs of one scenario into one result: the median wall and
// CPU times (the spread kept), and the worst of the counts, so a miss in any run shows.
func benchMergeRuns(runs []benchResult) benchResult {
	out := runs[0]
	out.Runs = len(runs)
	out.Phases = slices.Clone(runs[0].Phases)
	for i := range out.Phases {
		var walls, cpus, pluginCPUs []time.Duration
		m := &out.Phases[i]
		for _, r := range runs {
			if i >= len(r.Phases) {
				continue
			}
			p := r.Phases[i]
			walls, cpus, pluginCPUs = append(walls, p.Wall), append(cpus, p.CLICPU), append(pluginCPUs, p.PluginCPU)
			if benchAbs(p.Writes-p.WantWrites) > benchAbs(m.Writes-m.WantWrites) {
				m.Writes, m.ByRoute = p.Writes, p.ByRoute
			}
			m.Requests, m.HookLists = max(m.Requests, p.Requests), max(m.HookLists, p.HookLists)
			m.NewConns, m.Plugins = max(m.NewConns, p.NewConns), max(m.Plugins, p.Plugins)
			m.PeakRSSKiB = max(m.PeakRSSKiB, p.PeakRSSKiB)
		}
		m.Walls = walls
		m.Wall, m.CLICPU, m.PluginCPU = benchMedian(walls), benchMedian(cpus), benchMedian(pluginCPUs)
		m.MinWall, m.MaxWall = slices.Min(walls), slices.Max(walls)
		nearest := 0 // the run whose wall time is nearest the median
		for k, r := range runs {
			if i < len(r.Phases) && (r.Phases[i].Wall-m.Wall).Abs() < (runs[nearest].Phases[i].Wall-m.Wall).Abs() {
				nearest = k
			}
		}
		m.Times = runs[nearest].Phases[i].Times
	}
	return out
}

func benchMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func benchAbs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// benchLoadAverage is /proc/loadavg's 1, 5 and 15 minute figures: other work on the machine.
func benchLoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func benchParallelFlag(results []benchResult) string {
	if len(results) > 0 && results[0].Scenario.Parallel > 0 {
		return strconv.Itoa(results[0].Scenario.Parallel)
	}
	return "unset (the CLI's default: 8 on this machine)"
}

// machine describes where the numbers come from: CPU model, cores, memory, OS.
func benchMachine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				mem = fmt.Sprintf(", %.0f GiB RAM", float64(kib)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s, %s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH,
		runtime.Version())
}

func benchCLIVersion() string {
	bin := os.Getenv("AUTO_DEPLOY_BIN")
	out, err := exec.Command(bin+"/pulumi", "version").Output()
	if err != nil {
		return "(unknown version)"
	}
	return strings.TrimSpace(string(out))
}
