//go:build e2e

package examples

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	cloudapi "github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// TestMessagesThatFit pins, through the CLI, what a user reads: the real field of a missing
// target, one line for many edges to stacks that read nothing of their upstream (and not
// again at a no-op), a deleted upstream at refresh, and a loop in Pulumi Cloud at refresh.
func TestMessagesThatFit(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("t%02d", i))
	}
	c := refCloud(t, "msg", append(names, "hub", "x", "y")...)
	var refs []string
	for _, name := range names {
		refs = append(refs, "msg/"+name)
	}

	missing := newProgramWorkspace(t, "name: missing\nruntime: yaml\nresources:\n  graph:\n    type: "+
		"auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n        "+
		"msg/hub: [msg/gone]\n", c)
	out, err := missing.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, `or remove "msg/gone" from edges["msg/hub"]`)
	assert.NotContains(t, out, "downstreamRefs")

	w := newProgramWorkspace(t, "name: many\nruntime: yaml\nresources:\n  graph:\n    type: "+
		"auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n        "+
		"msg/hub: ["+strings.Join(refs, ", ")+"]\n        msg/x: [msg/y]\n", c)
	out = w.pulumi("preview")
	assert.Contains(t, out, "31 edges go to stacks whose programs hold no StackReference to their upstream, so "+
		"they read nothing of it: msg/hub → msg/t00, msg/hub → msg/t01, msg/hub → msg/t02, msg/hub → msg/t03, "+
		"msg/hub → msg/t04 and 26 more")
	assert.Equal(t, 1, strings.Count(out[strings.Index(out, "Diagnostics:"):], "hold no StackReference"))
	w.pulumi("up", "--yes", "--skip-preview")
	out = w.pulumi("preview")
	assert.NotContains(t, out, "StackReference", "nothing to say at a no-op")

	// Someone closes a loop by hand: y → x. Refresh names it.
	client, err := cloudapi.New(nil, c.URL, c.Token)
	require.NoError(t, err)
	_, err = client.CreateWebhook(t.Context(), cloudapi.WebhookScope{Organization: "org", Project: "msg", Stack: "y"},
		cloudapi.Webhook{DisplayName: "by hand", PayloadURL: "msg/x", Active: true, Format: "pulumi_deployments",
			Filters: []string{"update_succeeded"}})
	require.NoError(t, err)
	out = w.pulumi("refresh", "--yes")
	assert.Contains(t, out, "deployment cycle in Pulumi Cloud: msg/x → msg/y → msg/x")

	// The upstream stack is deleted: its webhooks went with it, and refresh says so.
	require.NoError(t, client.DeleteStack(t.Context(), "org", "msg", "x", true))
	out = w.pulumi("refresh", "--yes")
	assert.Contains(t, out, "stack org/msg/x, upstream of 1 edges of this graph (to msg/y), no longer exists in "+
		"Pulumi Cloud: its deployment webhooks went with it")
}

// TestNoAdviceToDropAnEdgeAGraphKeeps: root → p → j and root → j. A DeploymentGraph keeps
// root → j through a relay (which deploys j once whatever the paths, and must see that j
// reads root) or with keepRedundantEdges: its preview advises neither that j deploys twice
// nor to leave the edge out. Without either, the graph leaves it out and says so.
func TestNoAdviceToDropAnEdgeAGraphKeeps(t *testing.T) {
	t.Parallel()
	c := refCloud(t, "msg", "root", "p", "j")
	graph := func(extra string) string {
		return "name: keeps\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n" +
			"    properties:\n      organization: org\n      edges:\n        msg/root: [msg/p, msg/j]\n" +
			"        msg/p: [msg/j]\n" + extra
	}
	for _, extra := range []string{
		"      relay: {url: \"https://relay.example.com\", secret: s3cret}\n",
		"      keepRedundantEdges: true\n",
	} {
		out := newProgramWorkspace(t, graph(extra), c).pulumi("preview")
		assert.NotContains(t, out, "deploys twice", extra)
		assert.NotContains(t, out, "out of this edge list", extra)
		assert.NotContains(t, out, "left out", extra)
	}
	out := newProgramWorkspace(t, graph(""), c).pulumi("preview")
	assert.Contains(t, out, "edge msg/root → msg/j left out: msg/root → msg/p → msg/j already deploys msg/j")
}
