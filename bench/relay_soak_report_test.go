//go:build e2e

package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// relaySoakDrift compares value over the samples of [warm, warm+window) with the samples of the last
// window, each by its median, and returns both and the change in percent.
func relaySoakDrift(res relaySoakResult, warm, window time.Duration, value func(relaySoakSample) float64) (
	early, late, percent float64) {
	end := res.Samples[len(res.Samples)-1].At
	var a, b []float64
	for _, s := range res.Samples {
		switch {
		case s.At >= warm && s.At < warm+window:
			a = append(a, value(s))
		case s.At > end-window:
			b = append(b, value(s))
		}
	}
	early, late = median(a), median(b)
	if early > 0 {
		percent = 100 * (late - early) / early
	}
	return early, late, percent
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// relaySoakRowBound is the most finished cascades --retain leaves at one update a second: those of
// the last retention, plus a tenth of it between two prunings, plus a margin for the running ones.
func relaySoakRowBound(retain time.Duration) int64 { return int64(1.5*retain.Seconds()) + 50 }

// relaySoakReport is the markdown section of BENCHMARKS.md for a soak.
func relaySoakReport(res relaySoakResult, warm, window time.Duration, machine string) string {
	sc := res.Scenario
	var s strings.Builder
	fmt.Fprintf(&s, "### Relay soak: %s of one root update a second (%s)\n\n", sc.Duration, machine)
	fmt.Fprintf(&s, "%d stacks in %d trees of ten (a root, three below it, two below each), one root update a "+
		"second in turn, each changing the outputs of every stack below it; every deployment takes %s. Two "+
		"relay replicas on one PostgreSQL database behind a round-robin proxy, --poll %s, --retain %s; every "+
		"50th request of the relays answered 429 (Retry-After: 1) and every 40th 503; replica 1 killed "+
		"with SIGKILL and started again every %s, replica 0 running throughout.\n\n",
		res.Stacks, sc.Trees, sc.Deployment, sc.Poll, sc.Retain, sc.KillEvery)
	s.WriteString("| | |\n|---|---:|\n")
	row := func(name, value string) { fmt.Fprintf(&s, "| %s | %s |\n", name, value) }
	row("root updates", fmt.Sprint(res.Updates))
	row("deployments by the relays", fmt.Sprint(res.Deployments))
	row("changes covered by a deployment that covered another too", fmt.Sprint(res.Coalesced))
	verdict := "yes"
	if len(res.Violations) > 0 {
		verdict = fmt.Sprintf("**no**: %d violations, first: %s", len(res.Violations), res.Violations[0])
	}
	row("every change deployed exactly once below it, never while its parent deployed", verdict)
	row("stacks left waiting (cascades running once the emulator was idle)", fmt.Sprint(res.RunningAtEnd))
	row("from the last update to every stack deployed", res.Drain.Round(100*time.Millisecond).String())
	var worst time.Duration
	for _, d := range res.Takeovers {
		worst = max(worst, d)
	}
	row("kills; of which the replica ran the organization's schedule", fmt.Sprintf("%d; %d", res.Kills,
		len(res.Takeovers)))
	row("takeover: the SIGKILL to a live replica running the schedule (worst; target ≤ 10 s)",
		worst.Round(100*time.Millisecond).String())
	row("takeovers, each", strings.Join(mapSlice(res.Takeovers, func(d time.Duration) string {
		return d.Round(100 * time.Millisecond).String()
	}), ", "))
	row("requests of the relays to the emulator; faults injected", fmt.Sprintf("%d; %d", res.Requests, res.Faults))
	rssEarly, rssLate, rssDrift := relaySoakDrift(res, warm, window,
		func(s relaySoakSample) float64 { return float64(s.RSSKiB) / 1024 })
	row(fmt.Sprintf("replica 0 RSS, median of minutes %s–%s → of the last %s (target within 20 %%)", warm,
		warm+window, window), fmt.Sprintf("%.1f MB → %.1f MB (%+.1f %%)", rssEarly, rssLate, rssDrift))
	grEarly, grLate, grDrift := relaySoakDrift(res, warm, window, func(s relaySoakSample) float64 { return s.Goroutines })
	row("replica 0 goroutines, the same way", fmt.Sprintf("%.0f → %.0f (%+.1f %%)", grEarly, grLate, grDrift))
	limits := mapSlice(res.Samples, func(s relaySoakSample) float64 { return s.ReadLimit })
	row("the replicas' lowest read limit under the 429s (AIMD: min, median of the samples, at the end)",
		fmt.Sprintf("%.0f, %.0f, %.0f", slices.Min(limits), median(limits), limits[len(limits)-1]))
	s.WriteString("\nThe database over the run (rows; `pg_database_size`), bounded by --retain " +
		fmt.Sprintf("(at most %d finished cascades at one a second):\n\n", relaySoakRowBound(sc.Retain)))
	s.WriteString("| at | " + strings.Join(relaySoakTables, " | ") + " | size |\n")
	s.WriteString("|---:" + strings.Repeat("|---:", len(relaySoakTables)+1) + "|\n")
	step := max(1, len(res.Samples)/6)
	for i, sample := range res.Samples {
		if i%step != 0 && i != len(res.Samples)-1 {
			continue
		}
		fmt.Fprintf(&s, "| %s | %s | %.1f MB |\n", sample.At.Round(time.Second), strings.Join(mapSlice(relaySoakTables,
			func(table string) string { return fmt.Sprint(sample.Rows[table]) }), " | "), float64(sample.DBBytes)/(1<<20))
	}
	return s.String()
}
