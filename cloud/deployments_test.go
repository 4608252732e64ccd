package cloud

import (
	"net/http"
	"sync/atomic"
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

// An organization's list decodes like a stack's, with the stack each deployment belongs to and the
// updates it ran, read leniently.
func TestListOrgDeployments(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"deployments":[
		{"id":"dep-3","status":"succeeded","version":4,"projectName":"net","stackName":"prod","pulumiOperation":"update",
		 "updates":[{"id":"u-1","updateID":"u-1","version":"12","kind":"update","result":"succeeded",
		             "startTime":1767225600,"endTime":"1767225660","message":"","environment":{}}]},
		{"id":"dep-2","status":"running","version":1,"projectName":"app","stackName":7,
		 "updates":[{"version":0,"kind":"update","result":"in-progress","startTime":1767225500,"endTime":0}, "junk"]},
		{"id":"dep-1","status":"not-started","version":2,"updates":{"not":"a list"}}
	],"itemsPerPage":3,"total":40}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})

	got, total, err := c.ListOrgDeployments(t.Context(), "acme", 2, 3)
	require.NoError(t, err)
	assert.Equal(t, 40, total)
	require.Len(t, got, 3)
	assert.Equal(t, "net", got[0].Project)
	assert.Equal(t, "prod", got[0].Stack)
	assert.Equal(t, []DeploymentUpdate{{Version: 12, Kind: "update", Result: "succeeded", StartTime: 1767225600,
		EndTime: 1767225660}}, got[0].Updates)
	assert.Equal(t, 12, got[0].StackVersion())
	assert.Equal(t, "7", got[1].Stack, "a number where a name was expected")
	assert.Equal(t, []DeploymentUpdate{{Kind: "update", Result: "in-progress", StartTime: 1767225500}}, got[1].Updates,
		"what is not an object is skipped")
	assert.Zero(t, got[1].StackVersion(), "still running")
	assert.Empty(t, got[2].Updates)
	assert.Empty(t, got[2].Project)

	srv.assertOnly(t, http.MethodGet, "/api/orgs/acme/deployments?page=2&pageSize=3", "")
}

func TestDeploymentStackVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		updates []DeploymentUpdate
		want    int
	}{
		{"none yet", nil, 0},
		{"running", []DeploymentUpdate{{Result: "in-progress"}}, 0},
		{"failed", []DeploymentUpdate{{Result: "failed", Version: 3}}, 0},
		{"a preview writes no version", []DeploymentUpdate{{Kind: "preview", Result: "succeeded"}}, 0},
		{"succeeded", []DeploymentUpdate{{Kind: "update", Result: "succeeded", Version: 7}}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, Deployment{Updates: tc.updates}.StackVersion())
		})
	}
}

func TestOrgDeploymentsMetadata(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK, body: `{"paused":true,"concurrency":5,"deploymentCounts":
		{"notStarted":2,"accepted":1,"running":5,"failed":3,"succeeded":40,"skipped":4,"total":55}}`}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	got, err := c.OrgDeploymentsMetadata(t.Context(), "acme")
	require.NoError(t, err)
	assert.Equal(t, DeploymentsMetadata{Paused: true, Concurrency: 5, Counts: DeploymentCounts{
		NotStarted: 2, Accepted: 1, Running: 5, Failed: 3, Succeeded: 40, Skipped: 4, Total: 55}}, got)
	srv.assertOnly(t, http.MethodGet, "/api/orgs/acme/deployments/metadata", "")
}

func TestCancelDeployment(t *testing.T) {
	t.Parallel()
	srv := &recordingServer{status: http.StatusOK}
	c, _ := newTestClient(t, srv, RetryPolicy{})
	require.NoError(t, c.CancelDeployment(t.Context(), "acme", "web", "prod", "dep-1"))
	srv.assertOnly(t, http.MethodPost, "/api/stacks/acme/web/prod/deployments/dep-1/cancel", "")

	before := c.Stats()
	assert.Error(t, c.CancelDeployment(t.Context(), "acme", "web", "prod", "settings"))
	assert.Equal(t, before, c.Stats(), "refused before sending")
}

// A cancel whose answer is lost is sent again, unlike a create: repeating it does no harm.
func TestCancelDeploymentIsRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"code":409,"message":"Deployment dep-1 has already ended (failed)"}`))
	})
	c, _ := newTestClient(t, h, RetryPolicy{})
	err := c.CancelDeployment(t.Context(), "acme", "web", "prod", "dep-1")
	assert.ErrorIs(t, err, ErrConflict, "the first attempt landed: the deployment has ended")
	assert.NotErrorIs(t, err, ErrAmbiguous)
	assert.Equal(t, int64(2), calls.Load())
}
