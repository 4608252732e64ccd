//go:build e2e && bench

package bench

import (
	"fmt"
	"time"
)

// The report's parts for the layered DAG: the DAG against the tree of as many stacks, the
// requests by route of the large scenarios, and the DAG's targets.

// The layered DAG's targets.
const (
	// benchDAGPreviewRatio bounds the DAG's preview against the tree's, declared both.
	benchDAGPreviewRatio = 2.0
	// benchDAGCreate bounds the DAG's create, either way.
	benchDAGCreate = 20 * time.Second
	// benchRouteMinStacks: scenarios at least this large get their requests by route in the report.
	benchRouteMinStacks = 1000
)

// benchTreeOf finds the tree scenario among results that the DAG dag compares with: the
// same way, stacks, latency and flags.
func benchTreeOf(results []benchResult, dag benchResult) (benchResult, bool) {
	for _, r := range results {
		s, d := r.Scenario, dag.Scenario
		if s.shape() == benchShapeTree && s.Mode == d.Mode && s.Stacks == d.Stacks && s.Latency == d.Latency &&
			s.Parallel == d.Parallel && s.SkipCheckpoints == d.SkipCheckpoints {
			return r, true
		}
	}
	return benchResult{}, false
}

// benchDAGSections prints, for each DAG with a tree of as many stacks in the run, the two
// side by side, phase by phase.
func benchDAGSections(pr func(string, ...any), results []benchResult) {
	var pairs [][2]benchResult
	for _, d := range results {
		if d.Scenario.shape() != benchShapeDAG {
			continue
		}
		if tree, ok := benchTreeOf(results, d); ok {
			pairs = append(pairs, benchPair(d, tree))
		}
	}
	if len(pairs) == 0 {
		return
	}
	pr("\n### Layered DAG against the tree of as many stacks\n\n")
	pr("Time ratio = DAG wall time / tree wall time, the median of the per-round ratios. The DAG has more edges " +
		"and keeps fewer of them than it declares; see Scenarios.\n\n")
	pr("| Way, stacks, latency | Phase | DAG (s) | Tree (s) | Time ratio | Requests DAG / tree | Writes DAG / tree | " +
		"Plugin CPU DAG / tree (s) |\n")
	pr("|---|---|---:|---:|---:|---:|---:|---:|\n")
	benchPairRows(pr, pairs, func(d benchResult) string {
		return fmt.Sprintf("%s, %d, %d ms", d.Scenario.Mode, d.Scenario.Stacks, d.Scenario.Latency.Milliseconds())
	}, func(pd, pt benchPhase) string {
		return fmt.Sprintf("%.1f | %.1f | %.2f | %d / %d | %d / %d | %.2f / %.2f", pd.Wall.Seconds(), pt.Wall.Seconds(),
			benchPairedRatio(pd, pt), pd.Requests, pt.Requests, pd.Writes, pt.Writes, pd.PluginCPU.Seconds(),
			pt.PluginCPU.Seconds())
	}, nil)
}

// benchLarge is the results of scenarios of at least benchRouteMinStacks stacks, which the report
// looks into more closely.
func benchLarge(results []benchResult) []benchResult {
	var large []benchResult
	for _, r := range results {
		if r.Scenario.Stacks >= benchRouteMinStacks {
			large = append(large, r)
		}
	}
	return large
}

// benchRouteSection prints the requests of each phase of the large scenarios by route,
// most first: where a phase's round trips go.
func benchRouteSection(pr func(string, ...any), results []benchResult) {
	large := benchLarge(results)
	if len(large) == 0 {
		return
	}
	pr("\n### Requests by route\n\n`{stack}` stands for `/api/stacks/{org}/{project}/{stack}`.\n\n")
	pr("| Scenario | Phase | Requests | By route |\n|---|---|---:|---|\n")
	for _, r := range large {
		for _, p := range r.Phases {
			pr("| %s | %s | %d | %s |\n", r.Scenario.Name(), p.Name, p.Requests, benchRoutes(p.ByRoute))
		}
	}
}

// benchTimeSection prints, for each phase of the large scenarios that sent requests, when
// they ran: how long the CLI took to send the first, how long the reads before the first
// write took, how long the writes took and at what rate, how long the CLI took after the
// last, and the most requests in flight at once.
func benchTimeSection(pr func(string, ...any), results []benchResult) {
	large := benchLarge(results)
	if len(large) == 0 {
		return
	}
	pr("\n### Where the time goes\n\nSeconds from the command's start, as the emulator saw the requests (of the round " +
		"nearest the median): the first request, the first write, the end of the last write and of the last request. " +
		"Writes/s is the writes over the time from the first write to the end of the last.\n\n")
	pr("| Scenario | Phase | Wall (s) | First request | First write | Last write ends | Last request ends | " +
		"Writes/s | Most in flight: reads / writes |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range large {
		for _, p := range r.Phases {
			if p.Requests == 0 {
				continue
			}
			t := p.Times
			rate, firstWrite, lastWrite := "", "", ""
			if p.Writes > 0 {
				firstWrite, lastWrite = fmt.Sprintf("%.1f", t.FirstWrite.Seconds()), fmt.Sprintf("%.1f", t.LastWrite.Seconds())
				if span := t.LastWrite - t.FirstWrite; span > 0 {
					rate = fmt.Sprintf("%.0f", float64(p.Writes)/span.Seconds())
				}
			}
			pr("| %s | %s | %.1f | %.1f | %s | %s | %.1f | %s | %d / %d |\n", r.Scenario.Name(), p.Name,
				p.Wall.Seconds(), t.FirstRequest.Seconds(), firstWrite, lastWrite, t.LastRequest.Seconds(), rate,
				t.PeakReads, t.PeakWrites)
		}
	}
}

// benchDAGTargetLines checks the layered DAG's targets: its preview within twice the
// tree's (declared both; derived both for information), its costs following what changed
// (benchDAGCostLines), and its create within benchDAGCreate.
func benchDAGTargetLines(results []benchResult, verdict func(bool, string) string) [][2]string {
	var out [][2]string
	for _, d := range results {
		if d.Scenario.shape() != benchShapeDAG {
			continue
		}
		size := fmt.Sprintf("%d stacks, %d ms", d.Scenario.Stacks, d.Scenario.Latency.Milliseconds())
		preview, _ := d.phase(benchPhasePreview)
		tree, ok := benchTreeOf(results, d)
		treePreview, hasPreview := tree.phase(benchPhasePreview)
		switch {
		case !ok || !hasPreview:
			out = append(out, [2]string{fmt.Sprintf("DAG preview ≤ %.0f× tree preview (%s)", benchDAGPreviewRatio,
				d.Scenario.Name()), fmt.Sprintf("not measured: no tree of %d stacks previewed %s in this run; DAG "+
				"preview %.1f s", d.Scenario.Stacks, d.Scenario.Mode, preview.Wall.Seconds())})
		default:
			ratio := benchPairedRatio(preview, treePreview)
			detail := fmt.Sprintf("DAG %.1f s, tree %.1f s: %.2f× (requests %d / %d, plugin CPU %.1f / %.1f s)",
				preview.Wall.Seconds(), treePreview.Wall.Seconds(), ratio, preview.Requests, treePreview.Requests,
				preview.PluginCPU.Seconds(), treePreview.PluginCPU.Seconds())
			if d.Scenario.Mode == benchDeploymentGraph {
				out = append(out, [2]string{fmt.Sprintf("DAG preview ≤ %.0f× tree preview, declared both (%s)",
					benchDAGPreviewRatio, size), verdict(ratio <= benchDAGPreviewRatio, detail)})
			} else {
				out = append(out, [2]string{fmt.Sprintf("DAG preview against tree preview, from references both "+
					"(%s; for information)", size), detail})
			}
		}
		out = append(out, benchDAGCostLines(d, verdict)...)
		create, _ := d.phase(benchPhaseCreate)
		out = append(out, [2]string{fmt.Sprintf("DAG create ≤ %.0f s (%s)", benchDAGCreate.Seconds(),
			d.Scenario.Name()), verdict(create.Wall <= benchDAGCreate, fmt.Sprintf("%.1f s, %d requests, %d writes "+
			"(%d edges kept of %d)", create.Wall.Seconds(), create.Requests, create.Writes, d.KeptEdges, d.Edges))})
	}
	return out
}

// benchDAGCostLines checks a DAG's costs against issue 27's targets: a no-op up within
// benchNoopRequests requests and no write, a no-op preview within benchNoopPreviewRequests,
// and one new reference (at the last layer, and mid-graph, with Below stacks below its reader)
// and one removed within benchRefRequests requests beyond their writes.
func benchDAGCostLines(d benchResult, verdict func(bool, string) string) [][2]string {
	var out [][2]string
	line := func(phase, target string, limit int, beyondWrites bool) {
		p, ok := d.phase(phase)
		if !ok {
			return
		}
		n := p.Requests
		if beyondWrites {
			n -= p.Writes
		}
		detail := fmt.Sprintf("%d requests, %d writes (%s), %.1f s", p.Requests, p.Writes, benchRoutes(p.ByRoute),
			p.Wall.Seconds())
		if phase == benchPhaseNewRefMid {
			detail += fmt.Sprintf("; %d stacks below the reader", d.Below)
		}
		out = append(out, [2]string{fmt.Sprintf("%s ≤ %d requests%s (%s)", target, limit,
			map[bool]string{true: " beyond its writes", false: ""}[beyondWrites], d.Scenario.Name()),
			verdict(n <= limit && (beyondWrites || p.Writes == 0), detail)})
	}
	line(benchPhaseNoop, "no-op up, no write,", benchNoopRequests, false)
	line(benchPhaseNoopPreview, "no-op preview", benchNoopPreviewRequests, false)
	line(benchPhaseNewRef, "one new reference at the last layer", benchRefRequests, true)
	line(benchPhaseNewRefMid, "one new reference mid-graph", benchRefRequests, true)
	line(benchPhaseRemovedRef, "one removed reference", benchRefRequests, true)
	return out
}
