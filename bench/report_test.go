//go:build e2e && bench

package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// benchReport renders the results as the markdown of BENCHMARKS.md.
func benchReport(results []benchResult, total time.Duration, loadBefore, loadAfter string) string {
	var b strings.Builder
	pr := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	pr("## Run of %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	pr("- Machine: %s\n", benchMachine())
	pr("- Pulumi CLI %s, YAML language host, provider plugin from bin/; `--skip-preview` on every up, refresh "+
		"and destroy (the preview phase is `pulumi preview`); "+
		"--parallel %s\n", benchCLIVersion(), benchParallelFlag(results))
	runs := 1
	if len(results) > 0 {
		runs = results[0].Runs
	}
	pr("- Each scenario run %d time(s), in rounds; times are medians, with the min–max spread\n", runs)
	pr("- Load average (1, 5, 15 min) before: %s, after: %s\n", loadBefore, loadAfter)
	pr("- Total wall time: %.0f s\n\n", total.Seconds())

	pr("### Scenarios\n\nEdges: declared or referenced; kept: the webhooks after create, without the edges longer " +
		"paths imply (the harness checks them against its own transitive reduction).\n\n")
	pr("| Scenario | Stacks | Edges | Edges kept | Resources | Stacks with webhooks | State after create (KB) |\n")
	pr("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		pr("| %s | %d | %d | %d | %d | %d | %.0f |\n", r.Scenario.Name(), r.Scenario.Stacks, r.Edges, r.KeptEdges,
			r.Resources, r.StacksWithWebhooks, float64(r.StateBytes)/1024)
	}

	pr("\n### Phases\n\n")
	pr("| Scenario | Phase | Wall (s) | Spread (s) | CLI CPU (s) | Plugin CPU (s) | Requests | Writes (want) | " +
		"Hook lists | New conns | Peak plugin RSS (MB) |\n")
	pr("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		for _, p := range r.Phases {
			mark := ""
			if p.Writes != p.WantWrites {
				mark = " ✗"
			}
			pr("| %s | %s | %.1f | %.1f–%.1f | %.1f | %.2f | %d | %d (%d)%s | %d | %d | %.1f |\n", r.Scenario.Name(),
				p.Name, p.Wall.Seconds(), p.MinWall.Seconds(), p.MaxWall.Seconds(), p.CLICPU.Seconds(),
				p.PluginCPU.Seconds(), p.Requests, p.Writes, p.WantWrites, mark, p.HookLists, p.NewConns,
				float64(p.PeakRSSKiB)/1024)
		}
		var cpu, pluginCPU time.Duration
		for _, p := range r.Phases {
			cpu, pluginCPU = cpu+p.CLICPU, pluginCPU+p.PluginCPU
		}
		pr("| %s | **total** | **%.1f** | | %.1f | %.2f | %d | %d | | | %.1f |\n", r.Scenario.Name(),
			benchSumWall(r).Seconds(), cpu.Seconds(), pluginCPU.Seconds(), benchSum(r, benchRequests),
			benchSum(r, benchWrites), float64(benchPeakRSS(r))/1024)
	}

	// AutoDeployer against Webhook-per-edge, same tree and latency.
	pairs := benchModePairs(results, benchAutoDeployer, benchWebhookPerEdge)
	if len(pairs) > 0 {
		pr("\n### AutoDeployer vs one Webhook per edge\n\n")
		pr("Time ratio = Webhook-per-edge wall time / AutoDeployer wall time, the median of the per-round ratios " +
			"(above 1: AutoDeployer faster).\n\n")
		pr("| Tree, latency | Phase | AutoDeployer (s) | Webhook-per-edge (s) | Time ratio | Requests AD / WH |\n")
		pr("|---|---|---:|---:|---:|---:|\n")
		benchPairRows(pr, pairs, benchTreeLabel, func(pa, pw benchPhase) string {
			return fmt.Sprintf("%.1f | %.1f | %.2f | %d / %d", pa.Wall.Seconds(), pw.Wall.Seconds(),
				benchPairedRatio(pw, pa), pa.Requests, pw.Requests)
		}, func(a, w benchResult) string {
			return fmt.Sprintf("%.1f | %.1f | %.2f | %d / %d", benchSumWall(a).Seconds(), benchSumWall(w).Seconds(),
				benchTotalRatio(w, a), benchSum(a, benchRequests), benchSum(w, benchRequests))
		})
	}

	// DeploymentGraph against AutoDeployer (and Webhook-per-edge), same tree and latency.
	graphPairs := benchModePairs(results, benchDeploymentGraph, benchAutoDeployer)
	if len(graphPairs) > 0 {
		pr("\n### DeploymentGraph vs one AutoDeployer per stack\n\n")
		pr("Time ratio = DeploymentGraph wall time / AutoDeployer wall time, the median of the per-round ratios " +
			"(below 1: DeploymentGraph faster).\n\n")
		pr("| Tree, latency | Phase | DeploymentGraph (s) | AutoDeployer (s) | Time ratio | Requests DG / AD | " +
			"Writes DG / AD |\n")
		pr("|---|---|---:|---:|---:|---:|---:|\n")
		benchPairRows(pr, graphPairs, benchTreeLabel, func(pg, pa benchPhase) string {
			return fmt.Sprintf("%.1f | %.1f | %.2f | %d / %d | %d / %d", pg.Wall.Seconds(), pa.Wall.Seconds(),
				benchPairedRatio(pg, pa), pg.Requests, pa.Requests, pg.Writes, pa.Writes)
		}, func(g, a benchResult) string {
			return fmt.Sprintf("%.1f | %.1f | %.2f | %d / %d | %d / %d", benchSumWall(g).Seconds(),
				benchSumWall(a).Seconds(), benchTotalRatio(g, a), benchSum(g, benchRequests), benchSum(a, benchRequests),
				benchSum(g, benchWrites), benchSum(a, benchWrites))
		})
	}

	// Added latency against none, same tree and way.
	var latencyPairs [][2]benchResult
	for _, slow := range results {
		for _, fast := range results {
			sameWay := slow.Scenario.Mode == fast.Scenario.Mode && slow.Scenario.Stacks == fast.Scenario.Stacks &&
				slow.Scenario.shape() == fast.Scenario.shape() &&
				slow.Scenario.Parallel == fast.Scenario.Parallel &&
				slow.Scenario.SkipCheckpoints == fast.Scenario.SkipCheckpoints
			if sameWay && slow.Scenario.Latency > 0 && fast.Scenario.Latency == 0 {
				latencyPairs = append(latencyPairs, benchPair(slow, fast))
			}
		}
	}
	if len(latencyPairs) > 0 {
		pr("\n### Added latency against none (the engine floor)\n\n")
		pr("Overhead = the median of the per-round ratios of the two wall times, minus one.\n\n")
		pr("| Way, tree | Phase | 0 ms (s) | 20 ms (s) | Overhead |\n|---|---|---:|---:|---:|\n")
		benchPairRows(pr, latencyPairs, func(slow benchResult) string {
			return fmt.Sprintf("%s, tree-%d", slow.Scenario.Mode, slow.Scenario.Stacks)
		}, func(ps, pf benchPhase) string {
			return fmt.Sprintf("%.1f | %.1f | %+.0f%%", pf.Wall.Seconds(), ps.Wall.Seconds(), 100*(benchPairedRatio(ps, pf)-1))
		}, func(slow, fast benchResult) string {
			return fmt.Sprintf("%.1f | %.1f | %+.0f%%", benchSumWall(fast).Seconds(), benchSumWall(slow).Seconds(),
				100*(benchTotalRatio(slow, fast)-1))
		})
	}

	benchDAGSections(pr, results)
	benchRouteSection(pr, results)
	benchTimeSection(pr, results)

	pr("\n### Targets\n\n| Target | Result |\n|---|---|\n")
	for _, line := range benchTargetLines(results, pairs, graphPairs, latencyPairs) {
		pr("| %s | %s |\n", line[0], line[1])
	}
	return b.String()
}

// benchModePairs pairs each result of mode first with each result of mode second that ran the same setup,
// as benchPair does.
func benchModePairs(results []benchResult, first, second string) [][2]benchResult {
	var pairs [][2]benchResult
	for _, a := range results {
		for _, b := range results {
			if a.Scenario.Mode == first && b.Scenario.Mode == second && benchSameSetup(a, b) {
				pairs = append(pairs, benchPair(a, b))
			}
		}
	}
	return pairs
}

// benchPairRows prints a comparison table's rows: for each pair, one row per phase both ran and then,
// unless total is nil, one for their totals. Each row starts with label(the pair's first) and the
// phase's name, or **total**; row and total render the cells after those from the two sides.
func benchPairRows(pr func(string, ...any), pairs [][2]benchResult, label func(benchResult) string,
	row func(a, b benchPhase) string, total func(a, b benchResult) string,
) {
	for _, pair := range pairs {
		a, b := pair[0], pair[1]
		name := label(a)
		for _, phase := range benchCommonPhases(a, b) {
			pa, _ := a.phase(phase)
			pb, _ := b.phase(phase)
			pr("| %s | %s | %s |\n", name, phase, row(pa, pb))
		}
		if total != nil {
			pr("| %s | **total** | %s |\n", name, total(a, b))
		}
	}
}

// benchTreeLabel labels a row of a comparison of two ways on the same tree: its size and latency.
func benchTreeLabel(r benchResult) string {
	return fmt.Sprintf("tree-%d, %d ms", r.Scenario.Stacks, r.Scenario.Latency.Milliseconds())
}

func benchRequests(p benchPhase) int { return p.Requests }

func benchWrites(p benchPhase) int { return p.Writes }

func benchSameSetup(a, b benchResult) bool {
	return a.Scenario.shape() == b.Scenario.shape() && a.Scenario.Layers == b.Scenario.Layers &&
		a.Scenario.Stacks == b.Scenario.Stacks && a.Scenario.Fanout == b.Scenario.Fanout &&
		a.Scenario.Latency == b.Scenario.Latency && a.Scenario.Parallel == b.Scenario.Parallel &&
		a.Scenario.SkipCheckpoints == b.Scenario.SkipCheckpoints
}

// benchPairedRatio is the median over rounds of a's wall time over b's: runs of one round
// ran side by side, so their ratio is less sensitive to the machine's load than the
// ratio of the medians.
func benchPairedRatio(a, b benchPhase) float64 {
	var ratios []float64
	for i := range min(len(a.Walls), len(b.Walls)) {
		ratios = append(ratios, benchRatio(a.Walls[i], b.Walls[i]))
	}
	return benchMedianFloat(ratios)
}

// benchTotalRatio is benchPairedRatio for the sum of the phases both ran.
func benchTotalRatio(a, b benchResult) float64 {
	names := benchCommonPhases(a, b)
	if len(names) == 0 {
		return 0
	}
	var ratios []float64
	for i := 0; ; i++ {
		var ta, tb time.Duration
		for _, name := range names {
			pa, _ := a.phase(name)
			pb, _ := b.phase(name)
			if i >= len(pa.Walls) || i >= len(pb.Walls) {
				return benchMedianFloat(ratios)
			}
			ta, tb = ta+pa.Walls[i], tb+pb.Walls[i]
		}
		ratios = append(ratios, benchRatio(ta, tb))
	}
}

// benchPair is a and b with only the phases both ran, to be compared phase by phase and in total.
func benchPair(a, b benchResult) [2]benchResult {
	only := func(r, other benchResult) benchResult {
		r.Phases = slices.DeleteFunc(slices.Clone(r.Phases), func(p benchPhase) bool {
			_, ok := other.phase(p.Name)
			return !ok
		})
		return r
	}
	return [2]benchResult{only(a, b), only(b, a)}
}

// benchCommonPhases lists the phases both a and b ran, in a's order.
func benchCommonPhases(a, b benchResult) []string {
	var out []string
	for _, p := range a.Phases {
		if _, ok := b.phase(p.Name); ok {
			out = append(out, p.Name)
		}
	}
	return out
}

func benchMedianFloat(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := slices.Clone(fs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func benchRatio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func benchSum(r benchResult, f func(benchPhase) int) int {
	n := 0
	for _, p := range r.Phases {
		n += f(p)
	}
	return n
}

func benchSumWall(r benchResult) time.Duration {
	var d time.Duration
	for _, p := range r.Phases {
		d += p.Wall
	}
	return d
}

func benchPeakRSS(r benchResult) int64 {
	var peak int64
	for _, p := range r.Phases {
		peak = max(peak, p.PeakRSSKiB)
	}
	return peak
}
