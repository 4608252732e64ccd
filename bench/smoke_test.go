//go:build e2e

package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBenchSmoke runs the benchmark harness on the 6-stack tree without added latency,
// all three ways, and checks what `make bench` checks that does not depend on the machine:
// the request counts. Times are measured but never asserted.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{benchAutoDeployer, benchWebhookPerEdge, benchDeploymentGraph} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := runBench(t, benchScenario{Mode: mode, Stacks: 6, Fanout: 3}, func(line string) { t.Log(line) })
			assert.Equal(t, 5, r.Edges)
			assert.Equal(t, 2, r.StacksWithWebhooks)
			assert.Len(t, r.Phases, len(benchPhases))
			for _, miss := range benchCountTargets(r) {
				t.Error(miss)
			}
			if mode != benchWebhookPerEdge {
				// Unchanged and reordered refs cost no request at all, reads included.
				noop, _ := r.phase(benchPhaseNoop)
				assert.Zero(t, noop.Requests, "a no-op up sends no request: %v", noop.ByRoute)
				reorder, _ := r.phase(benchPhaseReorder)
				assert.Zero(t, reorder.Requests, "reordering refs sends no request: %v", reorder.ByRoute)
			}
		})
	}
}
