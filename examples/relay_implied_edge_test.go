//go:build e2e

package examples

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRelayModeKeepsAnEdgeALongerPathImplies: root → p → j and root → j, declared in a
// DeploymentGraph through the relay. j reads root's outputs, so when an update of root
// changes them and p's stay as they were, j must deploy. A DeploymentGraph leaves root → j
// out by default, as implied by root → p → j: right for pulumi_deployments edges (j would
// deploy twice), wrong through the relay, which deploys j once whatever the paths and
// judges it only on the parents its edges name. Without the edge j would be skipped as
// unchanged, so in relay mode the provider keeps every declared edge.
func TestRelayModeKeepsAnEdgeALongerPathImplies(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "p", "j")
	e.behave("p", emulatorOutputs(map[string]any{"p": "p1"}))
	e.up([][2]string{{"root", "p"}, {"p", "j"}, {"root", "j"}}, true)
	edges := map[string]bool{}
	for _, h := range withoutMarks(e.c.Webhooks()) {
		edges[h.Stack+" → "+h.PayloadURL[len(e.relay.base+"/v1/hooks?target=rel%2F"):]] = true
	}
	assert.Equal(t, map[string]bool{"root → p": true, "p → j": true, "root → j": true}, edges,
		"every declared edge in place: through the relay an implied edge is not redundant")

	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitCascades(1)
	e.fire("root", map[string]any{"v": 2}, nil)
	c := e.waitCascades(2)
	assert.Equal(t, map[string]string{"p": "succeeded", "j": "succeeded"}, c.states(),
		"p's outputs did not change, root's did, and j reads them")
	require.Len(t, e.deployments("j"), 2)
}
