package provider

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// TestMissingTargetNamesTheGraphsField: a DeploymentGraph's missing target is named under
// edges, where the user wrote it, not under an AutoDeployer's downstreamRefs.
func TestMissingTargetNamesTheGraphsField(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "p", "a")
	_, err := engineCreate(fakeServer(t, f), graphURN("g"), property.NewMap(map[string]property.Value{
		"organization": property.New("org"),
		"edges":        property.New(property.NewMap(map[string]property.Value{"p/a": stringList("p/gone")})),
	}))
	require.EqualError(t, err, "downstream stack org/p/gone does not exist in Pulumi Cloud: create it "+
		"(`pulumi stack init org/p/gone`) or remove \"p/gone\" from edges[\"p/a\"]")
}

// TestOneFailureForManyEdgesIsOneLine: a token revoked under a graph of 300 edges fails
// every create the same way; the failure is said once, with the count and a few edges.
func TestOneFailureForManyEdgesIsOneLine(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	edges := map[string]property.Value{}
	var targets []string
	for i := range 300 {
		targets = append(targets, fmt.Sprintf("t%03d", i))
	}
	f.addStacks("org", "p", append(targets, "hub")...)
	var refs []string
	for _, name := range targets {
		refs = append(refs, "p/"+name)
	}
	edges["p/hub"] = stringList(refs...)
	server := fakeServer(t, f)
	inputs := property.NewMap(map[string]property.Value{"organization": property.New("org"),
		"edges": property.New(property.NewMap(edges))})
	check, err := server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: inputs})
	require.NoError(t, err)
	f.createErr = &cloud.APIError{Method: http.MethodPost, Path: "/api/stacks/org/p/hub/hooks",
		StatusCode: http.StatusUnauthorized, Message: "token revoked"}
	resp, err := server.Create(p.CreateRequest{Urn: graphURN("g"), Properties: check.Inputs})
	require.Error(t, err)
	require.NotNil(t, resp.PartialState)
	require.Len(t, resp.PartialState.Reasons, 1, "one line for one cause")
	reason := resp.PartialState.Reasons[0]
	assert.True(t, strings.HasPrefix(reason, "marking on its target the deployment webhook org/p/hub → p/"), reason)
	assert.Contains(t, reason, "Pulumi Cloud refused the access token (401): check auto-deploy:accessToken")
	assert.Contains(t, reason, "(the same for 299 more edges: org/p/hub → p/")
	assert.True(t, strings.HasSuffix(reason, " and 296 more)"), reason)
	assert.Equal(t, 1, strings.Count(reason, "check auto-deploy:accessToken"))
}

// TestLoopsAndDuplicatesOfTheLiveGraph: the live graph's loops, one path each, and the
// edges more than one webhook makes, with who made each.
func TestLoopsAndDuplicatesOfTheLiveGraph(t *testing.T) {
	t.Parallel()
	edges := map[string][]string{"p/a": {"p/b"}, "p/b": {"p/c"}, "p/c": {"p/a", "p/d"}, "p/d": {"p/d"},
		"p/x": {"p/y"}}
	hooks := []GraphWebhook{
		{Source: "p/x", Target: "p/y", Name: edge.Name("p/y"), Owner: "urn:g", Fires: true},
		{Source: "p/x", Target: "p/y", Name: "autodeploy-wh-1", ManagedBy: "Webhook", DisplayName: "y", Fires: true},
		{Source: "p/x", Target: "p/y", Name: "old", DisplayName: "by hand", Fires: false},
		{Source: "p/a", Target: "p/b", Name: "h", DisplayName: "ab", Fires: true},
	}
	loops, duplicates := loopsAndDuplicates(edges, hooks)
	assert.Equal(t, [][]string{{"p/a", "p/b", "p/c", "p/a"}, {"p/d", "p/d"}}, loops)
	assert.Equal(t, []GraphDuplicate{{Source: "p/x", Target: "p/y", Webhooks: []string{
		edge.Name("p/y") + " (owner: urn:g)", `autodeploy-wh-1 (a Webhook resource, display name "y")`,
	}}}, duplicates)
}
