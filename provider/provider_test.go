package provider

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

const testToken = "pul-test-token"

// testCloud is a provider configured against its own emulator.
type testCloud struct {
	server integration.Server
	cloud  *emulator.Server
	url    string
}

func newTestCloud(t *testing.T) *testCloud {
	t.Helper()
	cloud := emulator.New(emulator.Options{Token: testToken})
	hs := httptest.NewServer(cloud)
	t.Cleanup(hs.Close)
	return &testCloud{server: newServer(t, hs.URL, testToken), cloud: cloud, url: hs.URL}
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
