package emulator

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStackLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	created := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app",
		map[string]any{"stackName": "dev", "tags": map[string]string{"team": "infra"}}), http.StatusOK)
	assert.Equal(t, "dev", created["stackName"])

	got := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil), http.StatusOK)
	for _, key := range []string{"id", "orgName", "projectName", "stackName", "version", "activeUpdate", "tags"} {
		assert.Contains(t, got, key)
	}
	assert.Equal(t, "acme", got["orgName"])
	assert.Equal(t, "app", got["projectName"])
	assert.Equal(t, map[string]any{"team": "infra"}, got["tags"])

	msg := mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app", map[string]any{"stackName": "dev"}),
		http.StatusConflict)
	assert.Contains(t, msg, "already exists", "the CLI matches on this text")

	del := h.call(http.MethodDelete, "/api/stacks/acme/app/dev?forceDestroy=true", nil)
	assert.Equal(t, http.StatusNoContent, del.status)
	assert.Empty(t, del.body)
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil), http.StatusNotFound)
	mustError(t, h.call(http.MethodDelete, "/api/stacks/acme/app/dev", nil), http.StatusNotFound)
}

func TestStackNamesAreValidated(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, body := range map[string]map[string]any{
		"missing":   {},
		"space":     {"stackName": "a b"},
		"too long":  {"stackName": string(make([]byte, 101))},
		"bad chars": {"stackName": "dev!"},
	} {
		msg := mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app", body), http.StatusBadRequest)
		assert.Contains(t, msg, "stack name", name)
	}
	assert.Error(t, h.srv.CreateStack("acme", "bad project", "dev"))
}

func TestCreateStackAccessorIsIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	require.NoError(t, h.srv.CreateEnvironment("acme", "app", "prod"))
	require.NoError(t, h.srv.CreateEnvironment("acme", "app", "prod"))
	assert.Equal(t, http.StatusOK, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil).status)
}

func TestEnvironments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := map[string]any{"project": "app", "name": "prod"}
	env := must[map[string]any](t, h.call(http.MethodPost, "/api/esc/environments/acme", body), http.StatusOK)
	assert.Equal(t, "prod", env["name"])
	mustError(t, h.call(http.MethodPost, "/api/esc/environments/acme", body), http.StatusConflict)
	mustError(t, h.call(http.MethodPost, "/api/esc/environments/acme", map[string]any{"name": "x"}), http.StatusBadRequest)

	got := must[map[string]any](t, h.call(http.MethodGet, "/api/esc/environments/acme/app/prod", nil), http.StatusOK)
	assert.Equal(t, "app", got["project"])
	mustError(t, h.call(http.MethodGet, "/api/esc/environments/acme/app/nope", nil), http.StatusNotFound)
}

func TestDeploymentSettings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	const path = "/api/stacks/acme/app/dev/deployments/settings"

	mustError(t, h.call(http.MethodGet, path, nil), http.StatusNotFound)

	put := map[string]any{
		"sourceContext":    map[string]any{"git": map[string]any{"repoUrl": "https://x", "branch": "main"}},
		"operationContext": map[string]any{"preRunCommands": []any{"make"}},
		"agentPoolID":      "pool",
	}
	assert.Equal(t, put, must[map[string]any](t, h.call(http.MethodPut, path, put), http.StatusOK))
	assert.Equal(t, put, must[map[string]any](t, h.call(http.MethodGet, path, nil), http.StatusOK))

	// POST merges: null removes, absent keeps, objects merge key by key.
	merged := must[map[string]any](t, h.call(http.MethodPost, path, map[string]any{
		"agentPoolID":   nil,
		"sourceContext": map[string]any{"git": map[string]any{"branch": "release"}},
		"cacheOptions":  map[string]any{"enable": true},
	}), http.StatusOK)
	assert.Equal(t, map[string]any{
		"sourceContext":    map[string]any{"git": map[string]any{"repoUrl": "https://x", "branch": "release"}},
		"operationContext": map[string]any{"preRunCommands": []any{"make"}},
		"cacheOptions":     map[string]any{"enable": true},
	}, merged)

	// PUT replaces outright.
	replaced := map[string]any{"executorContext": map[string]any{"executorImage": "img"}}
	assert.Equal(t, replaced, must[map[string]any](t, h.call(http.MethodPut, path, replaced), http.StatusOK))

	del := h.call(http.MethodDelete, path, nil)
	assert.Equal(t, true, must[bool](t, del, http.StatusOK))
	mustError(t, h.call(http.MethodGet, path, nil), http.StatusNotFound)
	assert.Equal(t, true, must[bool](t, h.call(http.MethodDelete, path, nil), http.StatusOK), "delete is idempotent")

	mustError(t, h.call(http.MethodPut, path, "[1]"), http.StatusBadRequest)
	mustError(t, h.call(http.MethodPut, path, "null"), http.StatusBadRequest)

	const missing = "/api/stacks/acme/app/nope/deployments/settings"
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		mustError(t, h.call(m, missing, map[string]any{}), http.StatusNotFound)
	}
	assert.Error(t, h.srv.SetDeploymentSettings("acme", "app", "nope", map[string]any{}))
}
