package provider

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// planCloud is a provider and an emulator whose stacks org/graph/{names} have the relay edges specs
// between them (emulatortest.Cloud.RelayEdges).
func planCloud(t *testing.T, names []string, specs ...string) *testCloud {
	t.Helper()
	tc := graphCloud(t, names...)
	tc.cloud.RelayEdges(t, "org", "https://relay.example.com", "", specs...)
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
		"graph/net>graph/db", "graph/net>graph/cache", "graph/net>graph/dns!", "graph/db>graph/app",
		"graph/cache>graph/app")
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
	tc := planCloud(t, []string{"a", "b"}, "graph/a>graph/b", "graph/b>graph/a")
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
