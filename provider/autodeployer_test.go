package provider

import (
	"net/http"
	"sync"
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
)

func deployerURN(name string) resource.URN {
	return resource.NewURN("test", "provider", "", autoDeployerToken, name)
}

func deployerInputs(stack string, refs ...string) property.Map {
	return property.NewMap(map[string]property.Value{
		"organization":   property.New("org"),
		"project":        property.New("graph"),
		"stack":          property.New(stack),
		"downstreamRefs": stringList(refs...),
	})
}

func refsOf(m property.Map, key string) []string {
	var out []string
	for _, v := range m.Get(key).AsArray().All {
		out = append(out, v.AsString())
	}
	return out
}

func TestAutoDeployerCheckFailures(t *testing.T) {
	t.Parallel()
	server := newServer(t, "http://127.0.0.1:1", testToken) // Check never calls the API.
	nameRule := `use 1-100 characters: letters, digits, "-", "_" or "."`
	cases := []struct {
		name     string
		inputs   property.Map
		property string
		reason   string
	}{
		{"ref without a slash", deployerInputs("a", "b"), "downstreamRefs",
			`downstreamRefs[0] "b" is not a stack reference: use the form "project/stack" (for example ` +
				`"database/prod"), a stack in the same organization`},
		{"ref with an org", deployerInputs("a", "org/graph/b"), "downstreamRefs",
			`downstreamRefs[0] "org/graph/b" is not a stack reference: use the form "project/stack" (for example ` +
				`"database/prod"), a stack in the same organization`},
		{"ref with a bad stack name", deployerInputs("a", "graph/b c"), "downstreamRefs",
			`downstreamRefs[0] stack "b c" is not a valid name: ` + nameRule},
		{"empty project in ref", deployerInputs("a", "/b"), "downstreamRefs",
			`downstreamRefs[0] project must not be empty: ` + nameRule},
		{"self reference", deployerInputs("a", "graph/b", "graph/a"), "downstreamRefs",
			`downstreamRefs[1] "graph/a" is this stack itself: a stack that redeploys itself would loop forever; ` +
				`remove it`},
		{"duplicate", deployerInputs("a", "graph/b", "graph/c", "graph/b"), "downstreamRefs",
			`downstreamRefs[2] "graph/b" repeats downstreamRefs[0]: list each downstream stack once`},
		{"bad stack name", deployerInputs("a/b"), "stack", `stack "a/b" is not a valid name: ` + nameRule},
		{"empty organization", property.NewMap(map[string]property.Value{
			"organization": property.New(""), "project": property.New("graph"), "stack": property.New("a"),
		}), "organization", "organization must not be empty: " + nameRule},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := server.Check(p.CheckRequest{Urn: deployerURN("a"), Inputs: tc.inputs})
			require.NoError(t, err)
			assert.Contains(t, resp.Failures, p.CheckFailure{Property: tc.property, Reason: tc.reason},
				"failures: %v", resp.Failures)
		})
	}
}

func TestAutoDeployerLifecycle(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c", "d")
	hooksOn := func(stack string) []string {
		var refs []string
		for _, h := range withoutMarks(tc.cloud.Webhooks()) {
			if h.Stack == stack {
				refs = append(refs, h.PayloadURL)
			}
		}
		return refs
	}
	integration.LifeCycleTest{
		Resource: autoDeployerToken,
		Create: integration.Operation{
			Inputs: deployerInputs("a", "graph/b", "graph/c"),
			Hook: func(_, output property.Map) {
				assert.Equal(t, "graph/a", output.Get("ref").AsString())
				assert.ElementsMatch(t, []string{"graph/b", "graph/c"}, hooksOn("a"))
				assert.Equal(t, []string{edge.Name("graph/b"), edge.Name("graph/c")},
					refsOf(output, "downstreamWebhooks"))
				hook := withoutMarks(tc.cloud.Webhooks())[0]
				assert.Equal(t, "pulumi_deployments", hook.Format)
				assert.Equal(t, []string{"update_succeeded"}, hook.Filters)
				assert.True(t, hook.Active)
			},
		},
		Updates: []integration.Operation{
			{ // Swap c for d: one create, one delete.
				Inputs: deployerInputs("a", "graph/d", "graph/b"),
				Hook: func(_, output property.Map) {
					assert.ElementsMatch(t, []string{"graph/b", "graph/d"}, hooksOn("a"))
					assert.Equal(t, []string{"graph/b", "graph/d"}, refsOf(output, "downstreamRefs"), "kept sorted")
				},
			},
			{ // Move to stack b: replaced, the new webhooks live on b.
				Inputs: deployerInputs("b", "graph/c"),
				Hook: func(_, output property.Map) {
					assert.Equal(t, []string{"graph/c"}, hooksOn("b"))
				},
			},
		},
	}.Run(t, tc.server)
	assert.Empty(t, tc.cloud.Webhooks(), "delete removes every owned webhook")
}

func TestAutoDeployerRefusesBadTargetsBeforeWriting(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b")
	f.addBareStack("org", "graph", "nosettings")
	server := fakeServer(t, f)

	_, err := engineCreate(server, deployerURN("a"), deployerInputs("a", "graph/b", "graph/missing"))
	assert.ErrorContains(t, err, "downstream stack org/graph/missing does not exist in Pulumi Cloud: create it "+
		"(`pulumi stack init org/graph/missing`) or remove \"graph/missing\" from downstreamRefs")

	_, err = engineCreate(server, deployerURN("a2"), deployerInputs("a", "graph/nosettings"))
	assert.ErrorContains(t, err, "downstream stack org/graph/nosettings has no deployment settings, so a deployment "+
		"webhook cannot deploy it: configure Pulumi Deployments for it")

	assert.Zero(t, writes(f.took()), "nothing is written when a target is bad")
	assert.Empty(t, f.edges())
}

// handMade is a pulumi_deployments webhook made by hand that deploys ref after each update.
func handMade(ref string) cloud.Webhook {
	return cloud.Webhook{Name: "a1b2c3d4", DisplayName: "by hand", PayloadURL: ref, Active: true,
		Format: "pulumi_deployments", Filters: []string{"update_succeeded"}}
}

func TestAutoDeployerRefusesDirectCycle(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b")
	f.addHookLocked("org/graph/b", handMade("graph/a")) // b → a, made through the API
	_, err := engineCreate(fakeServer(t, f), deployerURN("a"), deployerInputs("a", "graph/b"))
	assert.ErrorContains(t, err, `downstreamRefs: adding "graph/b" would create a deployment cycle `+
		`graph/a → graph/b → graph/a: every update would redeploy the stacks in it forever; remove one of these edges`)
	assert.Zero(t, writes(f.took()))
}

func TestAutoDeployerRefusesCycles(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b", "c")
	f.addHookLocked("org/graph/c", handMade("graph/a")) // c → a, by another program (or by hand)
	server := fakeServer(t, f)
	_, err := engineCreate(server, deployerURN("b"), deployerInputs("b", "graph/c"))
	require.NoError(t, err, "b → c closes no loop yet")
	_, err = engineCreate(server, deployerURN("a"), deployerInputs("a", "graph/b"))
	assert.ErrorContains(t, err, `downstreamRefs: adding "graph/b" would create a deployment cycle `+
		`graph/a → graph/b → graph/c → graph/a: every update would redeploy the stacks in it forever; `+
		`remove one of these edges`)
	assert.Equal(t, []string{"graph/b → graph/c", "graph/c → graph/a"}, f.edges(), "the refused edge was not written")
}

func TestAutoDeployerConcurrentHalvesOfALoop(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b")
	server := fakeServer(t, f)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, pair := range [][2]string{{"a", "graph/b"}, {"b", "graph/a"}} {
		wg.Go(func() { _, errs[i] = engineCreate(server, deployerURN(pair[0]), deployerInputs(pair[0], pair[1])) })
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			assert.ErrorContains(t, err, "would create a deployment cycle")
		}
	}
	assert.Equal(t, 1, failed, "exactly one half of the loop is refused: %v", errs)
	assert.Len(t, f.edges(), 1)
}

func TestAutoDeployerPartialFailureConverges(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c", "d", "e", "f")
	tc.cloud.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
		{Status: http.StatusInternalServerError, Nth: 4, Method: http.MethodPost, PathContains: "/hooks"},
	}})
	inputs := deployerInputs("a", "graph/b", "graph/c", "graph/d", "graph/e", "graph/f")
	resp, err := engineCreate(tc.server, deployerURN("a"), inputs)
	require.Error(t, err)
	require.NotNil(t, resp.PartialState, "the webhooks that were written stay in state")
	assert.Len(t, refsOf(resp.Properties, "downstreamRefs"), 4)
	assert.Len(t, withoutMarks(tc.cloud.Webhooks()), 4)

	// The next up is an Update from the partial state, and finishes the job.
	tc.cloud.SetFaults(emulator.Faults{})
	check, err := tc.server.Check(p.CheckRequest{Urn: deployerURN("a"), State: resp.Properties, Inputs: inputs})
	require.NoError(t, err)
	diff, err := tc.server.Diff(p.DiffRequest{ID: "org/graph/a", Urn: deployerURN("a"), State: resp.Properties,
		Inputs: check.Inputs})
	require.NoError(t, err)
	require.True(t, diff.HasChanges)
	tc.cloud.ResetStats()
	updated, err := tc.server.Update(p.UpdateRequest{ID: "org/graph/a", Urn: deployerURN("a"), State: resp.Properties,
		Inputs: check.Inputs})
	require.NoError(t, err)
	assert.Equal(t, []string{"graph/b", "graph/c", "graph/d", "graph/e", "graph/f"},
		refsOf(updated.Properties, "downstreamRefs"))
	assert.Len(t, withoutMarks(tc.cloud.Webhooks()), 5, "no duplicates")
	assert.Equal(t, 3, tc.cloud.Stats().Writes, "only the missing edge is written: its mark, then pending, then in "+
		"place")
}

func TestAutoDeployerAdoptsWhenTheAnswerIsLost(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c", "d")
	// Every create lands, but the client sees 503 for the second one.
	tc.cloud.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusServiceUnavailable, Nth: 2,
		Method: http.MethodPost, PathContains: "/hooks", AfterApply: true}}})
	resp, err := engineCreate(tc.server, deployerURN("a"), deployerInputs("a", "graph/b", "graph/c", "graph/d"))
	require.NoError(t, err)
	assert.Len(t, refsOf(resp.Properties, "downstreamRefs"), 3)
	assert.Len(t, withoutMarks(tc.cloud.Webhooks()), 3, "the landed create is adopted, not repeated")
}

func TestAutoDeployerPreview(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b")
	check, err := tc.server.Check(p.CheckRequest{Urn: deployerURN("a"), Inputs: deployerInputs("a", "graph/b")})
	require.NoError(t, err)
	preview, err := tc.server.Create(p.CreateRequest{Urn: deployerURN("a"), Properties: check.Inputs, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, "graph/a", preview.Properties.Get("ref").AsString(), "ref is known in preview")
	assert.Equal(t, []string{edge.Name("graph/b")}, refsOf(preview.Properties, "downstreamWebhooks"))
	assert.Zero(t, tc.cloud.Stats().Writes, "preview writes nothing")

	unknown := deployerInputs("a", "graph/b").Set("stack", property.New(property.Computed))
	check, err = tc.server.Check(p.CheckRequest{Urn: deployerURN("x"), Inputs: unknown})
	require.NoError(t, err)
	require.Empty(t, check.Failures)
	preview, err = tc.server.Create(p.CreateRequest{Urn: deployerURN("x"), Properties: check.Inputs, DryRun: true})
	require.NoError(t, err)
	assert.True(t, preview.Properties.Get("ref").IsComputed(), "ref is unknown while the stack is")

	missing := deployerInputs("a", "graph/nope")
	check, err = tc.server.Check(p.CheckRequest{Urn: deployerURN("y"), Inputs: missing})
	require.NoError(t, err)
	_, err = tc.server.Create(p.CreateRequest{Urn: deployerURN("y"), Properties: check.Inputs, DryRun: true})
	assert.ErrorContains(t, err, "downstream stack org/graph/nope does not exist", "preview reports a missing target")
}

func TestAutoDeployerReadAndImport(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c")
	client, err := cloud.New(http.DefaultClient, tc.cloud.URL, testToken)
	require.NoError(t, err)
	scope := cloud.WebhookScope{Organization: "org", Project: "graph", Stack: "a"}
	resp, err := engineCreate(tc.server, deployerURN("a"), deployerInputs("a", "graph/b", "graph/c"))
	require.NoError(t, err)
	// Someone else's webhook on the same stack is never ours.
	_, err = client.CreateWebhook(t.Context(), scope, cloud.Webhook{DisplayName: "notify", Active: true,
		PayloadURL: "https://hooks.example.com/x"})
	require.NoError(t, err)

	// Each refresh is a command of its own, a provider process of its own.
	refresh := func() integration.Server { return newServer(t, tc.cloud.URL, testToken) }
	read, err := refresh().Read(p.ReadRequest{ID: "org/graph/a", Urn: deployerURN("a")})
	require.NoError(t, err)
	assert.Equal(t, "org/graph/a", read.ID)
	assert.Equal(t, []string{"graph/b", "graph/c"}, refsOf(read.Inputs, "downstreamRefs"))
	assert.Equal(t, "graph/a", read.Properties.Get("ref").AsString())

	// Deactivated out of band: no longer the webhook this resource keeps, so it drops out.
	_, err = client.UpdateWebhook(t.Context(), scope, edge.Name("graph/c"), cloud.Webhook{
		Name: edge.Name("graph/c"), DisplayName: "auto-deploy: graph/c", PayloadURL: "graph/c",
		Format: "pulumi_deployments", Filters: []string{"update_succeeded"}, Groups: []string{"deployments"},
		Active: false,
	})
	require.NoError(t, err)
	read, err = refresh().Read(p.ReadRequest{ID: "org/graph/a", Urn: deployerURN("a"), Properties: resp.Properties})
	require.NoError(t, err)
	assert.Equal(t, []string{"graph/b"}, refsOf(read.Properties, "downstreamRefs"))

	// The next update re-adds it: the create meets the existing webhook and repairs it.
	check, err := tc.server.Check(p.CheckRequest{Urn: deployerURN("a"), State: read.Properties,
		Inputs: deployerInputs("a", "graph/b", "graph/c")})
	require.NoError(t, err)
	_, err = tc.server.Update(p.UpdateRequest{ID: "org/graph/a", Urn: deployerURN("a"), State: read.Properties,
		Inputs: check.Inputs})
	require.NoError(t, err)
	for _, h := range withoutMarks(tc.cloud.Webhooks()) {
		assert.True(t, h.Active, "%s is active again", h.Name)
		assert.Empty(t, h.Groups, "%s has its groups cleared", h.Name)
	}
	assert.Len(t, withoutMarks(tc.cloud.Webhooks()), 3)

	_, err = refresh().Read(p.ReadRequest{ID: "org/graph", Urn: deployerURN("a")})
	assert.ErrorContains(t, err, `AutoDeployer ID "org/graph" is not valid: use organization/project/stack`)

	// Delete twice: webhooks already gone count as deleted.
	require.NoError(t, tc.server.Delete(p.DeleteRequest{ID: "org/graph/a", Urn: deployerURN("a"),
		Properties: resp.Properties}))
	require.NoError(t, tc.server.Delete(p.DeleteRequest{ID: "org/graph/a", Urn: deployerURN("a"),
		Properties: resp.Properties}))
	assert.Len(t, withoutMarks(tc.cloud.Webhooks()), 1, "only the webhook we do not own is left")
}

// paused makes every edge inactive with one PATCH each, and false makes them active again.
func TestAutoDeployerPaused(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b", "c")
	created, err := engineCreate(tc.server, deployerURN("a"), deployerInputs("a", "graph/b", "graph/c"))
	require.NoError(t, err)
	state := created.Properties
	for _, paused := range []bool{true, false} {
		inputs := deployerInputs("a", "graph/b", "graph/c").Set("paused", property.New(paused))
		check, err := tc.server.Check(p.CheckRequest{Urn: deployerURN("a"), State: state, Inputs: inputs})
		require.NoError(t, err)
		tc.cloud.ResetStats()
		updated, err := tc.server.Update(p.UpdateRequest{ID: "org/graph/a", Urn: deployerURN("a"), State: state,
			Inputs: check.Inputs})
		require.NoError(t, err)
		stats := tc.cloud.Stats()
		assert.Equal(t, 2, stats.ByMethod[http.MethodPatch], "paused=%v: %v", paused, stats.ByRoute)
		assert.Equal(t, 2, stats.Writes, "paused=%v: %v", paused, stats.ByRoute)
		for _, h := range withoutMarks(tc.cloud.Webhooks()) {
			assert.Equal(t, !paused, h.Active, "paused=%v", paused)
		}
		result, err := tc.cloud.FireUpdate("org", "graph", "a")
		require.NoError(t, err)
		if paused {
			assert.Empty(t, result.Deployments)
		} else {
			assert.Len(t, result.Deployments, 2)
		}
		state = updated.Properties
	}
}
