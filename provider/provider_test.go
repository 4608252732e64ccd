package provider

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/blang/semver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

const testToken = "pul-test-token"

// testCloud is a provider configured against its own emulator.
type testCloud struct {
	server integration.Server
	cloud  *emulatortest.Cloud
}

// newTestCloud starts an emulator that accepts testToken and a provider configured against it.
func newTestCloud(t *testing.T, opts ...emulatortest.Option) *testCloud {
	t.Helper()
	cloud := emulatortest.Start(t, append([]emulatortest.Option{emulatortest.WithToken(testToken)}, opts...)...)
	return &testCloud{server: newServer(t, cloud.URL, testToken), cloud: cloud}
}

// graphCloud is a provider and emulator with stacks org/graph/{names} that have deployment settings.
func graphCloud(t *testing.T, names ...string) *testCloud {
	t.Helper()
	tc := newTestCloud(t)
	tc.cloud.SeedDeployable(t, "org", "graph", names...)
	return tc
}

// engineServer is the part of a provider server that creating a resource needs.
type engineServer interface {
	Check(p.CheckRequest) (p.CheckResponse, error)
	Create(p.CreateRequest) (p.CreateResponse, error)
}

// checkFailed is the error engineCreate returns when Check reports failures.
type checkFailed struct{ failures []p.CheckFailure }

func (c checkFailed) Error() string { return fmt.Sprintf("check failed: %v", c.failures) }

// engineCreate creates a resource as `pulumi up` does: Check, a preview Create, then the real Create,
// stopping at the first refusal. Check failures come back as checkFailed. It calls no testing methods,
// so goroutines may use it.
func engineCreate(server engineServer, urn resource.URN, inputs property.Map) (p.CreateResponse, error) {
	check, err := server.Check(p.CheckRequest{Urn: urn, Inputs: inputs})
	if err != nil {
		return p.CreateResponse{}, err
	}
	if len(check.Failures) > 0 {
		return p.CreateResponse{}, checkFailed{check.Failures}
	}
	if _, err := server.Create(p.CreateRequest{Urn: urn, Properties: check.Inputs, DryRun: true}); err != nil {
		return p.CreateResponse{}, err
	}
	return server.Create(p.CreateRequest{Urn: urn, Properties: check.Inputs})
}

// newServer builds a provider configured with apiURL and token.
func newServer(t *testing.T, apiURL, token string) integration.Server {
	t.Helper()
	prov, err := New(NewCloudClient)
	require.NoError(t, err)
	server := newServerFor(t, prov)
	require.NoError(t, server.Configure(p.ConfigureRequest{Args: property.NewMap(map[string]property.Value{
		"apiUrl":      property.New(apiURL),
		"accessToken": property.New(token),
	})}))
	return server
}

// newServerFor serves prov in process, as the engine would talk to the plugin.
func newServerFor(t *testing.T, prov p.Provider) integration.Server {
	t.Helper()
	server, err := integration.NewServer(t.Context(), Name, semver.MustParse("0.1.0"), integration.WithProvider(prov))
	require.NoError(t, err)
	return server
}

func TestSchema(t *testing.T) {
	t.Parallel()
	prov, err := New(NewCloudClient)
	require.NoError(t, err)
	server := newServerFor(t, prov)
	resp, err := server.GetSchema(p.GetSchemaRequest{})
	require.NoError(t, err)

	var schema struct {
		Name      string                                      `json:"name"`
		Config    struct{ Variables map[string]propertySpec } `json:"config"`
		Resources map[string]struct {
			Description     string                  `json:"description"`
			InputProperties map[string]propertySpec `json:"inputProperties"`
			Properties      map[string]propertySpec `json:"properties"`
		} `json:"resources"`
		Types map[string]struct {
			Enum []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"enum"`
		} `json:"types"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Schema), &schema))
	assert.Equal(t, "auto-deploy", schema.Name)
	assert.True(t, schema.Config.Variables["accessToken"].Secret, "accessToken must be secret")

	webhook, ok := schema.Resources["auto-deploy:index:Webhook"]
	require.True(t, ok, "the Webhook token is fixed")
	assert.True(t, webhook.InputProperties["secret"].Secret, "secret input must be secret")
	assert.True(t, webhook.Properties["secret"].Secret, "secret output must be secret")
	for _, key := range []string{"organizationName", "projectName", "stackName", "environmentName"} {
		assert.True(t, webhook.InputProperties[key].ReplaceOnChanges, "%s must replace on change", key)
	}

	// Every description becomes SDK documentation: none may be missing.
	for token, r := range schema.Resources {
		assert.NotEmpty(t, r.Description, token)
		for name, prop := range r.InputProperties {
			assert.NotEmpty(t, prop.Description, "%s input %s", token, name)
		}
		for name, prop := range r.Properties {
			assert.NotEmpty(t, prop.Description, "%s output %s", token, name)
		}
	}
	for _, token := range []string{"WebhookFormat", "WebhookFilters", "WebhookGroup"} {
		enum, ok := schema.Types["auto-deploy:index:"+token]
		require.True(t, ok, token)
		for _, v := range enum.Enum {
			assert.NotEmpty(t, v.Name, token)
			assert.NotEmpty(t, v.Description, "%s.%s", token, v.Name)
		}
	}
	assert.Len(t, schema.Types["auto-deploy:index:WebhookFilters"].Enum, len(webhookEvents))
}

type propertySpec struct {
	Description      string `json:"description"`
	Secret           bool   `json:"secret"`
	ReplaceOnChanges bool   `json:"replaceOnChanges"`
}
