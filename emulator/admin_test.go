package emulator

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdminSeedAndInspect(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	assert.JSONEq(t, `{"status":"ok"}`, string(h.send(http.MethodGet, "/_emulator/healthz", nil, nil).body))

	seed := map[string]any{
		"stacks": []map[string]any{
			{"org": "acme", "project": "app", "stack": "a", "deploymentSettings": true},
			{"org": "acme", "project": "app", "stack": "b", "deploymentSettings": true},
			{"org": "acme", "project": "app", "stack": "plain"},
		},
		"environments": []map[string]any{{"org": "acme", "project": "app", "env": "shared"}},
	}
	counts := must[map[string]int](t, h.send(http.MethodPost, "/_emulator/seed", seed, nil), http.StatusOK)
	assert.Equal(t, map[string]int{"stacks": 3, "environments": 1}, counts)
	// Seeding again is harmless.
	require.Equal(t, http.StatusOK, h.send(http.MethodPost, "/_emulator/seed", seed, nil).status)

	assert.Equal(t, http.StatusOK, h.call(http.MethodGet, "/api/stacks/acme/app/a/deployments/settings", nil).status)
	mustError(t, h.call(http.MethodGet, "/api/stacks/acme/app/plain/deployments/settings", nil), http.StatusNotFound)
	assert.Equal(t, http.StatusOK, h.call(http.MethodGet, "/api/esc/environments/acme/app/shared", nil).status)

	bad := map[string]any{"stacks": []map[string]any{{"org": "acme", "project": "app", "stack": "no way"}}}
	mustError(t, h.send(http.MethodPost, "/_emulator/seed", bad, nil), http.StatusBadRequest)

	h.createStackHook(t, override(deployHook("acme", "app", "a", "b"), map[string]any{"secret": "k", "name": "to-b"}))
	must[CascadeResult](t, h.send(http.MethodPost, "/_emulator/stacks/acme/app/a/update", nil, nil), http.StatusOK)

	hooks := must[[]map[string]any](t, h.send(http.MethodGet, "/_emulator/webhooks", nil, nil), http.StatusOK)
	require.Len(t, hooks, 1)
	assert.Equal(t, "to-b", hooks[0]["name"])
	assert.Equal(t, "stack", hooks[0]["scope"])
	assert.Equal(t, true, hooks[0]["hasSecret"])
	assert.NotContains(t, hooks[0], "secret", "the admin API does not reveal secrets either")

	deps := must[[]Deployment](t, h.send(http.MethodGet, "/_emulator/deployments", nil, nil), http.StatusOK)
	assert.Equal(t, []string{"b"}, stackNames(deps))
	dels := must[[]Delivery](t, h.send(http.MethodGet, "/_emulator/deliveries", nil, nil), http.StatusOK)
	require.Len(t, dels, 1)
	assert.Equal(t, deps[0].ID, dels[0].DeploymentID)
	assert.Equal(t, "to-b", dels[0].Webhook.Name)

	st := must[Stats](t, h.send(http.MethodGet, "/_emulator/stats", nil, nil), http.StatusOK)
	assert.Equal(t, 4, st.Total)
	reqs := must[[]RequestRecord](t, h.send(http.MethodGet, "/_emulator/requests", nil, nil), http.StatusOK)
	assert.Len(t, reqs, 4)
	assert.Equal(t, http.StatusNoContent, h.send(http.MethodPost, "/_emulator/stats/reset", nil, nil).status)
	assert.Zero(t, h.srv.Stats().Total)

	assert.Equal(t, http.StatusNotFound, h.send(http.MethodGet, "/_emulator/nothing", nil, nil).status)
}

func TestAdminListsAreNeverNull(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, p := range []string{"/_emulator/webhooks", "/_emulator/deployments", "/_emulator/deliveries", "/_emulator/requests"} {
		r := h.send(http.MethodGet, p, nil, nil)
		require.Equal(t, http.StatusOK, r.status, p)
		assert.JSONEq(t, "[]", string(r.body), p)
	}
}
