package cloud

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetDeploymentSettings(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK,
		body: `{"sourceContext":{"git":{"branch":"main"}},"operationContext":{},"version":3}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.GetDeploymentSettings(t.Context(), "acme", "web", "prod")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"sourceContext":    map[string]any{"git": map[string]any{"branch": "main"}},
		"operationContext": map[string]any{},
		"version":          float64(3),
	}, got)
	srv.assertOnly(t, http.MethodGet, "/api/stacks/acme/web/prod/deployments/settings", "")
}

func TestGetDeploymentSettingsNone(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusNotFound, body: `{"code":404,"message":"no deployment settings"}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	_, err := c.GetDeploymentSettings(t.Context(), "acme", "web", "prod")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestPutDeploymentSettings(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"sourceContext":{"git":{"branch":"main"}},"version":4}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.PutDeploymentSettings(t.Context(), "acme", "web", "prod",
		map[string]any{"sourceContext": map[string]any{"git": map[string]any{"branch": "main"}}})
	require.NoError(t, err)
	assert.Equal(t, float64(4), got["version"])

	srv.assertOnly(t, http.MethodPut, "/api/stacks/acme/web/prod/deployments/settings",
		`{"sourceContext":{"git":{"branch":"main"}}}`)
}

func TestCreateDeployment(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusAccepted,
		body: `{"id":"dep-1","consoleUrl":"https://app.pulumi.com/acme/web/prod/deployments/5","version":5}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, err := c.CreateDeployment(t.Context(), "acme", "web", "prod", "update")
	require.NoError(t, err)
	assert.Equal(t, DeploymentRef{ID: "dep-1", ConsoleURL: "https://app.pulumi.com/acme/web/prod/deployments/5",
		Version: 5}, got)

	srv.assertOnly(t, http.MethodPost, "/api/stacks/acme/web/prod/deployments",
		`{"operation":"update","inheritSettings":true}`)
}

func TestListDeployments(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"deployments":[
		{"id":"dep-2","status":"running","version":2,"created":"2026-01-02 03:04:05","pulumiOperation":"update",
		 "requestedBy":{"name":"bot"}},
		{"id":"dep-1","status":"succeeded","version":"1","created":1767225600,"operation":"preview"}
	],"itemsPerPage":2,"total":9}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, total, err := c.ListDeployments(t.Context(), "acme", "web", "prod", 2, 50)
	require.NoError(t, err)
	assert.Equal(t, 9, total)
	require.Len(t, got, 2)
	assert.Equal(t, "dep-2", got[0].ID)
	assert.Equal(t, "running", got[0].Status)
	assert.Equal(t, 2, got[0].Version)
	assert.Equal(t, "2026-01-02 03:04:05", got[0].Created)
	assert.Equal(t, "update", got[0].Operation)
	assert.Equal(t, map[string]any{"name": "bot"}, got[0].Raw["requestedBy"])
	// The second entry uses other types for the same fields; they still decode.
	assert.Equal(t, 1, got[1].Version)
	assert.Equal(t, "1767225600", got[1].Created)
	assert.Equal(t, "preview", got[1].Operation)

	srv.assertOnly(t, http.MethodGet, "/api/stacks/acme/web/prod/deployments?page=2&pageSize=50", "")
}

func TestListDeploymentsDefaults(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"deployments":[],"total":0}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, total, err := c.ListDeployments(t.Context(), "acme", "web", "prod", 0, 0)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Zero(t, total)
	assert.Equal(t, "/api/stacks/acme/web/prod/deployments", srv.only(t).RequestURI)
}
