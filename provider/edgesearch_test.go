package provider

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// The read back after a write searches from both ends of the new edges (readFresh): down
// from their targets through edges, up from their sources through the marks every writer
// leaves on its edges' targets, and stops at the end that runs out first.

// createWithoutPreview is `pulumi up --skip-preview`: the read back is the only loop check.
func createWithoutPreview(server engineServer, urn resource.URN, inputs property.Map) (p.CreateResponse, error) {
	check, err := server.Check(p.CheckRequest{Urn: urn, Inputs: inputs})
	if err != nil {
		return p.CreateResponse{}, err
	}
	return server.Create(p.CreateRequest{Urn: urn, Properties: check.Inputs})
}

// wideBelow is d with 40 stacks below it (w00…w39) and x, written by another program's
// graph, whose edges are marked.
func wideBelow(t *testing.T, f *fakeClient, more map[string][]string) {
	t.Helper()
	names := []string{"u", "d", "x"}
	var below []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("w%02d", i))
		below = append(below, fmt.Sprintf("p/w%02d", i))
	}
	f.addStacks("org", "p", names...)
	edges := map[string][]string{"p/d": append(below, "p/x")}
	for source, refs := range more {
		edges[source] = refs
	}
	_, err := engineCreate(fakeServer(t, f), resource.URN(otherProgram), raceGraph(edges))
	require.NoError(t, err)
	f.took()
}

// TestReadBackStopsAtTheEndThatRunsOut: a new edge from a stack nothing deploys (u) to one
// with 41 stacks below (d) reads back its two ends and nothing else, and is in place.
func TestReadBackStopsAtTheEndThatRunsOut(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	wideBelow(t, f, nil)
	_, err := createWithoutPreview(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/u": {"p/d"}}))
	require.NoError(t, err)
	calls := f.took()
	assert.Equal(t, 1+2, calls["ListWebhooks"], "the checks' read of u, then the read back of u and d: "+
		"nothing above u, so none of the 41 stacks below d: %v", calls)
	assert.Equal(t, 2, calls["CreateWebhookOnce"], "the edge's mark on d, and the edge, pending")
	assert.Contains(t, f.edges(), "p/u → p/d")
	assert.Equal(t, []string{"p/u"}, f.marksOf("org/p/d"), "marked on d")
}

// TestReadBackFindsALoopFromAbove: d's 41 stacks below include x, whose edge deploys u; a
// new edge u → d closes d → x → u → d. The read back finds it from u's side, through the
// marks: u, d, then x, not the 40 others.
func TestReadBackFindsALoopFromAbove(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	wideBelow(t, f, map[string][]string{"p/x": {"p/u"}})
	resp, err := createWithoutPreview(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/u": {"p/d"}}))
	require.Error(t, err)
	assert.Contains(t, failureText(resp, err), `edges["p/u"]: the edge p/u → p/d was written and undone: it closes the `+
		`deployment cycle p/u → p/d → p/x → p/u`)
	calls := f.took()
	assert.Equal(t, 1+3, calls["ListWebhooks"], "the checks' read of u, then u, d and x: %v", calls)
	assert.NotContains(t, f.edges(), "p/u → p/d", "undone")
	assert.NotContains(t, f.marksOf("org/p/d"), "p/u", "and its mark with it")
}

// TestPreviewFindsALoopThroughAnUnmarkedWebhook: a pulumi_deployments webhook made by hand
// carries no mark, so a read back that stops above may not see a loop through it; preview,
// which walks below the targets whole, refuses it before anything is written.
func TestPreviewFindsALoopThroughAnUnmarkedWebhook(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	wideBelow(t, f, nil)
	f.mu.Lock()
	f.addHookLocked("org/p/x", cloud.Webhook{Name: "byhand01", DisplayName: "deploy u", PayloadURL: "p/u", Active: true,
		Format: "pulumi_deployments"})
	f.mu.Unlock()
	_, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/u": {"p/d"}}))
	require.ErrorContains(t, err, `adding "p/d" would create a deployment cycle p/u → p/d → p/x → p/u`)
	assert.Zero(t, f.took()["CreateWebhookOnce"], "refused at preview: nothing written")
}
