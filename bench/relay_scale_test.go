//go:build e2e && bench

package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchRelayScale runs the cascade relay over the 2,000-stack layered DAG
// (relay_scale_harness_test.go): 20 layers of 100 below one root, 50 ms deployments, two
// cascades. `make bench-scale` runs it; it prints the markdown section of BENCHMARKS.md and
// writes it to BENCH_RELAY_SCALE_OUT if set. The relay keeps its state in a SQLite file unless
// BENCH_RELAY_DB names a PostgreSQL database (postgres://…, empty, the relay's alone for the
// run). BENCH_RELAY_POLL sets the relay's --poll (default 250ms). It asserts the issue's
// targets, so a run that misses one fails after printing its report.
func TestBenchRelayScale(t *testing.T) {
	poll := 250 * time.Millisecond
	if v := os.Getenv("BENCH_RELAY_POLL"); v != "" {
		var err error
		poll, err = time.ParseDuration(v)
		require.NoError(t, err, "BENCH_RELAY_POLL is a duration such as 250ms")
	}
	started := time.Now()
	res := runRelayScale(t, relayScaleScenario{
		Layers: 20, Width: 100, Deployment: 50 * time.Millisecond, Poll: poll, Rounds: 2, DB: os.Getenv("BENCH_RELAY_DB"),
	}, func(line string) { fmt.Printf("%7.1fs %s\n", time.Since(started).Seconds(), line) })
	report := relayScaleReport([]relayScaleResult{res}, benchMachine())
	fmt.Println(report)
	if path := os.Getenv("BENCH_RELAY_SCALE_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644))
	}
	for i, r := range res.Rounds {
		assert.LessOrEqual(t, r.Wall, 2*res.CriticalPath+30*time.Second, "cascade %d: wall time", i+1)
	}
	assert.Less(t, res.PeakRSSKiB, int64(300<<10), "relay peak RSS in KiB")
}
