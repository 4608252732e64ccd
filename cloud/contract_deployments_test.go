package cloud_test

// Contract tests for deployment settings and deployments.

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// TestContractDeploymentSettings reads and replaces a stack's deployment settings.
func TestContractDeploymentSettings(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))

	_, err := k.client.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
	apiErr := requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)
	assert.Contains(t, apiErr.Message, "deployment settings")

	first := map[string]any{
		"sourceContext": map[string]any{
			"git": map[string]any{"repoUrl": "https://github.com/acme/infra.git", "branch": "refs/heads/main"},
		},
		"operationContext": map[string]any{
			"environmentVariables": map[string]any{"AWS_REGION": "eu-west-1"},
			"options":              map[string]any{"skipIntermediateDeployments": true},
			"preRunCommands":       []any{"make deps"},
		},
		"agentPoolID":        "pool-1",
		"cacheOptions":       map[string]any{"enable": true},
		"unknownFutureField": map[string]any{"n": float64(3)},
	}
	put, err := k.client.PutDeploymentSettings(ctx, contractOrg, contractProj, "prod", first)
	require.NoError(t, err)
	assert.Equal(t, first, put, "PUT answers the stored settings, unknown fields included")

	got, err := k.client.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.Equal(t, first, got)

	// PUT replaces: keys missing from the new settings are gone.
	second := map[string]any{"sourceContext": map[string]any{"git": map[string]any{"branch": "refs/heads/release"}}}
	put, err = k.client.PutDeploymentSettings(ctx, contractOrg, contractProj, "prod", second)
	require.NoError(t, err)
	assert.Equal(t, second, put)
	got, err = k.client.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.Equal(t, second, got)

	// Settings the emulator was given directly read the same way.
	require.NoError(t, k.srv.SetDeploymentSettings(contractOrg, contractProj, "prod", map[string]any{"tag": "v1"}))
	got, err = k.client.GetDeploymentSettings(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"tag": "v1"}, got)

	// Missing stack.
	_, err = k.client.PutDeploymentSettings(ctx, contractOrg, contractProj, "missing", first)
	requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)
}

// TestContractCreateDeployment queues deployments: 202 with id, console URL and version, and the
// deployment is in the emulator's log as an API-started run of that operation.
func TestContractCreateDeployment(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")

	ref, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)
	assert.NotEmpty(t, ref.ID)
	assert.NotEmpty(t, ref.ConsoleURL)
	assert.Equal(t, 1, ref.Version)

	ref2, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "preview")
	require.NoError(t, err)
	assert.NotEqual(t, ref.ID, ref2.ID)
	assert.Equal(t, 2, ref2.Version)

	deps := k.srv.Deployments()
	require.Len(t, deps, 2)
	assert.Equal(t, ref.ID, deps[0].ID)
	assert.Equal(t, "update", deps[0].Operation)
	assert.Equal(t, "prod", deps[0].Stack)
	assert.Equal(t, emulator.CauseAPI, deps[0].Cause.Kind)
	assert.Equal(t, ref2.ID, deps[1].ID)
	assert.Equal(t, "preview", deps[1].Operation)
	assert.Equal(t, int64(2), k.client.Stats().Requests, "one request per deployment")
}

// TestContractListDeployments pages through a stack's deployments: pages are disjoint, cover every
// deployment once, report the total, and page 0 means the service's first page.
func TestContractListDeployments(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "prod", "other")

	ops := []string{"update", "preview", "refresh", "detect-drift", "update"}
	byID := map[string]cloud.DeploymentRef{}
	opByID := map[string]string{}
	var ids []string
	for _, op := range ops {
		ref, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", op)
		require.NoError(t, err)
		byID[ref.ID] = ref
		opByID[ref.ID] = op
		ids = append(ids, ref.ID)
	}
	_, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "other", "update")
	require.NoError(t, err)

	all, total, err := k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", 0, 0)
	require.NoError(t, err)
	assert.Equal(t, len(ops), total)
	require.Len(t, all, len(ops), "the default page size (10) holds them all")
	for _, d := range all {
		ref, ok := byID[d.ID]
		require.True(t, ok, "deployment %s was not started on this stack", d.ID)
		assert.Equal(t, opByID[d.ID], d.Operation, "operation read from pulumiOperation")
		assert.Equal(t, ref.Version, d.Version)
		assert.NotEmpty(t, d.Status)
		assert.NotEmpty(t, d.Created)
		assert.Equal(t, d.ID, d.Raw["id"])
	}

	var paged []string
	for page, want := range map[int]int{1: 2, 2: 2, 3: 1, 4: 0} {
		got, total, err := k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", page, 2)
		require.NoError(t, err)
		assert.Equal(t, len(ops), total, "page %d", page)
		assert.Len(t, got, want, "page %d", page)
		for _, d := range got {
			paged = append(paged, d.ID)
		}
	}
	assert.ElementsMatch(t, ids, paged, "pages are disjoint and cover every deployment once")

	first, _, err := k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", 1, 2)
	require.NoError(t, err)
	zero, _, err := k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", 0, 2)
	require.NoError(t, err)
	assert.Equal(t, first, zero, "page 0 leaves the service's default, the first page")

	empty, total, err := k.client.ListDeployments(ctx, contractOrg, "nothing-deployed", "x", 0, 0)
	requireAPIError(t, err, http.StatusNotFound)
	assert.Empty(t, empty)
	assert.Zero(t, total)

	_, _, err = k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", 1, 101)
	apiErr := requireAPIError(t, err, http.StatusBadRequest)
	assert.Contains(t, apiErr.Message, "pageSize")
}
