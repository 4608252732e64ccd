//go:build e2e

package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestBenchSmoke runs the benchmark harness on the 6-stack tree without added latency,
// all three ways, and on a 40-stack layered DAG both ways a DeploymentGraph takes it, and
// checks what `make bench` checks that does not depend on the machine: the request
// counts. Times are measured but never asserted.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{benchAutoDeployer, benchWebhookPerEdge, benchDeploymentGraph} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := runBench(t, benchScenario{Mode: mode, Stacks: 6, Fanout: 3}, func(line string) { t.Log(line) })
			assert.Equal(t, 5, r.Edges)
			assert.Equal(t, 2, r.StacksWithWebhooks)
			assert.Len(t, r.Phases, len(benchTreePhases))
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
	for _, mode := range []string{benchDeploymentGraph, benchFromReferences} {
		t.Run("dag/"+mode, func(t *testing.T) {
			t.Parallel()
			// The harness checks the webhooks after create against its own transitive reduction.
			r := runBench(t, benchDAGScenario(mode, 4, 10), func(line string) { t.Log(line) })
			assert.Equal(t, 30*5, r.Edges, "each of the 30 stacks below layer 0 reads 5")
			assert.Less(t, r.KeptEdges, r.Edges, "longer paths imply some edges")
			assert.Equal(t, benchDAGPhases, benchPhaseNames(r))
			for _, miss := range benchCountTargets(r) {
				t.Error(miss)
			}
			noop, _ := r.phase(benchPhaseNoop)
			if mode == benchDeploymentGraph {
				assert.Zero(t, noop.Requests, "a no-op up sends no request: %v", noop.ByRoute)
			} else {
				// The 41 stacks fit one page of the list; none updated since, so none is read.
				assert.Equal(t, map[string]int{"GET /api/user/stacks": 1}, noop.ByRoute,
					"a no-op up lists the selected stacks and reads no stack's references")
			}
		})
	}
}

// benchPhaseNames lists the phases r ran, in order.
func benchPhaseNames(r benchResult) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Name)
	}
	return out
}
