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

	got := h.call(http.MethodGet, "/api/esc/environments/acme/app/prod", nil)
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "application/x-yaml", got.header.Get("Content-Type"), "the definition comes back as YAML")
	assert.Equal(t, "values: {}\n", string(got.body))
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

func TestDeploymentSettingsTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	require.NoError(t, h.srv.CreateStack("acme", "app", "dev"))
	const path = "/api/stacks/acme/app/dev/deployments/settings"

	cases := []struct {
		name string
		body any
		want string
	}{
		{"string body", `"settings"`, "JSON"},
		{"array body", `[{"agentPoolID":"x"}]`, "JSON"},
		{"operationContext a string", map[string]any{"operationContext": "update"}, "operationContext"},
		{"sourceContext an array", map[string]any{"sourceContext": []any{}}, "sourceContext"},
		{"agentPoolID a number", map[string]any{"agentPoolID": 3}, "agentPoolID"},
		{"options a bool", map[string]any{"operationContext": map[string]any{"options": true}}, "options"},
		{"skip a string", map[string]any{"operationContext": map[string]any{
			"options": map[string]any{"skipIntermediateDeployments": "yes"}}}, "skipIntermediateDeployments"},
		{"shell a bool", map[string]any{"operationContext": map[string]any{
			"options": map[string]any{"shell": true}}}, "shell"},
		{"preRunCommands a string", map[string]any{"operationContext": map[string]any{"preRunCommands": "make"}}, "preRunCommands"},
		{"operation inside operationContext", map[string]any{"operationContext": map[string]any{"operation": "update"}}, "operation"},
	}
	for _, tc := range cases {
		for _, m := range []string{http.MethodPut, http.MethodPost} {
			msg := mustError(t, h.call(m, path, tc.body), http.StatusBadRequest)
			assert.Contains(t, msg, tc.want, "%s %s", m, tc.name)
		}
	}
	mustError(t, h.call(http.MethodGet, path, nil), http.StatusNotFound) // refused bodies store nothing

	// Unknown fields pass, and a merge may null any field.
	ok := map[string]any{
		"operationContext": map[string]any{"options": map[string]any{"skipIntermediateDeployments": true, "shell": "bash"}},
		"futureField":      []any{1.0},
	}
	assert.Equal(t, ok, must[map[string]any](t, h.call(http.MethodPut, path, ok), http.StatusOK))
	merged := must[map[string]any](t, h.call(http.MethodPost, path,
		map[string]any{"operationContext": map[string]any{"options": nil}}), http.StatusOK)
	assert.Equal(t, map[string]any{"operationContext": map[string]any{}, "futureField": []any{1.0}}, merged)
	mustError(t, h.call(http.MethodPut, path, map[string]any{"operationContext": nil}), http.StatusBadRequest)
}

func TestStackTags(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app",
		map[string]any{"stackName": "dev", "tags": map[string]string{"pulumi:project": "app", "team": "a"}}), http.StatusOK)
	const stack = "/api/stacks/acme/app/dev"
	const tags = stack + "/tags"
	tagsOf := func() map[string]any {
		t.Helper()
		return must[map[string]any](t, h.call(http.MethodGet, stack, nil), http.StatusOK)["tags"].(map[string]any)
	}
	listed := func(q string) []string {
		t.Helper()
		var out []string
		for _, s := range must[listStacksWire](t, h.call(http.MethodGet, "/api/user/stacks?"+q, nil), http.StatusOK).Stacks {
			out = append(out, s.StackName)
		}
		return out
	}

	// POST adds one; a second with the same name is 400.
	r := h.call(http.MethodPost, tags, map[string]any{"name": "env", "value": "prod"})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	assert.Empty(t, r.body)
	mustError(t, h.call(http.MethodPost, tags, map[string]any{"name": "env", "value": "dev"}), http.StatusBadRequest)
	mustError(t, h.call(http.MethodPost, tags, map[string]any{"name": "", "value": "x"}), http.StatusBadRequest)
	assert.Equal(t, map[string]any{"pulumi:project": "app", "team": "a", "env": "prod"}, tagsOf())
	assert.Equal(t, []string{"dev"}, listed("tagName=env&tagValue=prod"), "GET /api/user/stacks filters on these tags")
	assert.Empty(t, listed("tagName=env&tagValue=dev"))

	// PATCH .../tags/{name} renames and changes one.
	require.Equal(t, http.StatusNoContent, h.call(http.MethodPatch, tags+"/env", map[string]any{"name": "stage", "value": "dev"}).status)
	assert.Equal(t, map[string]any{"pulumi:project": "app", "team": "a", "stage": "dev"}, tagsOf())
	require.Equal(t, http.StatusNoContent, h.call(http.MethodPatch, tags+"/stage", map[string]any{"value": "qa"}).status)
	assert.Equal(t, "qa", tagsOf()["stage"])
	mustError(t, h.call(http.MethodPatch, tags+"/nope", map[string]any{"name": "nope", "value": "x"}), http.StatusNotFound)
	mustError(t, h.call(http.MethodPatch, tags+"/stage", map[string]any{"name": "team", "value": "x"}), http.StatusBadRequest)
	mustError(t, h.call(http.MethodPatch, tags+"/pulumi:project", map[string]any{"name": "project", "value": "x"}), http.StatusBadRequest)
	assert.Equal(t, []string{"dev"}, listed("tagName=stage&tagValue=qa"))

	// DELETE removes one: 404 when absent, 400 for a built-in tag.
	require.Equal(t, http.StatusNoContent, h.call(http.MethodDelete, tags+"/stage", nil).status)
	mustError(t, h.call(http.MethodDelete, tags+"/stage", nil), http.StatusNotFound)
	assert.Contains(t, mustError(t, h.call(http.MethodDelete, tags+"/pulumi:project", nil), http.StatusBadRequest), "built-in")
	assert.Empty(t, listed("tagName=stage"))

	// PATCH .../tags replaces them all, keeping built-in tags it does not name.
	require.Equal(t, http.StatusNoContent, h.call(http.MethodPatch, tags, map[string]string{"owner": "me", "vcs:kind": "git"}).status)
	assert.Equal(t, map[string]any{"pulumi:project": "app", "owner": "me", "vcs:kind": "git"}, tagsOf())
	mustError(t, h.call(http.MethodPatch, tags, `["x"]`), http.StatusBadRequest)
	mustError(t, h.call(http.MethodPatch, tags, map[string]string{"": "x"}), http.StatusBadRequest)

	for _, m := range []string{http.MethodPost, http.MethodPatch} {
		mustError(t, h.call(m, "/api/stacks/acme/app/nope/tags", map[string]any{"name": "a", "value": "b"}), http.StatusNotFound)
	}
	mustError(t, h.call(http.MethodDelete, "/api/stacks/acme/app/nope/tags/a", nil), http.StatusNotFound)
}
