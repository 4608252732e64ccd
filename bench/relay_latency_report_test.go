//go:build e2e

package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// relayLatencyReport is the markdown section of BENCHMARKS.md for one scenario.
func relayLatencyReport(res relayLatencyResult, machine string) string {
	sc := res.Scenario
	var b strings.Builder
	fmt.Fprintf(&b, "The %d-stack tree (fan-out %d, %d edges) as one DeploymentGraph, every deployment %s long in the "+
		"emulator, %s of added latency on every API request during the updates; %d updates of the root per mode, "+
		"each a deployment of the root, every deployment leaving new outputs so that every stack deploys. One sample "+
		"per edge and update: the child's deployment start minus the parent's deployment end. *direct*: "+
		"pulumi_deployments webhooks, the emulator starting the child as its parent's deployment ends; *relay*: the "+
		"relay binary with `--poll` as shown, after one `pulumi up` switched the graph into relay mode (%s, %s); its "+
		"first update deploys over new edges without comparing outputs and is shown apart. Machine: %s.\n\n",
		sc.Stacks, sc.Fanout, sc.Stacks-1, sc.Deployment, sc.Latency, sc.Rounds, res.SwitchWall.Round(100*time.Millisecond),
		writesText(res.SwitchWrites), machine)
	levels := 0
	for _, run := range res.Runs {
		for level := range run.ByLevel {
			levels = max(levels, level)
		}
	}
	b.WriteString("| level (stacks) |")
	for _, run := range res.Runs {
		fmt.Fprintf(&b, " %s median | p95 |", run.Mode)
	}
	b.WriteString("\n|---|")
	for range res.Runs {
		b.WriteString("---:|---:|")
	}
	b.WriteString("\n")
	row := func(name string, samples func(relayLatencyRun) []time.Duration) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, run := range res.Runs {
			s := samples(run)
			fmt.Fprintf(&b, " %s | %s |", latencyText(percentile(s, 50)), latencyText(percentile(s, 95)))
		}
		b.WriteString("\n")
	}
	for level := 1; level <= levels; level++ {
		n := 0
		for i := range sc.Stacks {
			if treeDepth(i, sc.Fanout) == level {
				n++
			}
		}
		row(fmt.Sprintf("%d (%d)", level, n), func(r relayLatencyRun) []time.Duration { return r.ByLevel[level] })
	}
	row("**all**", func(r relayLatencyRun) []time.Duration {
		var all []time.Duration
		for _, s := range r.ByLevel {
			all = append(all, s...)
		}
		return all
	})
	b.WriteString("| whole tree: root's end to last end (median of updates) |")
	for _, run := range res.Runs {
		fmt.Fprintf(&b, " %s | |", latencyText(percentile(run.Cascades, 50)))
	}
	b.WriteString("\n")
	return b.String()
}

func latencyText(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func writesText(writes map[string]int) string {
	var parts []string
	for _, method := range slices.Sorted(func(yield func(string) bool) {
		for m := range writes {
			if !yield(m) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%d %s", writes[method], method))
	}
	if len(parts) == 0 {
		return "no write"
	}
	return strings.Join(parts, ", ")
}
