package emulator

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateDeployment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev")
	const path = "/api/stacks/acme/app/dev/deployments"

	first := must[map[string]any](t, h.call(http.MethodPost, path,
		map[string]any{"operation": "update", "inheritSettings": true}), http.StatusAccepted)
	assert.Len(t, first, 3)
	assert.NotEmpty(t, first["id"])
	assert.Equal(t, "https://app.pulumi.com/acme/app/dev/deployments/1", first["consoleUrl"])
	assert.Equal(t, float64(1), first["version"])

	second := must[map[string]any](t, h.call(http.MethodPost, path, map[string]any{"operation": "preview"}),
		http.StatusAccepted)
	assert.Equal(t, float64(2), second["version"])

	deps := h.srv.Deployments()
	require.Len(t, deps, 2)
	assert.Equal(t, first["id"], deps[0].ID)
	assert.Equal(t, "succeeded", deps[0].Status)
	assert.Equal(t, CauseAPI, deps[0].Cause.Kind)
	assert.Equal(t, "preview", deps[1].Operation)

	stack := must[map[string]any](t, h.call(http.MethodGet, "/api/stacks/acme/app/dev", nil), http.StatusOK)
	assert.Equal(t, float64(1), stack["version"], "an update writes a new stack version, a preview does not")
}

func TestCreateDeploymentRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev")
	require.NoError(t, h.srv.CreateStack("acme", "app", "bare"))

	cases := []struct {
		name   string
		stack  string
		body   any
		status int
		want   string
	}{
		{"no operation", "dev", map[string]any{"inheritSettings": true}, http.StatusBadRequest, "operation"},
		{"empty body", "dev", nil, http.StatusBadRequest, "operation"},
		{"unknown operation", "dev", map[string]any{"operation": "up"}, http.StatusBadRequest, "operation"},
		{"no stack", "nope", map[string]any{"operation": "update"}, http.StatusNotFound, "not found"},
		{"no settings", "bare", map[string]any{"operation": "update"}, http.StatusBadRequest, "deployment settings"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := mustError(t, h.call(http.MethodPost, "/api/stacks/acme/app/"+tc.stack+"/deployments", tc.body), tc.status)
			assert.Contains(t, msg, tc.want)
		})
	}

	t.Run("own settings need none stored", func(t *testing.T) {
		t.Parallel()
		r := h.call(http.MethodPost, "/api/stacks/acme/app/bare/deployments",
			map[string]any{"operation": "refresh", "inheritSettings": false})
		assert.Equal(t, http.StatusAccepted, r.status)
	})
}

func TestListDeploymentsPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev", "other")
	const path = "/api/stacks/acme/app/dev/deployments"
	for range 12 {
		require.Equal(t, http.StatusAccepted, h.call(http.MethodPost, path, map[string]any{"operation": "update"}).status)
	}
	require.Equal(t, http.StatusAccepted,
		h.call(http.MethodPost, "/api/stacks/acme/app/other/deployments", map[string]any{"operation": "update"}).status)

	type page struct {
		Deployments  []deploymentWire `json:"deployments"`
		ItemsPerPage int              `json:"itemsPerPage"`
		Total        int              `json:"total"`
	}
	versions := func(p page) []int {
		var out []int
		for _, d := range p.Deployments {
			out = append(out, d.Version)
		}
		return out
	}

	def := must[page](t, h.call(http.MethodGet, path, nil), http.StatusOK)
	assert.Equal(t, 12, def.Total, "only this stack's deployments")
	assert.Equal(t, 10, def.ItemsPerPage)
	assert.Equal(t, []int{12, 11, 10, 9, 8, 7, 6, 5, 4, 3}, versions(def), "newest first by default")
	assert.Equal(t, "update", def.Deployments[0].PulumiOperation)

	p2 := must[page](t, h.call(http.MethodGet, path+"?page=2", nil), http.StatusOK)
	assert.Equal(t, []int{2, 1}, versions(p2))

	asc := must[page](t, h.call(http.MethodGet, path+"?asc=true&pageSize=5&page=3", nil), http.StatusOK)
	assert.Equal(t, []int{11, 12}, versions(asc))

	beyond := must[page](t, h.call(http.MethodGet, path+"?page=9", nil), http.StatusOK)
	assert.Empty(t, beyond.Deployments)
	assert.Equal(t, 12, beyond.Total)

	for _, q := range []string{"page=0", "pageSize=0", "pageSize=101", "page=x", "asc=maybe"} {
		mustError(t, h.call(http.MethodGet, fmt.Sprintf("%s?%s", path, q), nil), http.StatusBadRequest)
	}
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/nope/deployments", nil), http.StatusNotFound)
}

// A deployment started through the API is an update like any other, so it sets off the cascade too.
func TestAPIDeploymentCascades(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "a", "b")
	h.createStackHook(t, deployHook("acme", "app", "a", "b"))

	require.Equal(t, http.StatusAccepted,
		h.call(http.MethodPost, "/api/stacks/acme/app/a/deployments", map[string]any{"operation": "preview"}).status)
	assert.Equal(t, []string{"a"}, stackNames(h.srv.Deployments()), "a preview raises no update_succeeded")

	require.Equal(t, http.StatusAccepted,
		h.call(http.MethodPost, "/api/stacks/acme/app/a/deployments", map[string]any{"operation": "update"}).status)
	deps := h.srv.Deployments()
	assert.Equal(t, []string{"a", "a", "b"}, stackNames(deps))
	assert.Equal(t, CauseWebhook, deps[2].Cause.Kind)
	assert.Equal(t, "update_succeeded", deps[2].Cause.Event)
}

func TestGetDeployment(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev")
	const base = "/api/stacks/acme/app/dev/deployments"
	first := must[map[string]any](t, h.call(http.MethodPost, base, map[string]any{
		"operation":        "update",
		"operationContext": map[string]any{"environmentVariables": map[string]any{"A": "1"}},
	}), http.StatusAccepted)
	h.srv.SetManualDeployments(true)
	second := must[map[string]any](t, h.call(http.MethodPost, base, map[string]any{"operation": "preview"}), http.StatusAccepted)

	byID := must[map[string]any](t, h.call(http.MethodGet, base+"/"+first["id"].(string), nil), http.StatusOK)
	for _, k := range []string{"id", "created", "modified", "version", "latestVersion", "status", "requestedBy",
		"pulumiOperation", "initiator", "jobs", "configuration"} {
		assert.Contains(t, byID, k)
	}
	assert.Equal(t, first["id"], byID["id"])
	assert.Equal(t, float64(1), byID["version"])
	assert.Equal(t, float64(2), byID["latestVersion"])
	assert.Equal(t, StatusSucceeded, byID["status"])
	assert.Equal(t, "update", byID["pulumiOperation"])
	assert.Equal(t, CauseAPI, byID["initiator"])
	assert.Equal(t, map[string]any{"name": "Pulumi Cloud Emulator", "githubLogin": "emulator",
		"avatarUrl": "https://app.pulumi.com/emulator/avatar.png"}, byID["requestedBy"])
	jobs := byID["jobs"].([]any)
	require.Len(t, jobs, 1)
	job := jobs[0].(map[string]any)
	assert.Equal(t, StatusSucceeded, job["status"])
	assert.NotEmpty(t, job["started"])
	assert.NotEmpty(t, job["lastUpdated"])
	for _, s := range job["steps"].([]any) {
		assert.Equal(t, StatusSucceeded, s.(map[string]any)["status"])
		assert.NotEmpty(t, s.(map[string]any)["name"])
	}
	config := byID["configuration"].(map[string]any)
	assert.Contains(t, config, "sourceContext", "the stack's settings")
	assert.Equal(t, map[string]any{"A": "1"}, config["operationContext"].(map[string]any)["environmentVariables"],
		"merged with the request's own")

	byVersion := must[map[string]any](t, h.call(http.MethodGet, base+"/version/2", nil), http.StatusOK)
	assert.Equal(t, second["id"], byVersion["id"])
	assert.Equal(t, StatusNotStarted, byVersion["status"])
	assert.Empty(t, byVersion["jobs"], "a deployment that has not started has no job")
	h.srv.StartDeployments()
	running := must[map[string]any](t, h.call(http.MethodGet, base+"/version/2", nil), http.StatusOK)
	assert.Equal(t, StatusRunning, running["status"])
	assert.Equal(t, StatusRunning, running["jobs"].([]any)[0].(map[string]any)["status"])

	for _, p := range []string{base + "/nope", base + "/version/3", base + "/version/x", base + "/version/0",
		"/api/stacks/acme/app/nope/deployments/" + first["id"].(string), "/api/stacks/acme/app/nope/deployments/version/1"} {
		mustError(t, h.call(http.MethodGet, p, nil), http.StatusNotFound)
	}
	// The settings route is not a deployment id.
	require.NoError(t, h.srv.SetDeploymentSettings("acme", "app", "dev", map[string]any{"tag": "x"}))
	assert.Equal(t, map[string]any{"tag": "x"}, must[map[string]any](t, h.call(http.MethodGet, base+"/settings", nil), http.StatusOK))
}

// The list's items carry every field the API requires of them, and the update the deployment ran with
// every field DeploymentNestedUpdate requires.
func TestListDeploymentsItemFields(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, func(o *Options) { o.Now = func() time.Time { return now } })
	seedStacks(t, h.srv, "acme", "app", "dev")
	const base = "/api/stacks/acme/app/dev/deployments"
	require.Equal(t, http.StatusAccepted, h.call(http.MethodPost, base, map[string]any{"operation": "update"}).status)
	list := must[struct {
		Deployments []map[string]any `json:"deployments"`
	}](t, h.call(http.MethodGet, base, nil), http.StatusOK).Deployments
	require.Len(t, list, 1)
	for _, k := range []string{"created", "id", "modified", "requestedBy", "status", "version", "jobs", "pulumiOperation", "updates"} {
		assert.Contains(t, list[0], k)
	}
	assert.NotContains(t, list[0], "configuration")
	updateID := h.srv.Deployments()[0].UpdateID
	require.NotEmpty(t, updateID)
	assert.Equal(t, []any{map[string]any{
		"id": updateID, "updateID": updateID, "version": float64(1), "kind": "update", "result": StatusSucceeded,
		"startTime": float64(now.Unix()), "endTime": float64(now.Unix()), "message": "", "environment": map[string]any{},
	}}, list[0]["updates"])
}

func TestCreateDeploymentBodyTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "dev")
	const base = "/api/stacks/acme/app/dev/deployments"
	for _, body := range []any{
		`"update"`, `["update"]`,
		map[string]any{"operation": 1},
		map[string]any{"operation": "update", "inheritSettings": "yes"},
		map[string]any{"operationContext": map[string]any{"operation": "update"}},
		map[string]any{"operation": "update", "operationContext": map[string]any{"operation": "update"}},
		map[string]any{"operation": "update", "operationContext": "x"},
	} {
		mustError(t, h.call(http.MethodPost, base, body), http.StatusBadRequest)
	}
	assert.Empty(t, h.srv.Deployments())
}
