package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// accepted counts the deliveries the relay took in.
func (h *harness) accepted() int {
	return int(testutil.ToFloat64(h.r.metrics.deliveries.WithLabelValues("accepted")))
}

func TestDeliveriesWithoutTheRightSignatureAreRefused(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	h := startRelay(t, emu, testDB(t), func(c *Config) { c.PreviousSecret = "old-secret" })
	body := payload(Event{Organization: testOrg, Project: "p", Stack: "root", Version: 2})
	tests := []struct {
		name      string
		signature string
		status    int
		err       string
	}{
		{name: "missing", status: http.StatusUnauthorized,
			err: "the delivery has no Pulumi-Webhook-Signature header: set the webhook's secret to the relay's"},
		{name: "signed with another secret", signature: sign(body, "not-the-secret"), status: http.StatusUnauthorized,
			err: "Pulumi-Webhook-Signature does not match the body: the webhook's secret is not the relay's"},
		{name: "not hex", signature: "zz", status: http.StatusUnauthorized,
			err: "Pulumi-Webhook-Signature does not match the body: the webhook's secret is not the relay's"},
		{name: "of another body", signature: sign(append(bytes.Clone(body), ' '), testSecret),
			status: http.StatusUnauthorized,
			err:    "Pulumi-Webhook-Signature does not match the body: the webhook's secret is not the relay's"},
	}
	for _, tt := range tests {
		status, out := h.post(body, map[string]string{headerSignature: tt.signature, headerKind: "stack_update"})
		assert.Equal(t, tt.status, status, tt.name)
		assert.Equal(t, tt.err, out["error"], tt.name)
	}
	assert.Zero(t, h.accepted(), "a refused delivery queues nothing")
	assert.Empty(t, h.cascades())

	// While the secret rotates, the previous one is accepted too.
	status, _ := h.post(body, map[string]string{headerSignature: sign(body, "old-secret"), headerKind: "stack_update"})
	assert.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, 1, h.accepted())
}

func TestVerifiedDeliveriesThatStartNothing(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	ev := Event{Organization: "acme", Project: "p", Stack: "root", Version: 2}
	preview := map[string]any{}
	require.NoError(t, json.Unmarshal(payload(ev), &preview))
	preview["isPreview"] = true
	failed := map[string]any{}
	require.NoError(t, json.Unmarshal(payload(ev), &failed))
	failed["result"] = "failed"
	tests := []struct {
		name    string
		kind    string
		body    any
		status  int
		ignored string
		err     string
	}{
		{name: "ping", kind: "ping", body: map[string]any{"message": "hello"}, status: http.StatusOK,
			ignored: "a ping event starts nothing: only successful updates (stack_update) do"},
		{name: "preview", kind: "stack_update", body: preview, status: http.StatusOK,
			ignored: "a preview starts nothing: only successful updates do"},
		{name: "failed update", kind: "stack_update", body: failed, status: http.StatusOK,
			ignored: "an update that failed starts nothing: only successful updates do"},
		{name: "no version", kind: "stack_update", status: http.StatusBadRequest,
			body: map[string]any{"organization": map[string]string{"githubLogin": "acme"}, "projectName": "p",
				"stackName": "root", "kind": "update", "result": "succeeded"},
			err: `the payload carries no stack version: neither a positive version nor an updateUrl ending in ` +
				`/updates/<version> (updateUrl is "")`},
		{name: "not JSON", kind: "stack_update", body: "nope", status: http.StatusBadRequest,
			err: "the body is not a JSON stack_update payload: json: cannot unmarshal string into Go value of type relay.updatePayload"},
	}
	for _, tt := range tests {
		body, err := json.Marshal(tt.body)
		require.NoError(t, err)
		status, out := h.post(body, map[string]string{headerSignature: sign(body, testSecret), headerKind: tt.kind})
		assert.Equal(t, tt.status, status, tt.name)
		if tt.ignored != "" {
			assert.Equal(t, tt.ignored, out["ignored"], tt.name)
		} else {
			assert.Equal(t, tt.err, out["error"], tt.name)
		}
	}
	assert.Zero(t, h.accepted())
}

func TestAnOversizedDeliveryIsRefused(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	body := bytes.Repeat([]byte("x"), maxDeliveryBytes+1)
	status, out := h.post(body, map[string]string{headerSignature: sign(body, testSecret)})
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Equal(t, "the body is over 1048576 bytes", out["error"])
	assert.Zero(t, h.accepted())
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	resp, err := http.Get(h.base + "/healthz")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, string(data))
}

func TestHealthzSaysWhenTheDatabaseIsGone(t *testing.T) {
	t.Parallel()
	r, err := New(Config{DB: testDB(t), Secret: testSecret, APIURL: "http://127.0.0.1:9", Token: "t"})
	require.NoError(t, err)
	require.NoError(t, r.open(t.Context()))
	r.close()
	rec := httptest.NewRecorder()
	r.routes(hooksRoutes).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.JSONEq(t, `{"status":"database unavailable: sql: database is closed"}`, rec.Body.String())
}

func TestCascadesListing(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	h.chain()
	h.fire("p/root", map[string]any{"v": 1})
	h.waitDone(1)
	h.fire("p/root", map[string]any{"v": 1})
	h.waitDone(2)

	resp, err := http.Get(h.base + "/v1/cascades")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var raw struct {
		Cascades []map[string]any `json:"cascades"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	require.Len(t, raw.Cascades, 2)
	newest := raw.Cascades[0]
	assert.Equal(t, float64(2), newest["id"], "newest first")
	assert.Equal(t, "acme/p/root", newest["root"])
	assert.Equal(t, float64(2), newest["version"])
	assert.Equal(t, "done", newest["state"])
	assert.Equal(t, "an update announced by a delivery", newest["cause"])
	for _, key := range []string{"organization", "created", "updated", "stacks"} {
		assert.Contains(t, newest, key)
	}
	stacks := newest["stacks"].([]any)
	require.Len(t, stacks, 2)
	a := stacks[0].(map[string]any)
	assert.Equal(t, "acme/p/a", a["stack"])
	assert.Equal(t, []any{"acme/p/root"}, a["parents"])
	assert.Equal(t, "skipped-unchanged", a["state"])
	assert.Equal(t, "no parent's outputs changed: p/root version 1 to 2", a["reason"])
	assert.Equal(t, "", a["deploymentId"])
	first := raw.Cascades[1]["stacks"].([]any)[0].(map[string]any)
	assert.Equal(t, "succeeded", first["state"])
	assert.NotEmpty(t, first["deploymentId"])
	assert.Equal(t, map[string]any{"acme/p/root": float64(1)}, first["covers"], "the parents' versions it deployed against")

	for _, q := range []string{"?limit=0", "?limit=501", "?limit=x"} {
		resp, err := http.Get(h.base + "/v1/cascades" + q)
		require.NoError(t, err)
		var out map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
		assert.Contains(t, out["error"], "must be a whole number from 1 to 500", q)
	}
	resp2, err := http.Get(h.base + "/v1/cascades?limit=1")
	require.NoError(t, err)
	defer func() { _ = resp2.Body.Close() }()
	require.NoError(t, json.NewDecoder(resp2.Body).Decode(&raw))
	assert.Len(t, raw.Cascades, 1)
}
