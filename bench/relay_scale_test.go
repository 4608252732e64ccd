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

// TestBenchRelayScale runs the cascade relay over the 2,000-stack layered DAG
// (relay_scale_harness_test.go): 20 layers of 100 below one root, 50 ms deployments, two
// cascades, with the relay's state in a SQLite file and once more on PostgreSQL: a throwaway
// server (internal/pgtest), or the database BENCH_RELAY_DB names (postgres://…, empty, the
// relay's alone for the run); BENCH_RELAY_DB=sqlite runs SQLite alone.
// `make bench-scale` and `make bench-relay-scale` run it; it prints the markdown section of
// BENCHMARKS.md, both databases side by side, and writes it to BENCH_RELAY_SCALE_OUT if set.
// BENCH_RELAY_POLL sets the relay's --poll (default 100ms). It asserts the targets, so
// a run that misses one fails after printing its report.
func TestBenchRelayScale(t *testing.T) {
	poll := 100 * time.Millisecond
	if v := os.Getenv("BENCH_RELAY_POLL"); v != "" {
		var err error
		poll, err = time.ParseDuration(v)
		require.NoError(t, err, "BENCH_RELAY_POLL is a duration such as 250ms")
	}
	// SQLite, then PostgreSQL: a throwaway server of the bench's own unless BENCH_RELAY_DB names
	// one, or none when it says sqlite.
	databases := []string{""}
	switch url := os.Getenv("BENCH_RELAY_DB"); url {
	case "sqlite":
	case "":
		databases = append(databases, pgtest.Start(t))
	default:
		databases = append(databases, url)
	}
	started := time.Now()
	var results []relayScaleResult
	for _, db := range databases {
		results = append(results, runRelayScale(t, relayScaleScenario{
			Layers: 20, Width: 100, Deployment: 50 * time.Millisecond, Poll: poll, Rounds: 2, DB: db,
		}, func(line string) { fmt.Printf("%7.1fs %s\n", time.Since(started).Seconds(), line) }))
	}
	report := relayScaleReport(results, benchMachine())
	fmt.Println(report)
	if path := os.Getenv("BENCH_RELAY_SCALE_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644))
	}
	for _, res := range results {
		for i, r := range res.Rounds {
			assert.LessOrEqual(t, r.Wall, 2*res.CriticalPath+30*time.Second, "%s, cascade %d: wall time", res.Database, i+1)
		}
		assert.Less(t, res.PeakRSSKiB, int64(300<<10), "%s: relay peak RSS in KiB", res.Database)
	}
}
