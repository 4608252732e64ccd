package cloud

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkpointJSON is an export as the service answers it: schema version 3, a root stack resource with
// a plain and a secret output, and a child resource whose outputs are not the stack's.
const checkpointJSON = `{"version":3,"deployment":{
  "manifest":{"time":"2026-03-01T12:00:00Z","magic":"m","version":"v3.259.0"},
  "secrets_providers":{"type":"service","state":{"url":"https://api.pulumi.com","owner":"o","project":"p","stack":"s"}},
  "resources":[
    {"urn":"urn:pulumi:s::p::pulumi:pulumi:Stack::p-s","custom":false,"type":"pulumi:pulumi:Stack",
     "outputs":{"url":"https://x","count":12345678901234567890,
       "password":{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","ciphertext":"AAEC"}}},
    {"urn":"urn:pulumi:s::p::pulumi:pulumi:Stack$aws:s3/bucket:Bucket::b","custom":true,"type":"aws:s3/bucket:Bucket",
     "parent":"urn:pulumi:s::p::pulumi:pulumi:Stack::p-s","outputs":{"url":"not the stack's"}}
  ]}}`

func TestExportStackRoutes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version int
		want    string
	}{
		{"latest", 0, "/api/stacks/o/p/s/export"},
		{"negative means latest", -1, "/api/stacks/o/p/s/export"},
		{"one version", 7, "/api/stacks/o/p/s/export/7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := &recordingServer{status: http.StatusOK, body: checkpointJSON}
			c, _ := newTestClient(t, srv, RetryPolicy{})
			got, err := c.ExportStack(t.Context(), "o", "p", "s", tc.version)
			require.NoError(t, err)
			srv.assertOnly(t, http.MethodGet, tc.want, "")
			assert.Equal(t, 3, got.Version)
			assert.Contains(t, string(got.Deployment), `"secrets_providers"`, "the deployment is kept as sent")
		})
	}
}

func TestStackExportOutputs(t *testing.T) {
	t.Parallel()
	var e StackExport
	require.NoError(t, json.Unmarshal([]byte(checkpointJSON), &e))
	out, err := e.Outputs()
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"url":   "https://x",
		"count": json.Number("12345678901234567890"),
		"password": map[string]any{
			"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "AAEC",
		},
	}, out, "the root stack's outputs only, secrets as encoded, numbers exact")

	ct, ok := IsSecret(out["password"])
	assert.True(t, ok)
	assert.Equal(t, "AAEC", ct)
}

func TestStackExportOutputsEdgeCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, deployment string
		want             map[string]any
		err              string
	}{
		{name: "no deployment", deployment: ``, want: map[string]any{}},
		{name: "null deployment", deployment: `null`, want: map[string]any{}},
		{name: "no resources", deployment: `{"manifest":{}}`, want: map[string]any{}},
		{name: "stack without outputs", deployment: `{"resources":[{"urn":"u","type":"pulumi:pulumi:Stack"}]}`,
			want: map[string]any{}},
		{name: "not an object", deployment: `[1]`, err: "cloud: reading the exported deployment"},
		{name: "outputs not an object", deployment: `{"resources":[{"urn":"u","type":"pulumi:pulumi:Stack","outputs":[1]}]}`,
			err: "cloud: reading the outputs of u"},
		{name: "two roots", deployment: `{"resources":[{"urn":"u1","type":"pulumi:pulumi:Stack"},` +
			`{"urn":"u2","type":"pulumi:pulumi:Stack"}]}`,
			err: "cloud: the exported deployment has two root pulumi:pulumi:Stack resources, u1 and u2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := StackExport{Version: 3, Deployment: json.RawMessage(tc.deployment)}.Outputs()
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestIsSecret(t *testing.T) {
	t.Parallel()
	sig := "4dabf18193072939515e22adb298388d"
	for _, tc := range []struct {
		name string
		v    any
		ok   bool
	}{
		{"secret", map[string]any{sig: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "AAEC"}, true},
		{"plaintext form", map[string]any{sig: "1b47061264138c4ac30d75fd1eb44270", "plaintext": `"x"`}, false},
		{"empty ciphertext", map[string]any{sig: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": ""}, false},
		{"other signature (a resource reference)", map[string]any{sig: "5cf8f73096256a8f31e491e813e4eb8e"}, false},
		{"plain map", map[string]any{"ciphertext": "AAEC"}, false},
		{"string", "AAEC", false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct, ok := IsSecret(tc.v)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, "AAEC", ct)
			} else {
				assert.Empty(t, ct)
			}
		})
	}
}
