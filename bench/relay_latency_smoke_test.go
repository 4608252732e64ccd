//go:build e2e

package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRelayLatencySmoke runs the relay latency harness on the 13-stack tree, one update per
// mode: the harness itself checks that every stack deploys exactly once per update, both
// ways, and that the switch into relay mode is one PATCH per edge. Times are not asserted.
func TestRelayLatencySmoke(t *testing.T) {
	t.Parallel()
	res := runRelayLatency(t, relayLatencyScenario{Stacks: 13, Fanout: 3, Deployment: 50 * time.Millisecond,
		Polls: []time.Duration{50 * time.Millisecond}, Rounds: 1}, func(line string) { t.Log(line) })
	assert.Len(t, res.Runs, 3, "direct, the first update through the relay, then the others")
	for _, run := range res.Runs {
		assert.Len(t, run.ByLevel[1], 3, run.Mode)
		assert.Len(t, run.ByLevel[2], 9, run.Mode)
	}
	t.Log("\n" + relayLatencyReport(res, "this machine"))
}
