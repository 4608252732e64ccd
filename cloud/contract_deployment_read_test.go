package cloud_test

// Contract tests for reading one deployment, by id and by version, including deployments the emulator
// holds queued (manual deployments), and for the list items' required fields.

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

func TestContractGetDeployment(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")

	ref, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)
	k.srv.SetManualDeployments(true)
	queued, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "refresh")
	require.NoError(t, err)

	d, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", ref.ID)
	require.NoError(t, err)
	assert.Equal(t, ref.ID, d.ID)
	assert.Equal(t, ref.Version, d.Version)
	assert.Equal(t, "succeeded", d.Status)
	assert.Equal(t, "update", d.Operation)
	assert.Equal(t, 2, d.LatestVersion)
	assert.NotEmpty(t, d.Created)
	assert.NotEmpty(t, d.Modified)
	for _, key := range []string{"requestedBy", "jobs", "configuration", "initiator"} {
		assert.Contains(t, d.Raw, key)
	}

	byVersion, err := k.client.GetDeploymentByVersion(ctx, contractOrg, contractProj, "prod", queued.Version)
	require.NoError(t, err)
	assert.Equal(t, queued.ID, byVersion.ID)
	assert.Equal(t, "not-started", byVersion.Status, "manual deployments wait until started")

	k.srv.StartDeployments()
	running, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", queued.ID)
	require.NoError(t, err)
	assert.Equal(t, "running", running.Status)
	_, err = k.srv.FinishDeployment(queued.ID)
	require.NoError(t, err)
	done, err := k.client.GetDeploymentByVersion(ctx, contractOrg, contractProj, "prod", queued.Version)
	require.NoError(t, err)
	assert.Equal(t, "succeeded", done.Status)

	list, _, err := k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", 0, 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, item := range list {
		for _, key := range []string{"created", "id", "modified", "requestedBy", "status", "version", "jobs", "pulumiOperation", "updates"} {
			assert.Contains(t, item.Raw, key, "list item %s", item.ID)
		}
	}

	for _, read := range []func() error{
		func() error {
			_, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", "nope")
			return err
		},
		func() error {
			_, err := k.client.GetDeploymentByVersion(ctx, contractOrg, contractProj, "prod", 9)
			return err
		},
		func() error {
			_, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "missing", ref.ID)
			return err
		},
	} {
		err := read()
		requireAPIError(t, err, http.StatusNotFound)
		assertOnlySentinels(t, err, cloud.ErrNotFound)
	}
	before := k.client.Stats()
	_, err = k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", "settings")
	assert.Error(t, err, "the settings route is not a deployment")
	assert.Zero(t, statsDelta(k.client, before).Requests)
}
