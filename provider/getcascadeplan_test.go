package provider

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	edgeplan "github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// planCloud is a provider and an emulator whose stacks org/graph/{names} have the relay edges
// "from>to" between them, always deploying where the third element is "always".
func planCloud(t *testing.T, names []string, edges ...[3]string) *testCloud {
	t.Helper()
	tc := graphCloud(t, names...)
	client, err := cloud.New(nil, tc.cloud.URL, testToken)
	require.NoError(t, err)
	for _, e := range edges {
		h := edgeplan.Desired("graph/"+e[1],
			edgeplan.Form{RelayURL: "https://relay.example.com", AlwaysDeploy: e[2] == "always"}, true)
		h.DisplayName = "test edge"
		_, err := client.CreateWebhook(t.Context(), cloud.WebhookScope{Organization: "org", Project: "graph",
			Stack: e[0]}, h)
		require.NoError(t, err)
	}
	return tc
}

func invokePlan(tc *testCloud, org, stack string) (p.InvokeResponse, error) {
	args := map[string]property.Value{"stack": property.New(stack)}
	if org != "" {
		args["organization"] = property.New(org)
	}
	return tc.server.Invoke(p.InvokeRequest{Token: "auto-deploy:index:getCascadePlan",
		Args: property.NewMap(args)})
}

func TestGetCascadePlan(t *testing.T) {
	t.Parallel()
	tc := planCloud(t, []string{"net", "db", "cache", "dns", "app"},
		[3]string{"net", "db"}, [3]string{"net", "cache"}, [3]string{"net", "dns", "always"},
		[3]string{"db", "app"}, [3]string{"cache", "app"})
	resp, err := invokePlan(tc, "org", "graph/net")
	require.NoError(t, err)
	require.Empty(t, resp.Failures)
	strs := func(refs ...string) property.Value {
		out := make([]property.Value, len(refs))
		for i, r := range refs {
			out[i] = property.New("graph/" + r)
		}
		return property.New(out)
	}
	assert.Equal(t, property.NewMap(map[string]property.Value{
		"waves":              property.New([]property.Value{strs("cache", "db", "dns"), strs("app")}),
		"criticalPath":       strs("cache", "app"),
		"estimatedSeconds":   property.New(120.0),
		"skippedIfUnchanged": strs("cache", "db", "app"),
	}), resp.Return)
}

func TestGetCascadePlanRefusals(t *testing.T) {
	t.Parallel()
	tc := planCloud(t, []string{"a", "b"}, [3]string{"a", "b"}, [3]string{"b", "a"})
	for _, c := range []struct{ name, org, stack, err string }{
		{"stack without a project", "org", "a", `stack "a" is not "project/stack" (for example "network/prod"): ` +
			`the project and the stack are each 1-100 letters, digits, "-", "_" or "."`},
		{"invalid stack name", "org", "graph/a b", `stack "graph/a b" is not "project/stack" (for example ` +
			`"network/prod"): the project and the stack are each 1-100 letters, digits, "-", "_" or "."`},
		{"invalid organization", "o rg", "graph/a", `organization "o rg" is not a valid name: use 1-100 ` +
			`characters: letters, digits, "-", "_" or "."`},
		{"a cycle", "org", "graph/a", "planning a change of org/graph/a: the relay edges below graph/a form a " +
			"cycle, so the relay deploys nothing on or below it; remove one of its edges: graph/a → graph/b → graph/a"},
	} {
		_, err := invokePlan(tc, c.org, c.stack)
		assert.ErrorContains(t, err, c.err, c.name)
	}
	_, err := invokePlan(tc, "org", "graph/gone")
	assert.ErrorContains(t, err, "planning a change of org/graph/gone: listing the webhooks of org/graph/gone")
}
