package cloud_test

// Contract tests for what a relay reconciling against Pulumi Cloud reads and does: the updates a
// deployment ran, an organization's deployments and their metadata, and cancelling a deployment.

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// A deployment names its stack and the update it ran: the stack version a successful update wrote, none
// for a preview, and none while it runs.
func TestContractDeploymentUpdates(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")

	update, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)
	d, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", update.ID)
	require.NoError(t, err)
	assert.Equal(t, contractProj, d.Project)
	assert.Equal(t, "prod", d.Stack)
	require.Len(t, d.Updates, 1)
	assert.Equal(t, cloud.DeploymentUpdate{Version: 1, Kind: "update", Result: "succeeded",
		StartTime: contractNow.Unix(), EndTime: contractNow.Unix()}, d.Updates[0])
	assert.Equal(t, 1, d.StackVersion())
	stack, err := k.client.GetStack(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.Equal(t, stack.Version, d.StackVersion())

	preview, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "preview")
	require.NoError(t, err)
	d, err = k.client.GetDeploymentByVersion(ctx, contractOrg, contractProj, "prod", preview.Version)
	require.NoError(t, err)
	assert.Zero(t, d.StackVersion(), "a preview writes no version")

	k.srv.SetManualDeployments(true)
	queued, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)
	list, _, err := k.client.ListDeployments(ctx, contractOrg, contractProj, "prod", 0, 0)
	require.NoError(t, err)
	assert.Equal(t, queued.ID, list[0].ID)
	assert.Empty(t, list[0].Updates, "not started")
	k.srv.StartDeployments()
	running, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", queued.ID)
	require.NoError(t, err)
	require.Len(t, running.Updates, 1)
	assert.Equal(t, "in-progress", running.Updates[0].Result)
	assert.Zero(t, running.StackVersion())
}

// An organization's deployments across its stacks, newest first, a page at a time.
func TestContractListOrgDeployments(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "a", "b")
	k.srv.SeedDeployable(t, "other", contractProj, "x")
	var ids []string
	for _, s := range []string{"a", "b", "a"} {
		ref, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, s, "update")
		require.NoError(t, err)
		ids = append(ids, ref.ID)
	}
	_, err := k.client.CreateDeployment(ctx, "other", contractProj, "x", "update")
	require.NoError(t, err)

	all, total, err := k.client.ListOrgDeployments(ctx, contractOrg, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	require.Len(t, all, 3)
	assert.Equal(t, []string{ids[2], ids[1], ids[0]}, []string{all[0].ID, all[1].ID, all[2].ID}, "newest first")
	assert.Equal(t, []string{"a", "b", "a"}, []string{all[0].Stack, all[1].Stack, all[2].Stack})
	assert.Equal(t, 2, all[0].StackVersion(), "a's second update wrote its version 2")

	var paged []string
	for page := 1; page <= 3; page++ {
		got, total, err := k.client.ListOrgDeployments(ctx, contractOrg, page, 2)
		require.NoError(t, err)
		assert.Equal(t, 3, total)
		for _, d := range got {
			paged = append(paged, d.ID)
		}
	}
	assert.Equal(t, []string{ids[2], ids[1], ids[0]}, paged, "pages are disjoint and cover every deployment once")

	_, _, err = k.client.ListOrgDeployments(ctx, contractOrg, 1, 101)
	assert.Contains(t, requireAPIError(t, err, http.StatusBadRequest).Message, "pageSize")
}

// The metadata counts the organization's deployments by status and gives its cap.
func TestContractOrgDeploymentsMetadata(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "a", "b", "c")
	none, err := k.client.OrgDeploymentsMetadata(ctx, contractOrg)
	require.NoError(t, err)
	assert.Equal(t, cloud.DeploymentsMetadata{}, none, "no cap, no deployments")

	_, err = k.srv.SetDeploymentMode(emulator.DeploymentMode{Mode: emulator.DeploymentsManual, Concurrency: 2})
	require.NoError(t, err)
	for _, s := range []string{"a", "b", "c"} {
		_, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, s, "update")
		require.NoError(t, err)
	}
	k.srv.StartDeployments()
	got, err := k.client.OrgDeploymentsMetadata(ctx, contractOrg)
	require.NoError(t, err)
	assert.Equal(t, cloud.DeploymentsMetadata{Concurrency: 2, Counts: cloud.DeploymentCounts{
		NotStarted: 1, Running: 2, Total: 3}}, got)
}

// Cancelling: a running deployment fails, a second cancel is ErrConflict, an unknown deployment is
// ErrNotFound; and a cancel whose answer is lost is sent again and lands on ErrConflict, since the
// first one did cancel it.
func TestContractCancelDeployment(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "prod")
	_, err := k.srv.SetDeploymentMode(emulator.DeploymentMode{Mode: emulator.DeploymentsTimed, Duration: time.Hour})
	require.NoError(t, err)
	running, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)
	queued, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)

	require.NoError(t, k.client.CancelDeployment(ctx, contractOrg, contractProj, "prod", queued.ID))
	require.NoError(t, k.client.CancelDeployment(ctx, contractOrg, contractProj, "prod", running.ID))
	for _, id := range []string{queued.ID, running.ID} {
		d, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", id)
		require.NoError(t, err)
		assert.Equal(t, "failed", d.Status, "a cancelled deployment reads failed")
	}
	k.srv.WaitIdle(t)

	err = k.client.CancelDeployment(ctx, contractOrg, contractProj, "prod", running.ID)
	assert.Contains(t, requireAPIError(t, err, http.StatusConflict).Message, "already ended")
	assertOnlySentinels(t, err, cloud.ErrConflict)
	err = k.client.CancelDeployment(ctx, contractOrg, contractProj, "prod", "nope")
	requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)

	again, err := k.client.CreateDeployment(ctx, contractOrg, contractProj, "prod", "update")
	require.NoError(t, err)
	k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
		{Status: http.StatusBadGateway, AfterApply: true, PathContains: "/cancel", Limit: 1}}})
	before := k.client.Stats()
	err = k.client.CancelDeployment(ctx, contractOrg, contractProj, "prod", again.ID)
	assertOnlySentinels(t, err, cloud.ErrConflict)
	assert.Equal(t, cloud.ClientStats{Requests: 2, Retries: 1}, statsDelta(k.client, before))
	d, err := k.client.GetDeployment(ctx, contractOrg, contractProj, "prod", again.ID)
	require.NoError(t, err)
	assert.Equal(t, "failed", d.Status)
}
