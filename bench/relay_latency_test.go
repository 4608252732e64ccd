//go:build e2e && bench

package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBenchRelayLatency measures the relay's added latency per level of the 301-stack tree
// (relay_latency_harness_test.go) against direct pulumi_deployments edges, with the relay
// at a fast --poll and at its default, 5 s. `make bench` runs it after TestBench; it
// prints the markdown section of BENCHMARKS.md and writes it to BENCH_RELAY_OUT if set.
// BENCH_REPEAT sets the updates per mode (default 2: about 4 minutes on 2 cores).
func TestBenchRelayLatency(t *testing.T) {
	rounds := 2
	if v := os.Getenv("BENCH_REPEAT"); v != "" {
		_, err := fmt.Sscan(v, &rounds)
		require.NoError(t, err, "BENCH_REPEAT")
	}
	started := time.Now()
	res := runRelayLatency(t, relayLatencyScenario{
		Stacks: 301, Fanout: 3, Deployment: 50 * time.Millisecond, Latency: 20 * time.Millisecond,
		Polls: []time.Duration{250 * time.Millisecond, 5 * time.Second}, Rounds: rounds,
	}, func(line string) { fmt.Printf("%7.1fs %s\n", time.Since(started).Seconds(), line) })
	report := relayLatencyReport(res, benchMachine())
	fmt.Println(report)
	if path := os.Getenv("BENCH_RELAY_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o644))
	}
}
