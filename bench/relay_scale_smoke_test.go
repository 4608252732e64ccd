//go:build e2e

package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRelayScaleSmoke runs the relay scale harness on 3 layers of 5: the harness itself
// checks that every stack deploys exactly once per cascade and never before all its parents
// ended, over new edges and then comparing outputs. Times are not asserted.
func TestRelayScaleSmoke(t *testing.T) {
	t.Parallel()
	res := runRelayScale(t, relayScaleScenario{Layers: 3, Width: 5, Deployment: 50 * time.Millisecond,
		Poll: 200 * time.Millisecond, Rounds: 2, MaxDeployments: 3, IdleProbe: true}, func(line string) { t.Log(line) })
	assert.Equal(t, 15, res.Stacks)
	assert.Equal(t, 5+2*(5*2+3), res.Edges, "5 from the root, then 2 parents each and a third for even indexes")
	for _, r := range res.Rounds {
		assert.Equal(t, 15, r.Deployments)
		assert.Positive(t, r.Requests)
		assert.LessOrEqual(t, r.MaxInFlight, 3, "--max-deployments 3")
	}
	assert.Empty(t, res.IdlePoll, "an idle poll costs only the stack list's pages")
	assert.Equal(t, map[string]int{"GET /api/stacks/{org}/{project}/{stack}/hooks": relayScaleIdleStacks}, res.MovedPoll,
		"one request per stack whose version moved (stacks with no edge: a webhook listing)")
	assert.Positive(t, res.PeakRSSKiB)
	t.Log("\n" + relayScaleReport([]relayScaleResult{res}, "this machine"))
}
