//go:build e2e && bench

package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// TestBenchRelaySoak is issue 26's soak (relay_soak_harness_test.go): 200 stacks, one root update a
// second for 30 minutes with 429s and 503s injected, one of two replicas on PostgreSQL killed with
// SIGKILL and started again every 5 minutes, --retain 2m. `make bench-relay-soak` runs it; it prints
// the markdown section of BENCHMARKS.md and writes it to BENCH_RELAY_SOAK_OUT if set.
// BENCH_RELAY_SOAK_DURATION shortens it (the kills and the samples keep their pace); BENCH_RELAY_DB
// names an empty PostgreSQL database instead of a throwaway server; BENCH_RELAY_SOAK_LOGS names a
// directory for each replica's log (replica-0.log, replica-1.log, a restart appending). It asserts the
// issue's targets, so a run that misses one fails after printing its report.
func TestBenchRelaySoak(t *testing.T) {
	sc := relaySoakScenario{Trees: 20, Duration: 30 * time.Minute, Deployment: time.Second,
		KillEvery: 5 * time.Minute, Retain: 2 * time.Minute, Poll: 10 * time.Second, Sample: 10 * time.Second,
		DB: os.Getenv("BENCH_RELAY_DB")}
	if v := os.Getenv("BENCH_RELAY_SOAK_DURATION"); v != "" {
		var err error
		sc.Duration, err = time.ParseDuration(v)
		require.NoError(t, err, "BENCH_RELAY_SOAK_DURATION is a duration such as 10m")
	}
	if sc.DB == "" {
		sc.DB = pgtest.Start(t)
	}
	started := time.Now()
	res := runRelaySoak(t, sc, func(line string) { fmt.Printf("%7.1fs %s\n", time.Since(started).Seconds(), line) })
	warm, window := 5*time.Minute, 2*time.Minute
	report := relaySoakReport(res, warm, window, benchMachine())
	fmt.Println(report)
	if path := os.Getenv("BENCH_RELAY_SOAK_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644))
	}
	assert.Empty(t, res.Violations, "every change deployed exactly once, never while its parent deployed")
	assert.Zero(t, res.RunningAtEnd, "no stack left waiting")
	for _, took := range res.Takeovers {
		assert.LessOrEqual(t, took, 10*time.Second, "takeover after a SIGKILL")
	}
	_, _, rss := relaySoakDrift(res, warm, window, func(s relaySoakSample) float64 { return float64(s.RSSKiB) })
	_, _, goroutines := relaySoakDrift(res, warm, window, func(s relaySoakSample) float64 { return s.Goroutines })
	assert.InDelta(t, 0, rss, 20, "replica 0's RSS flat within 20 %%")
	assert.InDelta(t, 0, goroutines, 20, "replica 0's goroutines flat within 20 %%")
	for _, s := range res.Samples {
		if s.At > sc.Retain+time.Minute {
			assert.LessOrEqual(t, s.Rows["relay_cascade"], relaySoakRowBound(sc.Retain), "cascades at %s", s.At)
		}
	}
}
