//go:build e2e

package examples

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// TestYAMLDeploymentWebhooks takes the seed's network → database → compute program
// through its whole life with the real CLI: create, no-op, update in place, refresh after
// changes made behind Pulumi's back, import, and destroy.
func TestYAMLDeploymentWebhooks(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	seedWebhookStacks(t, c)
	w := newWorkspace(t, "yaml/deployment-webhooks", c)

	// Create: one deployment webhook on each upstream stack.
	w.pulumi("up", "--yes")
	hooks := hooksByDisplayName(t, c)
	require.Len(t, hooks, 2)
	database := hooks["deploy-database"]
	assert.Equal(t, "network", database.Project)
	assert.Equal(t, "prod", database.Stack)
	assert.Equal(t, "pulumi_deployments", database.Format)
	assert.Equal(t, "database/prod", database.PayloadURL)
	assert.Equal(t, []string{"update_succeeded"}, database.Filters)
	assert.True(t, database.Active)
	assert.Equal(t, "compute/prod", hooks["deploy-compute"].PayloadURL)

	// The webhooks do their job: an update of network redeploys database, then compute.
	result, err := c.FireUpdate("org", "network", "prod")
	require.NoError(t, err)
	assert.Equal(t, []string{"database/prod", "compute/prod"}, deployedStacks(result))

	// No-op: nothing to change, so no write reaches Pulumi Cloud.
	c.ResetStats()
	w.pulumi("up", "--yes", "--expect-no-changes")
	assert.Zero(t, c.Stats().Writes, "a no-op up wrote to Pulumi Cloud: %v", c.Stats().ByRoute)

	// Update in place: a new display name is one PATCH of the same webhook.
	w.edit("displayName: deploy-compute", "displayName: redeploy-compute")
	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview")
	stats := c.Stats()
	assert.Equal(t, 1, stats.Writes, "routes: %v", stats.ByRoute)
	assert.Equal(t, 1, stats.ByRoute["PATCH /api/stacks/{org}/{project}/{stack}/hooks/{name}"], "routes: %v",
		stats.ByRoute)
	hooks = hooksByDisplayName(t, c)
	require.Contains(t, hooks, "redeploy-compute")
	compute := hooks["redeploy-compute"]
	assert.Equal(t, database.Name, hooks["deploy-database"].Name)

	// Out of band, someone renames one webhook and deletes the other in the console.
	c.api(t, http.MethodPatch, compute.Scope.Path()+"/"+compute.Name, map[string]any{
		"organizationName": "org", "projectName": "database", "stackName": "prod", "name": compute.Name,
		"displayName": "renamed-in-console", "payloadUrl": "compute/prod", "active": true,
	}, http.StatusOK)
	c.api(t, http.MethodDelete, database.Scope.Path()+"/"+database.Name, nil, http.StatusNoContent)
	w.pulumi("refresh", "--yes", "--skip-preview")
	_, err = w.run("preview", "--expect-no-changes")
	require.Error(t, err, "after refresh, preview must show the drift")
	w.pulumi("up", "--yes", "--skip-preview")
	hooks = hooksByDisplayName(t, c)
	require.Len(t, hooks, 2)
	assert.Equal(t, compute.Name, hooks["redeploy-compute"].Name, "the renamed webhook is restored in place")
	assert.NotEqual(t, database.Name, hooks["deploy-database"].Name, "the deleted webhook is created again")
	w.pulumi("up", "--yes", "--expect-no-changes")

	// Import a webhook made outside Pulumi, then adopt it in the program without a write.
	var made struct {
		Name string `json:"name"`
	}
	c.api(t, http.MethodPost, "/api/stacks/org/compute/prod/hooks", map[string]any{
		"organizationName": "org", "projectName": "compute", "stackName": "prod",
		"displayName": "notify", "payloadUrl": "https://hooks.example.com/pulumi", "active": true,
	}, http.StatusCreated, &made)
	c.ResetStats()
	w.pulumi("import", "auto-deploy:index:Webhook", "notify", "org/compute/prod/"+made.Name,
		"--yes", "--protect=false", "--generate-code=false")
	w.appendToProgram(`  notify:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: compute
      stackName: prod
      format: raw
      payloadUrl: https://hooks.example.com/pulumi
      active: true
      displayName: notify
`)
	w.pulumi("up", "--yes", "--expect-no-changes")
	assert.Zero(t, c.Stats().Writes, "import and adoption wrote to Pulumi Cloud: %v", c.Stats().ByRoute)

	// Destroy leaves nothing behind.
	w.pulumi("destroy", "--yes", "--skip-preview")
	assert.Empty(t, c.Webhooks())
}

func hooksByDisplayName(t *testing.T, c *cloud) map[string]emulator.Webhook {
	t.Helper()
	hooks := map[string]emulator.Webhook{}
	for _, h := range withoutMarks(c.Webhooks()) {
		require.NotContains(t, hooks, h.DisplayName, "two webhooks named %q", h.DisplayName)
		hooks[h.DisplayName] = h
	}
	return hooks
}

func deployedStacks(r emulator.CascadeResult) []string {
	var stacks []string
	for _, d := range r.Deployments {
		stacks = append(stacks, d.Project+"/"+d.Stack)
	}
	return stacks
}

// api calls the emulator as a user in the Pulumi Cloud console would, behind Pulumi's back.
func (c *cloud) api(t *testing.T, method, path string, body any, wantStatus int, out ...any) {
	t.Helper()
	var payload bytes.Buffer
	if body != nil {
		require.NoError(t, json.NewEncoder(&payload).Encode(body))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, c.URL+path, &payload)
	require.NoError(t, err)
	req.Header.Set("Authorization", "token "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, wantStatus, resp.StatusCode, "%s %s", method, path)
	for _, o := range out {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(o))
	}
}

func (w *workspace) appendToProgram(text string) {
	w.t.Helper()
	f, err := os.OpenFile(filepath.Join(w.dir, "Pulumi.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(w.t, err)
	_, err = f.WriteString(text)
	require.NoError(w.t, err)
	require.NoError(w.t, f.Close())
}
