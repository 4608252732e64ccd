package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	stackSig    = "4dabf18193072939515e22adb298388d"
	secretValue = "hunter2-correct-horse"
)

// exported is an export as the API answers it, decoded.
type exported struct {
	Version    int `json:"version"`
	Deployment struct {
		Manifest         map[string]any `json:"manifest"`
		SecretsProviders struct {
			Type  string            `json:"type"`
			State map[string]string `json:"state"`
		} `json:"secrets_providers"`
		Resources []struct {
			URN     string         `json:"urn"`
			Type    string         `json:"type"`
			Custom  bool           `json:"custom"`
			Outputs map[string]any `json:"outputs"`
		} `json:"resources"`
	} `json:"deployment"`
}

func (h *harness) export(t *testing.T, stack, version string) (exported, []byte) {
	t.Helper()
	path := "/api/stacks/acme/app/" + stack + "/export"
	if version != "" {
		path += "/" + version
	}
	r := h.call(http.MethodGet, path, nil)
	return must[exported](t, r, http.StatusOK), r.body
}

// ciphertextOf returns the ciphertext of a secret output, failing unless it is one.
func ciphertextOf(t *testing.T, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "a secret is an object, got %#v", v)
	assert.Equal(t, secretSig, m[stackSig])
	ct, _ := m["ciphertext"].(string)
	require.NotEmpty(t, ct)
	assert.Len(t, m, 2, "the signature and the ciphertext, nothing else")
	return ct
}

func (h *harness) decrypt(t *testing.T, stack string, ciphertexts ...string) map[string]string {
	t.Helper()
	ciphertexts = nonNil(ciphertexts)
	res := must[map[string]map[string][]byte](t, h.call(http.MethodPost, "/api/stacks/acme/app/"+stack+"/batch-decrypt",
		map[string]any{"ciphertexts": ciphertexts}), http.StatusOK)
	out := map[string]string{}
	for k, v := range res["plaintexts"] {
		out[k] = string(v)
	}
	return out
}

func TestStackVersionsKeepTheirOutputs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")

	// A stack never updated: version 0, a checkpoint without resources.
	cp, _ := h.export(t, "net", "")
	assert.Equal(t, 3, cp.Version)
	assert.Empty(t, cp.Deployment.Resources)
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/net/export/1", nil), http.StatusNotFound)

	must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/net/update", map[string]any{
		"outputs":       map[string]any{"vpcId": "vpc-1", "subnets": []any{"a", "b"}, "count": 3},
		"secretOutputs": map[string]any{"dbPassword": secretValue},
	}, nil), http.StatusOK)
	// No body: the outputs carry over to version 2.
	must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/net/update", nil, nil), http.StatusOK)
	// New outputs replace the whole set: version 3 has vpcId only.
	_, err := h.srv.FireUpdateWithOutputs("acme", "app", "net", &StackOutputs{Plain: map[string]any{"vpcId": "vpc-2"}})
	require.NoError(t, err)

	stack := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/net", nil), http.StatusOK)
	assert.Equal(t, float64(3), stack["version"])

	v1, body1 := h.export(t, "net", "1")
	require.Len(t, v1.Deployment.Resources, 1)
	root := v1.Deployment.Resources[0]
	assert.Equal(t, "urn:pulumi:net::app::pulumi:pulumi:Stack::app-net", root.URN)
	assert.Equal(t, "pulumi:pulumi:Stack", root.Type)
	assert.False(t, root.Custom)
	assert.Equal(t, "vpc-1", root.Outputs["vpcId"])
	assert.Equal(t, []any{"a", "b"}, root.Outputs["subnets"])
	assert.Equal(t, float64(3), root.Outputs["count"])
	ct1 := ciphertextOf(t, root.Outputs["dbPassword"])
	assert.Equal(t, "service", v1.Deployment.SecretsProviders.Type)
	assert.Equal(t, map[string]string{"url": h.url, "owner": "acme", "project": "app", "stack": "net"},
		v1.Deployment.SecretsProviders.State)
	assert.NotContains(t, string(body1), secretValue, "an export never holds a secret in plain text")

	v2, body2 := h.export(t, "net", "2")
	ct2 := ciphertextOf(t, v2.Deployment.Resources[0].Outputs["dbPassword"])
	assert.Equal(t, "vpc-1", v2.Deployment.Resources[0].Outputs["vpcId"])
	assert.NotEqual(t, ct1, ct2, "a carried-over secret is encrypted afresh: ciphertexts say nothing about change")
	assert.NotContains(t, string(body2), secretValue)
	_, again := h.export(t, "net", "2")
	assert.JSONEq(t, string(body2), string(again), "one version exports the same checkpoint every time")

	latest, _ := h.export(t, "net", "")
	assert.Equal(t, map[string]any{"vpcId": "vpc-2"}, latest.Deployment.Resources[0].Outputs)
	v3, _ := h.export(t, "net", "3")
	assert.Equal(t, latest, v3)

	// Both ciphertexts decrypt to the JSON text of the value, keyed by the ciphertext as given.
	assert.Equal(t, map[string]string{ct1: `"` + secretValue + `"`, ct2: `"` + secretValue + `"`}, h.decrypt(t, "net", ct1, ct2))
	assert.Equal(t, map[string]string{}, h.decrypt(t, "net"))

	for _, v := range []string{"0", "4", "-1", "x"} {
		msg := mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/net/export/"+v, nil), http.StatusNotFound)
		assert.Contains(t, msg, "has no version", v)
	}
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/ghost/export", nil), http.StatusNotFound)

	in := must[StackOutputs](t, mustJSONResponse(h.srv.StackOutputs("acme", "app", "net", 1)), http.StatusOK)
	assert.Equal(t, StackOutputs{Plain: map[string]any{"vpcId": "vpc-1", "subnets": []any{"a", "b"}, "count": float64(3)},
		Secret: map[string]any{"dbPassword": secretValue}}, in, "in process, a test may read secrets back")
}

// mustJSONResponse turns an in-process answer into a response, so must can check it like the wire's.
func mustJSONResponse(v any, err error) response {
	if err != nil {
		return response{status: http.StatusInternalServerError, body: []byte(err.Error())}
	}
	data, _ := json.Marshal(v)
	return response{status: http.StatusOK, body: data}
}

func TestBatchDecryptRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net", "other")
	for _, stack := range []string{"net", "other"} {
		_, err := h.srv.FireUpdateWithOutputs("acme", "app", stack, &StackOutputs{Secret: map[string]any{"k": stack}})
		require.NoError(t, err)
	}
	cp, _ := h.export(t, "net", "")
	mine := ciphertextOf(t, cp.Deployment.Resources[0].Outputs["k"])
	cp, _ = h.export(t, "other", "")
	foreign := ciphertextOf(t, cp.Deployment.Resources[0].Outputs["k"])

	const path = "/api/stacks/acme/app/net/batch-decrypt"
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"another stack's", map[string]any{"ciphertexts": []string{mine, foreign}},
			"ciphertexts[1] does not decrypt for stack 'acme/app/net': it is not a ciphertext of this stack's secrets"},
		{"made up", map[string]any{"ciphertexts": []string{base64.StdEncoding.EncodeToString([]byte("not a ciphertext at all!!"))}},
			"ciphertexts[0] does not decrypt for stack 'acme/app/net'"},
		{"not base64", map[string]any{"ciphertexts": []string{"%%%"}}, "ciphertexts[0] is not base64"},
		{"no list", map[string]any{}, "ciphertexts is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, mustError(t, h.call(http.MethodPost, path, tc.body), http.StatusBadRequest), tc.want)
		})
	}
	mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/ghost/batch-decrypt",
		map[string]any{"ciphertexts": []string{mine}}), http.StatusNotFound)

	// A stack deleted and created again under the same name is another stack: the old ciphertexts are
	// foreign to it.
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, "/api/stacks/acme/app/net", nil).status)
	require.NoError(t, h.srv.CreateStack("acme", "app", "net"))
	mustError(t, h.call(http.MethodPost, path, map[string]any{"ciphertexts": []string{mine}}), http.StatusBadRequest)
}

// The Pulumi CLI gzips batch-decrypt requests; the emulator reads them.
func TestBatchDecryptAcceptsGzip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	_, err := h.srv.FireUpdateWithOutputs("acme", "app", "net", &StackOutputs{Secret: map[string]any{"n": 42}})
	require.NoError(t, err)
	cp, _ := h.export(t, "net", "")
	ct := ciphertextOf(t, cp.Deployment.Resources[0].Outputs["n"])

	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"ciphertexts":["` + ct + `"]}`))
	require.NoError(t, zw.Close())
	r := h.send(http.MethodPost, "/api/stacks/acme/app/net/batch-decrypt", buf.String(), map[string]string{
		"Authorization": "token " + testToken, "Content-Encoding": "gzip", "Content-Type": "application/json",
	})
	got := must[map[string]map[string][]byte](t, r, http.StatusOK)
	assert.Equal(t, "42", string(got["plaintexts"][ct]))
}

func TestUpdateOutputsRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "net")
	const path = "/_emulator/stacks/acme/app/net/update"
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"both", map[string]any{"outputs": map[string]any{"a": 1}, "secretOutputs": map[string]any{"a": 2}},
			`output "a" is in both outputs and secretOutputs: give each output once`},
		{"empty name", map[string]any{"outputs": map[string]any{"": 1}}, "outputs: an output name must not be empty"},
		{"not a map", map[string]any{"outputs": []int{1}}, "invalid value for outputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, mustError(t, h.send(http.MethodPost, path, tc.body, nil), http.StatusBadRequest), tc.want)
		})
	}
	stack := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/net", nil), http.StatusOK)
	assert.Equal(t, float64(0), stack["version"], "a refused update writes no version")
	mustError(t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/ghost/update", nil, nil), http.StatusNotFound)
}

// A secret output never shows in plain text anywhere the emulator writes: not in exports, the admin
// API, the console's data, deliveries or the request log.
func TestSecretsNeverInPlainText(t *testing.T) {
	t.Parallel()
	logged := &requestRecorder{}
	h := newHarness(t, logged.option)
	seedStacks(t, h.srv, "acme", "app", "net", "app")
	h.createStackHook(t, deployHook("acme", "app", "net", "app"))
	must[map[string]any](t, h.send(http.MethodPut, "/_emulator/stacks/acme/app/app/deployment-behaviour", map[string]any{
		"secretOutputs": map[string]any{"token": secretValue},
	}, nil), http.StatusOK)
	must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/net/update", map[string]any{
		"secretOutputs": map[string]any{"dbPassword": secretValue},
	}, nil), http.StatusOK)

	var seen strings.Builder
	for _, path := range []string{"/api/stacks/acme/app/net/export", "/api/stacks/acme/app/app/export",
		"/api/stacks/acme/app/net/export/1", "/api/stacks/acme/app/net", "/api/stacks/acme/app/app/deployments"} {
		seen.Write(h.call(http.MethodGet, path, nil).body)
	}
	for _, path := range []string{"/_emulator/console/data", "/_emulator/deployments", "/_emulator/deliveries",
		"/_emulator/webhooks", "/_emulator/requests", "/_emulator/stacks/acme/app/app/deployment-behaviour",
		"/_emulator/stacks/acme/app/app/deployments"} {
		r := h.send(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusOK, r.status, path)
		seen.Write(r.body)
	}
	data, err := json.Marshal(map[string]any{"log": logged.all(), "requests": h.srv.Requests(), "deliveries": h.srv.Deliveries(),
		"deployments": h.srv.Deployments()})
	require.NoError(t, err)
	seen.Write(data)
	assert.Contains(t, seen.String(), "ciphertext", "the secrets were there, encrypted")
	assert.NotContains(t, seen.String(), secretValue)
}
