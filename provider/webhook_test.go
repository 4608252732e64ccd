package provider

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

const webhookToken = "auto-deploy:index:Webhook"

var webhookURN = resource.NewURN("test", "provider", "", webhookToken, "hook")

// stackWebhook returns the inputs of a deployment webhook network/{stack} → database/prod.
func stackWebhook(stack string, extra map[string]property.Value) property.Map {
	m := map[string]property.Value{
		"organizationName": property.New("org"),
		"projectName":      property.New("network"),
		"stackName":        property.New(stack),
		"displayName":      property.New("deploy-database"),
		"payloadUrl":       property.New("database/prod"),
		"active":           property.New(true),
		"format":           property.New("pulumi_deployments"),
		"filters":          stringList("update_succeeded"),
	}
	for k, v := range extra {
		m[k] = v
	}
	return property.NewMap(m)
}

func stringList(values ...string) property.Value {
	arr := make([]property.Value, len(values))
	for i, v := range values {
		arr[i] = property.New(v)
	}
	return property.New(arr)
}

func TestWebhookLifecycle(t *testing.T) {
	t.Parallel()
	tc := newTestCloud(t)
	tc.cloud.SeedDeployable(t, "org", "network", "prod", "staging")
	tc.cloud.SeedDeployable(t, "org", "database", "prod")

	var firstName string
	integration.LifeCycleTest{
		Resource: webhookToken,
		Create: integration.Operation{
			Inputs: stackWebhook("prod", nil),
			Hook: func(_, output property.Map) {
				hooks := withoutMarks(tc.cloud.Webhooks())
				require.Len(t, hooks, 1)
				firstName = hooks[0].Name
				assert.Equal(t, firstName, output.Get("name").AsString())
				assert.Equal(t, "database/prod", hooks[0].PayloadURL)
				assert.Equal(t, "prod", hooks[0].Stack)
			},
		},
		Updates: []integration.Operation{
			{ // Reordering filters changes nothing: LifeCycleTest skips the update when Diff says so.
				Inputs: stackWebhook("prod", map[string]property.Value{
					"filters": stringList("update_succeeded", "update_failed"),
				}),
				Hook: func(_, output property.Map) {
					hooks := withoutMarks(tc.cloud.Webhooks())
					require.Len(t, hooks, 1)
					assert.Equal(t, firstName, hooks[0].Name, "updated in place")
					assert.ElementsMatch(t, []string{"update_succeeded", "update_failed"}, hooks[0].Filters)
				},
			},
			{
				Inputs: stackWebhook("prod", map[string]property.Value{
					"filters":     stringList("update_failed", "update_succeeded"),
					"displayName": property.New("redeploy-database"),
					"secret":      property.New("s3cret").WithSecret(true),
				}),
				Hook: func(_, output property.Map) {
					hooks := withoutMarks(tc.cloud.Webhooks())
					require.Len(t, hooks, 1)
					assert.Equal(t, firstName, hooks[0].Name, "updated in place")
					assert.Equal(t, "redeploy-database", hooks[0].DisplayName)
					assert.Equal(t, "s3cret", hooks[0].Secret)
					assert.True(t, output.Get("secret").Secret(), "the secret stays secret in state")
				},
			},
			{ // Removing filters and the secret clears them, however the service treats absent keys.
				Inputs: stackWebhook("prod", map[string]property.Value{
					"displayName": property.New("redeploy-database"),
				}).Delete("filters"),
				Hook: func(_, output property.Map) {
					hooks := withoutMarks(tc.cloud.Webhooks())
					require.Len(t, hooks, 1)
					assert.Empty(t, hooks[0].Filters)
					assert.False(t, hooks[0].HasSecret)
				},
			},
			{ // A new stack is a new scope: the webhook is replaced.
				Inputs: stackWebhook("staging", nil),
				Hook: func(_, output property.Map) {
					// Create before delete: the new webhook exists beside the old one here.
					hooks := withoutMarks(tc.cloud.Webhooks())
					require.Len(t, hooks, 2)
					assert.Equal(t, []string{"prod", "staging"}, []string{hooks[0].Stack, hooks[1].Stack})
					assert.Equal(t, hooks[1].Name, output.Get("name").AsString())
					assert.NotEqual(t, firstName, hooks[1].Name)
				},
			},
		},
	}.Run(t, tc.server)

	// LifeCycleTest deletes the old webhook after the replacement, then the resource itself.
	assert.Empty(t, tc.cloud.Webhooks())
}

func TestWebhookCheckFailures(t *testing.T) {
	t.Parallel()
	server := newServer(t, "http://127.0.0.1:1", testToken) // Check never calls the API.

	org := func(extra map[string]property.Value) property.Map {
		m := map[string]property.Value{
			"organizationName": property.New("org"),
			"displayName":      property.New("notify"),
			"payloadUrl":       property.New("https://hooks.example.com/x"),
			"active":           property.New(true),
		}
		for k, v := range extra {
			m[k] = v
		}
		return property.NewMap(m)
	}
	cases := []struct {
		name     string
		inputs   property.Map
		property string
		reason   string
	}{
		{"stack without project", org(map[string]property.Value{"stackName": property.New("prod")}),
			"projectName", "projectName is required with stackName: a stack webhook needs both"},
		{"environment without project", org(map[string]property.Value{"environmentName": property.New("dev")}),
			"projectName", "projectName is required with environmentName: an environment webhook needs both"},
		{"stack and environment", stackWebhook("prod", map[string]property.Value{
			"environmentName": property.New("dev")}),
			"stackName", "set stackName for a stack webhook or environmentName for an environment webhook, not both"},
		{"project alone", org(map[string]property.Value{"projectName": property.New("network")}),
			"projectName", "projectName alone is not a scope: add stackName for a stack webhook or " +
				"environmentName for an environment webhook, or remove projectName for an organization webhook"},
		{"deployments on an organization webhook", org(map[string]property.Value{
			"format": property.New("pulumi_deployments"), "payloadUrl": property.New("database/prod")}),
			"format", "format pulumi_deployments can only be used on stack or environment webhooks: " +
				"set projectName and stackName (or environmentName)"},
		{"deployment target not a stack ref", stackWebhook("prod", map[string]property.Value{
			"payloadUrl": property.New("https://example.com")}),
			"payloadUrl", `payloadUrl "https://example.com" is not a stack reference: use the form ` +
				`"project/stack" (for example "database/prod"), a stack in the same organization; ` +
				`a pulumi_deployments webhook deploys that stack instead of calling a URL`},
		{"raw payload not a URL", org(map[string]property.Value{"payloadUrl": property.New("database/prod")}),
			"payloadUrl", `payloadUrl "database/prod" is not an http(s) URL: a raw webhook posts to an absolute ` +
				`URL such as "https://hooks.example.com/pulumi" (use format pulumi_deployments with ` +
				`"project/stack" to deploy a stack)`},
		{"bad stack name", stackWebhook("prod env", nil),
			"stackName", `stackName "prod env" is not a valid name: use 1-100 characters: letters, digits, ` +
				`"-", "_" or "."`},
		{"empty display name", org(map[string]property.Value{"displayName": property.New(" ")}),
			"displayName", "displayName must not be empty"},
		{"unknown format", org(map[string]property.Value{"format": property.New("xml")}),
			"format", `format "xml" is not supported: use raw, slack, ms_teams or pulumi_deployments`},
		{"organization-only filter on a stack", stackWebhook("prod", map[string]property.Value{
			"filters": stringList("update_succeeded", "stack_created")}),
			"filters[1]", `filter "stack_created" is only valid on organization webhooks; allowed here: ` +
				allowedValues(webhookEvents, false)},
		{"unknown filter", org(map[string]property.Value{"filters": stringList("update_suceeded")}),
			"filters[0]", `filter "update_suceeded" is not a webhook filter; allowed: ` +
				allowedValues(webhookEvents, true)},
		{"unknown group", org(map[string]property.Value{"groups": stringList("stack")}),
			"groups[0]", `group "stack" is not a webhook group; allowed: ` + allowedValues(webhookGroups, true)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := server.Check(p.CheckRequest{Urn: webhookURN, Inputs: tc.inputs})
			require.NoError(t, err)
			assert.Contains(t, resp.Failures, p.CheckFailure{Property: tc.property, Reason: tc.reason},
				"failures: %v", resp.Failures)
		})
	}
}

func TestWebhookCheckWaitsForUnknowns(t *testing.T) {
	t.Parallel()
	server := newServer(t, "http://127.0.0.1:1", testToken)
	resp, err := server.Check(p.CheckRequest{Urn: webhookURN, Inputs: stackWebhook("prod", map[string]property.Value{
		"payloadUrl": property.New(property.Computed),
		"stackName":  property.New(property.Computed),
	})})
	require.NoError(t, err)
	assert.Empty(t, resp.Failures)
}

func TestWebhookCheckDefaultsFormatToRaw(t *testing.T) {
	t.Parallel()
	server := newServer(t, "http://127.0.0.1:1", testToken)
	resp, err := server.Check(p.CheckRequest{Urn: webhookURN, Inputs: property.NewMap(map[string]property.Value{
		"organizationName": property.New("org"),
		"displayName":      property.New("notify"),
		"payloadUrl":       property.New("https://hooks.example.com/x"),
		"active":           property.New(true),
	})})
	require.NoError(t, err)
	require.Empty(t, resp.Failures)
	assert.Equal(t, "raw", resp.Inputs.Get("format").AsString())
}

func TestWebhookRefresh(t *testing.T) {
	t.Parallel()
	tc := newTestCloud(t)
	tc.cloud.SeedDeployable(t, "org", "network", "prod")
	client, err := cloud.New(http.DefaultClient, tc.cloud.URL, testToken)
	require.NoError(t, err)
	scope := cloud.WebhookScope{Organization: "org", Project: "network", Stack: "prod"}

	inputs := stackWebhook("prod", map[string]property.Value{
		"filters": stringList("update_succeeded", "update_failed"),
		"secret":  property.New("s3cret").WithSecret(true),
	})
	created, err := engineCreate(tc.server, webhookURN, inputs)
	require.NoError(t, err)
	id, state := created.ID, created.Properties
	name := state.Get("name").AsString()
	assert.Equal(t, "org/network/prod/"+name, id)

	// Unchanged: Read gives back the same inputs, filter order and secret included.
	read, err := tc.server.Read(p.ReadRequest{ID: id, Urn: webhookURN, Properties: state, Inputs: inputs})
	require.NoError(t, err)
	assert.Equal(t, id, read.ID)
	assert.Equal(t, []property.Value{property.New("update_succeeded"), property.New("update_failed")},
		read.Inputs.Get("filters").AsArray().AsSlice())
	assert.Equal(t, "s3cret", read.Inputs.Get("secret").AsString())

	// Changed out of band: Read reports the live value, so the next up restores it.
	_, err = client.UpdateWebhook(t.Context(), scope, name, cloud.Webhook{
		Name: name, DisplayName: "renamed", PayloadURL: "database/prod", Active: false,
		Format: "pulumi_deployments", Filters: []string{"update_succeeded"},
	})
	require.NoError(t, err)
	read, err = tc.server.Read(p.ReadRequest{ID: id, Urn: webhookURN, Properties: state, Inputs: inputs})
	require.NoError(t, err)
	assert.Equal(t, "renamed", read.Inputs.Get("displayName").AsString())
	assert.False(t, read.Inputs.Get("active").AsBool())

	// Deleted out of band: Read reports it gone with an empty ID.
	require.NoError(t, client.DeleteWebhook(t.Context(), scope, name))
	read, err = tc.server.Read(p.ReadRequest{ID: id, Urn: webhookURN, Properties: state, Inputs: inputs})
	require.NoError(t, err)
	assert.Empty(t, read.ID)

	// Delete of a webhook already gone succeeds, so destroy is never blocked.
	require.NoError(t, tc.server.Delete(p.DeleteRequest{ID: id, Urn: webhookURN, Properties: state}))
}

func TestWebhookImport(t *testing.T) {
	t.Parallel()
	tc := newTestCloud(t)
	require.NoError(t, tc.cloud.CreateEnvironment("org", "shared", "dev"))
	client, err := cloud.New(http.DefaultClient, tc.cloud.URL, testToken)
	require.NoError(t, err)

	orgHook, err := client.CreateWebhook(t.Context(), cloud.WebhookScope{Organization: "org"}, cloud.Webhook{
		DisplayName: "audit", PayloadURL: "https://hooks.example.com/audit", Active: true, Format: "slack",
		Groups: []string{"stacks", "deployments"},
	})
	require.NoError(t, err)
	envScope := cloud.WebhookScope{Organization: "org", Project: "shared", Environment: "dev"}
	envHook, err := client.CreateWebhook(t.Context(), envScope, cloud.Webhook{
		DisplayName: "env-changed", PayloadURL: "https://hooks.example.com/env", Active: true,
		Filters: []string{"environment_revision_created"},
	})
	require.NoError(t, err)

	read, err := tc.server.Read(p.ReadRequest{ID: "org/" + orgHook.Name, Urn: webhookURN})
	require.NoError(t, err)
	assert.Equal(t, "org/"+orgHook.Name, read.ID)
	assert.Equal(t, "audit", read.Inputs.Get("displayName").AsString())
	assert.Equal(t, "slack", read.Inputs.Get("format").AsString())
	assert.ElementsMatch(t, []property.Value{property.New("stacks"), property.New("deployments")},
		read.Inputs.Get("groups").AsArray().AsSlice())
	_, hasProject := read.Inputs.GetOk("projectName")
	assert.False(t, hasProject)
	assert.Equal(t, orgHook.Name, read.Properties.Get("name").AsString())

	envID := "org/environment/shared/dev/" + envHook.Name
	read, err = tc.server.Read(p.ReadRequest{ID: envID, Urn: webhookURN})
	require.NoError(t, err)
	assert.Equal(t, "shared", read.Inputs.Get("projectName").AsString())
	assert.Equal(t, "dev", read.Inputs.Get("environmentName").AsString())

	_, err = tc.server.Read(p.ReadRequest{ID: "org/network/hook", Urn: webhookURN})
	assert.ErrorContains(t, err, `webhook ID "org/network/hook" is not valid: use org/name for an organization `+
		"webhook, org/project/stack/name for a stack webhook, or org/environment/project/env/name for an "+
		"environment webhook")
}

func TestWebhookIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, scope := range []cloud.WebhookScope{
		{Organization: "org"},
		{Organization: "org", Project: "network", Stack: "prod"},
		{Organization: "org", Project: "environment", Stack: "prod"},
		{Organization: "org", Project: "shared", Environment: "dev"},
	} {
		id := formatWebhookID(scope, "a1b2c3d4")
		gotScope, gotName, err := parseWebhookID(id)
		require.NoError(t, err, id)
		assert.Equal(t, scope, gotScope, id)
		assert.Equal(t, "a1b2c3d4", gotName, id)
	}
	for _, bad := range []string{"", "org", "org/", "a/b/c", "org//prod/x", "a/b/c/d/e/f", "org/env/p/e/x"} {
		_, _, err := parseWebhookID(bad)
		assert.Error(t, err, bad)
	}
}

func TestWebhookDiff(t *testing.T) {
	t.Parallel()
	raw, slack := WebhookFormatRaw, WebhookFormatSlack
	base := WebhookArgs{
		OrganizationName: "org", ProjectName: optional("network"), StackName: optional("prod"),
		DisplayName: "d", PayloadURL: "https://x.example", Active: true,
		Filters: []WebhookFilters{"update_succeeded", "update_failed"},
	}
	with := func(edit func(*WebhookArgs)) WebhookArgs {
		a := base
		edit(&a)
		return a
	}
	cases := []struct {
		name string
		news WebhookArgs
		want map[string]p.PropertyDiff
	}{
		{"no change", base, map[string]p.PropertyDiff{}},
		{"filters reordered", with(func(a *WebhookArgs) {
			a.Filters = []WebhookFilters{"update_failed", "update_succeeded"}
		}), map[string]p.PropertyDiff{}},
		{"unset format is raw", with(func(a *WebhookArgs) { a.Format = &raw }), map[string]p.PropertyDiff{}},
		{"format changed", with(func(a *WebhookArgs) { a.Format = &slack }),
			map[string]p.PropertyDiff{"format": {Kind: p.Update, InputDiff: true}}},
		{"stack changed", with(func(a *WebhookArgs) { a.StackName = optional("dev") }),
			map[string]p.PropertyDiff{"stackName": {Kind: p.UpdateReplace, InputDiff: true}}},
		{"secret added", with(func(a *WebhookArgs) { a.Secret = optional("s") }),
			map[string]p.PropertyDiff{"secret": {Kind: p.Update, InputDiff: true}}},
		{"filter removed", with(func(a *WebhookArgs) { a.Filters = a.Filters[:1] }),
			map[string]p.PropertyDiff{"filters": {Kind: p.Update, InputDiff: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := (&Webhook{}).Diff(t.Context(), infer.DiffRequest[WebhookArgs, WebhookState]{
				State: WebhookState{WebhookArgs: base}, Inputs: tc.news,
			})
			require.NoError(t, err)
			assert.Equal(t, tc.want, resp.DetailedDiff)
			assert.Equal(t, len(tc.want) > 0, resp.HasChanges)
		})
	}
}

func TestWebhookCreateSurvivesLostAnswers(t *testing.T) {
	t.Parallel()
	for name, afterApply := range map[string]bool{"answer lost after the write": true, "write refused": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc := newTestCloud(t)
			tc.cloud.SeedDeployable(t, "org", "network", "prod")
			tc.cloud.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusBadGateway, Nth: 1,
				Method: http.MethodPost, PathContains: "/hooks", AfterApply: afterApply}}})
			created, err := engineCreate(tc.server, webhookURN, stackWebhook("prod", nil))
			require.NoError(t, err)
			id, state := created.ID, created.Properties
			hooks := withoutMarks(tc.cloud.Webhooks())
			require.Len(t, hooks, 1, "exactly one webhook, never two")
			assert.Equal(t, hooks[0].Name, state.Get("name").AsString())
			assert.Equal(t, "org/network/prod/"+hooks[0].Name, id)
		})
	}
}

func TestWebhookNameKnownInUpdatePreview(t *testing.T) {
	t.Parallel()
	tc := newTestCloud(t)
	tc.cloud.SeedDeployable(t, "org", "network", "prod")
	created, err := engineCreate(tc.server, webhookURN, stackWebhook("prod", nil))
	require.NoError(t, err)
	id, state := created.ID, created.Properties
	changed := stackWebhook("prod", map[string]property.Value{"displayName": property.New("renamed")})
	check, err := tc.server.Check(p.CheckRequest{Urn: webhookURN, State: state, Inputs: changed})
	require.NoError(t, err)
	preview, err := tc.server.Update(p.UpdateRequest{ID: id, Urn: webhookURN, State: state, Inputs: check.Inputs,
		OldInputs: state, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, state.Get("name"), preview.Properties.Get("name"), "an in-place update keeps the name")
	assert.Equal(t, "renamed", preview.Properties.Get("displayName").AsString())
}
