package provider

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

const deploymentGraphToken = "auto-deploy:index:DeploymentGraph"

func graphURN(name string) resource.URN {
	return resource.NewURN("test", "provider", "", deploymentGraphToken, name)
}

// graphInputs builds a DeploymentGraph's inputs in organization org from upstream → refs.
func graphInputs(edges map[string][]string) property.Map {
	m := map[string]property.Value{}
	for upstream, refs := range edges {
		m[upstream] = stringList(refs...)
	}
	return property.NewMap(map[string]property.Value{
		"organization": property.New("org"),
		"edges":        property.New(property.NewMap(m)),
	})
}

// hookEdges lists the emulator's webhooks as "stack → target".
func hookEdges(tc *testCloud) []string {
	var out []string
	for _, h := range withoutMarks(tc.cloud.Webhooks()) {
		out = append(out, h.Stack+" → "+h.PayloadURL)
	}
	return out
}

func TestDeploymentGraphCheckFailures(t *testing.T) {
	t.Parallel()
	server := newServer(t, "http://127.0.0.1:1", testToken) // Check never calls the API here.
	cases := []struct {
		name   string
		edges  map[string][]string
		reason string
	}{
		{"upstream without a slash", map[string][]string{"net": {"graph/b"}},
			`edges["net"] "net" is not a stack reference: use the form "project/stack" (for example ` +
				`"database/prod"), a stack in the same organization`},
		{"bad downstream", map[string][]string{"graph/a": {"graph/b c"}},
			`edges["graph/a"][0] stack "b c" is not a valid name: ` + nameRule},
		{"self edge", map[string][]string{"graph/a": {"graph/b", "graph/a"}},
			`edges["graph/a"][1] "graph/a" is its own upstream: a stack that redeploys itself would loop forever; ` +
				"remove it"},
		{"duplicate", map[string][]string{"graph/a": {"graph/b", "graph/b"}},
			`edges["graph/a"][1] "graph/b" repeats edges["graph/a"][0]: list each downstream stack once per upstream`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: graphInputs(tc.edges)})
			require.NoError(t, err)
			assert.Contains(t, resp.Failures, p.CheckFailure{Property: "edges", Reason: tc.reason})
		})
	}

	placeholder := graphInputs(map[string][]string{"graph/a": {"graph/b"}}).Set("organization",
		property.New(placeholderOrganization))
	resp, err := server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: placeholder})
	require.NoError(t, err)
	require.Len(t, resp.Failures, 1)
	assert.Equal(t, "organization", resp.Failures[0].Property)
	assert.Contains(t, resp.Failures[0].Reason, `organization "organization" is the placeholder`)
}

func TestDeploymentGraphLifecycle(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c", "d")
	created, err := engineCreate(tc.server, graphURN("g"), graphInputs(map[string][]string{
		"graph/a": {"graph/c", "graph/b"}, "graph/b": {"graph/d"},
	}))
	require.NoError(t, err)
	assert.Equal(t, "org", created.ID)
	assert.ElementsMatch(t, []string{"a → graph/b", "a → graph/c", "b → graph/d"}, hookEdges(tc))
	assert.Equal(t, int64(3), int64(created.Properties.Get("edgeCount").AsNumber()))
	assert.Equal(t, string(graphURN("g")), created.Properties.Get("owner").AsString())

	// One edge removed and one added: a DELETE for the removed edge and one for its mark, and
	// for the new edge a POST for its mark, a POST (pending) and a PATCH (in place), whatever
	// else is in the graph.
	next := graphInputs(map[string][]string{"graph/a": {"graph/b"}, "graph/b": {"graph/d"}, "graph/c": {"graph/d"}})
	check, err := tc.server.Check(p.CheckRequest{Urn: graphURN("g"), State: created.Properties, Inputs: next})
	require.NoError(t, err)
	diff, err := tc.server.Diff(p.DiffRequest{ID: "org", Urn: graphURN("g"), State: created.Properties,
		Inputs: check.Inputs})
	require.NoError(t, err)
	assert.Equal(t, map[string]p.PropertyDiff{
		`edges["graph/a"][0]`: {Kind: p.Delete, InputDiff: true},
		`edges["graph/c"]`:    {Kind: p.Add, InputDiff: true},
	}, diff.DetailedDiff, "the edges as written explain every edge put in place or taken out")
	tc.cloud.ResetStats()
	updated, err := tc.server.Update(p.UpdateRequest{ID: "org", Urn: graphURN("g"), State: created.Properties,
		Inputs: check.Inputs})
	require.NoError(t, err)
	stats := tc.cloud.Stats()
	assert.Equal(t, 5, stats.Writes, "%v", stats.ByRoute)
	assert.ElementsMatch(t, []string{"a → graph/b", "b → graph/d", "c → graph/d"}, hookEdges(tc))
	assert.ElementsMatch(t, []string{"graph/b ← graph/a", "graph/d ← graph/b", "graph/d ← graph/c"}, markEdges(tc),
		"each edge marked on its target, and the removed edge's mark gone")

	// Paused: one PATCH per edge, nothing created or deleted; and back.
	paused := check.Inputs.Set("paused", property.New(true))
	tc.cloud.ResetStats()
	pausedState, err := tc.server.Update(p.UpdateRequest{ID: "org", Urn: graphURN("g"), State: updated.Properties,
		Inputs: paused})
	require.NoError(t, err)
	stats = tc.cloud.Stats()
	assert.Equal(t, 3, stats.ByMethod[http.MethodPatch], "%v", stats.ByRoute)
	assert.Equal(t, 3, stats.Writes)
	for _, h := range withoutMarks(tc.cloud.Webhooks()) {
		assert.False(t, h.Active, "%s paused", h.Name)
	}
	result, err := tc.cloud.FireUpdate("org", "graph", "a")
	require.NoError(t, err)
	assert.Empty(t, result.Deployments, "a paused graph deploys nothing")
	resumed, err := tc.server.Update(p.UpdateRequest{ID: "org", Urn: graphURN("g"), State: pausedState.Properties,
		Inputs: check.Inputs})
	require.NoError(t, err)
	result, err = tc.cloud.FireUpdate("org", "graph", "a")
	require.NoError(t, err)
	assert.Len(t, result.Deployments, 2, "a → b → d once each")

	// A fresh process (as `pulumi destroy` is) deletes every edge the graph owns.
	fresh := newServer(t, tc.cloud.URL, testToken)
	require.NoError(t, fresh.Delete(p.DeleteRequest{ID: "org", Urn: graphURN("g"), Properties: resumed.Properties}))
	assert.Empty(t, tc.cloud.Webhooks())
}

func TestDeploymentGraphRefusesLoopsAndOthersEdges(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c")

	// A loop inside the graph is refused in preview, with its path, before any write.
	_, err := engineCreate(tc.server, graphURN("loop"), graphInputs(map[string][]string{
		"graph/a": {"graph/b"}, "graph/b": {"graph/c"}, "graph/c": {"graph/a"},
	}))
	require.ErrorContains(t, err, `edges["graph/a"]: adding "graph/b" would create a deployment cycle `+
		`graph/a → graph/b → graph/c → graph/a`)
	assert.Empty(t, tc.cloud.Webhooks())

	// An AutoDeployer's edge is refused to a graph of the same program while the
	// AutoDeployer is still in it (its Check ran in this run), naming the owner, and the
	// other way round.
	_, err = engineCreate(newServer(t, tc.cloud.URL, testToken), deployerURN("a"), deployerInputs("a", "graph/b"))
	require.NoError(t, err)
	same := newServer(t, tc.cloud.URL, testToken)
	_, err = same.Check(p.CheckRequest{Urn: deployerURN("a"), Inputs: deployerInputs("a", "graph/b")})
	require.NoError(t, err)
	_, err = engineCreate(same, graphURN("g"), graphInputs(map[string][]string{"graph/a": {"graph/b"}}))
	require.ErrorContains(t, err, `edges["graph/a"]: the edge graph/a → graph/b already exists in Pulumi Cloud `+
		`and is owned by `+string(deployerURN("a")))
	require.ErrorContains(t, err, "Both resources are in this program: declare the edge in one of them only")
	_, err = engineCreate(newServer(t, tc.cloud.URL, testToken), graphURN("g"), graphInputs(map[string][]string{
		"graph/b": {"graph/c"},
	}))
	require.NoError(t, err)
	same = newServer(t, tc.cloud.URL, testToken)
	_, err = same.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: graphInputs(map[string][]string{
		"graph/b": {"graph/c"},
	})})
	require.NoError(t, err)
	_, err = engineCreate(same, deployerURN("b"), deployerInputs("b", "graph/c"))
	require.ErrorContains(t, err, "is owned by "+string(graphURN("g")))
	assert.ElementsMatch(t, []string{"a → graph/b", "b → graph/c"}, hookEdges(tc))

	// Another program's edge: aliases cannot help, the advice says so.
	other := resource.NewURN("prod", "elsewhere", "", deploymentGraphToken, "g")
	_, err = engineCreate(newServer(t, tc.cloud.URL, testToken), other, graphInputs(map[string][]string{
		"graph/b": {"graph/c"},
	}))
	require.ErrorContains(t, err, "That resource is in another program (stack provider/test): declare each edge "+
		"in one program only, and remove it there first")
	require.NotContains(t, err.Error(), "aliases")
}

// TestEdgesMoveBetweenResourcesInOneUpdate: AutoDeployers replaced by one DeploymentGraph
// with the same edges in one update, and back. The new owner takes each edge over (one
// PATCH of its display name) when the old owner is not in the program, and the old
// owner's delete at the end of the update leaves it: no edge's webhook is deleted or
// created. Each edge's mark passes to the new owner: its own is written, then the old
// one's deleted.
func TestEdgesMoveBetweenResourcesInOneUpdate(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c")
	deployer, err := engineCreate(newServer(t, tc.cloud.URL, testToken), deployerURN("a"),
		deployerInputs("a", "graph/b", "graph/c"))
	require.NoError(t, err)
	first := withoutMarks(tc.cloud.Webhooks())

	run := newServer(t, tc.cloud.URL, testToken) // one `pulumi up`: the AutoDeployer is not in the program
	tc.cloud.ResetStats()
	created, err := engineCreate(run, graphURN("g"), graphInputs(map[string][]string{
		"graph/a": {"graph/b", "graph/c"},
	}))
	require.NoError(t, err)
	require.NoError(t, run.Delete(p.DeleteRequest{ID: "org/graph/a", Urn: deployerURN("a"),
		Properties: deployer.Properties}))
	stats := tc.cloud.Stats()
	assert.Equal(t, 2, stats.ByMethod[http.MethodPost], "one new mark per edge: %v", stats.ByRoute)
	assert.Equal(t, 2, stats.ByMethod[http.MethodDelete], "one old mark per edge: %v", stats.ByRoute)
	assert.Equal(t, 2, stats.ByMethod[http.MethodPatch], "one display name per edge")
	assertMarkedBy(t, tc, string(graphURN("g")), "graph/b ← graph/a", "graph/c ← graph/a")
	moved := withoutMarks(tc.cloud.Webhooks())
	require.Len(t, moved, 2)
	for i, h := range moved {
		assert.Equal(t, first[i].Name, h.Name, "the same webhook")
		assert.Equal(t, edgeDisplayName(h.PayloadURL, string(graphURN("g"))), h.DisplayName)
	}

	// And back: the graph leaves the program, an AutoDeployer declares the edges again.
	back := newServer(t, tc.cloud.URL, testToken)
	tc.cloud.ResetStats()
	_, err = engineCreate(back, deployerURN("a"), deployerInputs("a", "graph/b", "graph/c"))
	require.NoError(t, err)
	require.NoError(t, back.Delete(p.DeleteRequest{ID: "org", Urn: graphURN("g"), Properties: created.Properties}))
	stats = tc.cloud.Stats()
	assert.Equal(t, 4, stats.ByMethod[http.MethodPost]+stats.ByMethod[http.MethodDelete], "only marks: %v",
		stats.ByRoute)
	assertMarkedBy(t, tc, string(deployerURN("a")), "graph/b ← graph/a", "graph/c ← graph/a")
	for _, h := range withoutMarks(tc.cloud.Webhooks()) {
		assert.Equal(t, edgeDisplayName(h.PayloadURL, string(deployerURN("a"))), h.DisplayName)
	}
	result, err := tc.cloud.FireUpdate("org", "graph", "a")
	require.NoError(t, err)
	assert.Len(t, result.Deployments, 2, "b and c once each")
}

func TestDeploymentGraphReadAndImport(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c")
	created, err := engineCreate(tc.server, graphURN("g"), graphInputs(map[string][]string{
		"graph/a": {"graph/b", "graph/c"},
	}))
	require.NoError(t, err)

	// Import by organization adopts the edges the importing URN owns, and only those.
	_, err = engineCreate(newServer(t, tc.cloud.URL, testToken), deployerURN("b"), deployerInputs("b", "graph/c"))
	require.NoError(t, err)
	fresh := newServer(t, tc.cloud.URL, testToken)
	tc.cloud.ResetStats()
	read, err := fresh.Read(p.ReadRequest{ID: "org", Urn: graphURN("g")})
	require.NoError(t, err)
	assert.Equal(t, []string{"graph/b", "graph/c"}, refsOf(read.Inputs.Get("edges").AsMap(), "graph/a"))
	assert.True(t, read.Inputs.Get("edges").AsMap().Get("graph/b").IsNull(), "the AutoDeployer's edge is not adopted")
	_, err = fresh.Read(p.ReadRequest{ID: "org", Urn: graphURN("other")})
	assert.ErrorContains(t, err, "nothing found to import")

	// Refresh: one list per upstream stack, and one per stack below its targets (the loop
	// check); a deleted edge drops out of state.
	tc.cloud.ResetStats()
	client, err := cloud.New(http.DefaultClient, tc.cloud.URL, testToken)
	require.NoError(t, err)
	require.NoError(t, client.DeleteWebhook(t.Context(), cloud.WebhookScope{Organization: "org", Project: "graph",
		Stack: "a"}, edge.Name("graph/c")))
	tc.cloud.ResetStats()
	refreshed, err := newServer(t, tc.cloud.URL, testToken).Read(p.ReadRequest{ID: "org", Urn: graphURN("g"),
		Properties: created.Properties, Inputs: graphInputs(map[string][]string{"graph/a": {"graph/b", "graph/c"}})})
	require.NoError(t, err)
	assert.Equal(t, []string{"graph/b"}, refsOf(refreshed.Properties.Get("effectiveEdges").AsMap(), "graph/a"))
	assert.Equal(t, []string{"graph/b", "graph/c"}, refsOf(refreshed.Properties.Get("edges").AsMap(), "graph/a"),
		"the edges as written stay as written")
	assert.Equal(t, 1+2, tc.cloud.Stats().ByRoute["GET /api/stacks/{org}/{project}/{stack}/hooks"],
		"the upstream's list, and its targets' for the loop check")
}

// The organization comes from the input, else auto-deploy:organization, else the one in
// state, else the token's default organization; the placeholder is refused everywhere.
func TestOrganizationResolution(t *testing.T) {
	t.Parallel()
	cloudWith := emulatortest.Start(t, emulatortest.WithToken(testToken),
		emulatortest.WithOptions(func(o *emulator.Options) { o.DefaultOrganization = "fromtoken" }))
	configured := func(org string) integration.Server {
		prov, err := New(NewCloudClient)
		require.NoError(t, err)
		server := newServerFor(t, prov)
		args := map[string]property.Value{"apiUrl": property.New(cloudWith.URL), "accessToken": property.New(testToken)}
		if org != "" {
			args["organization"] = property.New(org)
		}
		require.NoError(t, server.Configure(p.ConfigureRequest{Args: property.NewMap(args)}))
		return server
	}
	unset := graphInputs(map[string][]string{}).Delete("organization")
	cases := []struct {
		name      string
		config    string
		inputs    property.Map
		old       property.Map
		want      string
		wantError string
	}{
		{"input", "fromconfig", graphInputs(map[string][]string{}), property.Map{}, "org", ""},
		{"provider config", "fromconfig", unset, property.Map{}, "fromconfig", ""},
		{"state before the token", "", unset, property.NewMap(map[string]property.Value{
			"organization": property.New("fromstate")}), "fromstate", ""},
		{"the token's default", "", unset, property.Map{}, "fromtoken", ""},
		{"placeholder input", "", unset.Set("organization", property.New("organization")), property.Map{}, "",
			`organization "organization" is the placeholder`},
		{"placeholder input with config", "fromconfig", unset.Set("organization", property.New("organization")),
			property.Map{}, "fromconfig", ""},
		{"placeholder config", "organization", unset, property.Map{}, "",
			`auto-deploy:organization "organization" is the placeholder`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := configured(tc.config).Check(p.CheckRequest{Urn: graphURN("g"), Inputs: tc.inputs,
				State: tc.old})
			require.NoError(t, err)
			if tc.wantError != "" {
				require.Len(t, resp.Failures, 1)
				assert.Contains(t, resp.Failures[0].Reason, tc.wantError)
				return
			}
			require.Empty(t, resp.Failures)
			assert.Equal(t, tc.want, resp.Inputs.Get("organization").AsString())
		})
	}
}
