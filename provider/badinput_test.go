package provider

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// requestID is the one part of an error that changes from run to run.
var requestID = regexp.MustCompile(` \(request id [^)]*\)`)

// TestBadInputCatalogue sends each mistake a user can make through the engine's order of
// calls (Check, preview, create) and asserts the exact message and that nothing was
// written to Pulumi Cloud.
func TestBadInputCatalogue(t *testing.T) {
	t.Parallel()
	nameRule := `use 1-100 characters: letters, digits, "-", "_" or "."`
	orgHook := func(edit map[string]property.Value) property.Map {
		m := property.NewMap(map[string]property.Value{
			"organizationName": property.New("org"), "displayName": property.New("notify"),
			"payloadUrl": property.New("https://hooks.example.com/x"), "active": property.New(true),
		})
		for k, v := range edit {
			m = m.Set(k, v)
		}
		return m
	}
	cases := []struct {
		name     string
		urn      resource.URN
		inputs   property.Map
		token    string                       // default testToken
		setup    func(*testing.T, *testCloud) // extra state in the emulator
		property string                       // set for Check failures
		message  string
	}{
		{name: "ref without project", urn: deployerURN("a"), inputs: deployerInputs("a", "b"),
			property: "downstreamRefs", message: `downstreamRefs[0] "b" is not a stack reference: use the form ` +
				`"project/stack" (for example "database/prod"), a stack in the same organization`},
		{name: "ref with spaces", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/my stack"),
			property: "downstreamRefs", message: `downstreamRefs[0] stack "my stack" is not a valid name: ` + nameRule},
		{name: "self reference", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/a"),
			property: "downstreamRefs", message: `downstreamRefs[0] "graph/a" is this stack itself: a stack that ` +
				`redeploys itself would loop forever; remove it`},
		{name: "duplicate ref", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/b", "graph/b"),
			property: "downstreamRefs", message: `downstreamRefs[1] "graph/b" repeats downstreamRefs[0]: list ` +
				`each downstream stack once`},
		{name: "dot-only stack name", urn: deployerURN("a"), inputs: deployerInputs(".."),
			property: "stack", message: "stack \"..\" is not a valid name: it needs a letter, digit, `-` or `_`"},
		{name: "bad project name", urn: deployerURN("a"),
			inputs:   deployerInputs("a").Set("project", property.New("my project")),
			property: "project", message: `project "my project" is not a valid name: ` + nameRule},
		{name: "raw URL without scheme", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"payloadUrl": property.New("hooks.example.com/x")}),
			property: "payloadUrl", message: `payloadUrl "hooks.example.com/x" is not an http(s) URL: a raw webhook ` +
				`posts to an absolute URL such as "https://hooks.example.com/pulumi" (use format pulumi_deployments ` +
				`with "project/stack" to deploy a stack)`},
		{name: "slack URL with ftp", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"format": property.New("slack"), "payloadUrl": property.New("ftp://hooks.slack.com/x")}),
			property: "payloadUrl", message: `payloadUrl "ftp://hooks.slack.com/x" is not an http(s) URL: a slack ` +
				`webhook posts to an absolute URL such as "https://hooks.example.com/pulumi" (use format ` +
				`pulumi_deployments with "project/stack" to deploy a stack)`},
		{name: "teams URL empty", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"format": property.New("ms_teams"), "payloadUrl": property.New("")}),
			property: "payloadUrl", message: `payloadUrl "" is not an http(s) URL: a ms_teams webhook posts to an ` +
				`absolute URL such as "https://hooks.example.com/pulumi" (use format pulumi_deployments with ` +
				`"project/stack" to deploy a stack)`},
		{name: "deployment target with org", urn: webhookURN, inputs: stackWebhook("prod", map[string]property.Value{
			"payloadUrl": property.New("org/database/prod")}),
			property: "payloadUrl", message: `payloadUrl "org/database/prod" is not a stack reference: use the form ` +
				`"project/stack" (for example "database/prod"), a stack in the same organization; a ` +
				`pulumi_deployments webhook deploys that stack instead of calling a URL`},
		{name: "deployments on organization scope", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"format": property.New("pulumi_deployments"), "payloadUrl": property.New("database/prod")}),
			property: "format", message: "format pulumi_deployments can only be used on stack or environment " +
				"webhooks: set projectName and stackName (or environmentName)"},
		{name: "stack without project", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"stackName": property.New("prod")}),
			property: "projectName", message: "projectName is required with stackName: a stack webhook needs both"},
		{name: "stack and environment", urn: webhookURN, inputs: stackWebhook("prod", map[string]property.Value{
			"environmentName": property.New("dev")}),
			property: "stackName", message: "set stackName for a stack webhook or environmentName for an " +
				"environment webhook, not both"},
		{name: "unknown filter", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"filters": stringList("update_succeded")}),
			property: "filters[0]", message: `filter "update_succeded" is not a webhook filter; allowed: ` +
				allowedValues(webhookEvents, true)},
		{name: "bad organization name", urn: webhookURN, inputs: orgHook(map[string]property.Value{
			"organizationName": property.New("my org")}),
			property: "organizationName", message: `organizationName "my org" is not a valid name: ` + nameRule},
		{name: "missing target stack", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/gone"),
			message: "downstream stack org/graph/gone does not exist in Pulumi Cloud: create it " +
				"(`pulumi stack init org/graph/gone`) or remove \"graph/gone\" from downstreamRefs"},
		{name: "target without deployment settings", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/bare"),
			setup: func(t *testing.T, tc *testCloud) { require.NoError(t, tc.cloud.CreateStack("org", "graph", "bare")) },
			message: "downstream stack org/graph/bare has no deployment settings, so a deployment webhook cannot " +
				"deploy it: configure Pulumi Deployments for it (Stack > Settings > Deploy in Pulumi Cloud, or a " +
				"pulumiservice.DeploymentSettings resource) and run again"},
		{name: "cycle", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/b"),
			setup: func(t *testing.T, tc *testCloud) {
				client, err := cloud.New(http.DefaultClient, tc.cloud.URL, testToken)
				require.NoError(t, err)
				_, err = client.CreateWebhook(t.Context(), cloud.WebhookScope{Organization: "org", Project: "graph",
					Stack: "b"}, cloud.Webhook{DisplayName: "x", PayloadURL: "graph/a", Active: true,
					Format: "pulumi_deployments"})
				require.NoError(t, err)
			},
			message: `downstreamRefs: adding "graph/b" would create a deployment cycle graph/a → graph/b → graph/a: ` +
				"every update would redeploy the stacks in it forever; remove one of these edges"},
		{name: "auto deployer on a missing stack", urn: deployerURN("gone"), inputs: deployerInputs("gone", "graph/b"),
			message: "stack org/graph/gone does not exist in Pulumi Cloud, so no webhook can be added to it: create " +
				"it (`pulumi stack init org/graph/gone`) or correct the organization, project and stack"},
		{name: "webhook on a missing stack", urn: webhookURN, inputs: stackWebhook("gone", nil),
			message: "stack org/network/gone does not exist in Pulumi Cloud, so no webhook can be added to it: create " +
				"it (`pulumi stack init org/network/gone`) or correct the organization, project and stack"},
		{name: "refused token, webhook", urn: webhookURN, inputs: stackWebhook("prod", nil), token: "wrong",
			message: `listing webhooks of org/network/prod: Pulumi Cloud refused the access token ` +
				"(401): check auto-deploy:accessToken or PULUMI_ACCESS_TOKEN, or run `pulumi login` again: GET " +
				"/api/stacks/org/network/prod/hooks: 401 Unauthorized: Unauthorized: no credentials provided or they " +
				"are invalid"},
		{name: "refused token, auto deployer", urn: deployerURN("a"), inputs: deployerInputs("a", "graph/b"),
			token: "wrong",
			message: "reading deployment settings of org/graph/b: Pulumi Cloud refused the access token (401): " +
				"check auto-deploy:accessToken or PULUMI_ACCESS_TOKEN, or run `pulumi login` again: GET " +
				"/api/stacks/org/graph/b/deployments/settings: 401 Unauthorized: Unauthorized: no credentials " +
				"provided or they are invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tc := graphCloud(t, "a", "b")
			tc.cloud.SeedDeployable(t, "org", "network", "prod")
			tc.cloud.SeedDeployable(t, "org", "database", "prod")
			if c.setup != nil {
				c.setup(t, tc)
			}
			server := tc.server
			if c.token != "" {
				server = newServer(t, tc.cloud.URL, c.token)
			}
			before := len(tc.cloud.Requests())
			_, err := engineCreate(server, c.urn, c.inputs)
			if c.property != "" {
				var failed checkFailed
				require.ErrorAs(t, err, &failed)
				assert.Contains(t, failed.failures, p.CheckFailure{Property: c.property, Reason: c.message})
			} else {
				require.Error(t, err)
				assert.Equal(t, c.message, requestID.ReplaceAllString(err.Error(), ""))
			}
			assert.Empty(t, acceptedWrites(tc.cloud.Requests()[before:]), "a refused input must change nothing")
		})
	}
	assert.GreaterOrEqual(t, len(cases), 15)
}

// acceptedWrites lists the write requests Pulumi Cloud accepted; a write it refused (401,
// 404) changed nothing.
func acceptedWrites(requests []emulator.RequestRecord) []string {
	var writes []string
	for _, r := range requests {
		if r.Method != http.MethodGet && r.Status < 300 {
			writes = append(writes, r.Method+" "+r.Path)
		}
	}
	return writes
}

func TestNoTokenIsRefusedAtConfigure(t *testing.T) {
	isolateEnv(t)
	tc := newTestCloud(t)
	prov, err := New(NewCloudClient)
	require.NoError(t, err)
	server := newServerFor(t, prov)
	err = server.Configure(p.ConfigureRequest{Args: property.NewMap(map[string]property.Value{
		"apiUrl": property.New(tc.cloud.URL),
	})})
	require.Error(t, err)
	assert.Equal(t, "no Pulumi Cloud access token for "+tc.cloud.URL+": set it with "+
		"`pulumi config set --secret auto-deploy:accessToken <token>`, or export PULUMI_ACCESS_TOKEN, or run "+
		"`pulumi login "+tc.cloud.URL+"`", err.Error())
	assert.Zero(t, tc.cloud.Stats().Total)
}
