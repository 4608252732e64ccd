package emulator

import (
	"fmt"
	"net/http"
	"testing"

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
		Deployments  []deploymentItem `json:"deployments"`
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
	must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/a/hooks", deployHook("acme", "app", "a", "b")),
		http.StatusCreated)

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
