package cloud_test

// Contract tests for stacks: create, read, delete, and listing through GET /api/user/stacks.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

func stackKeys(ss []cloud.StackSummary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.OrgName + "/" + s.ProjectName + "/" + s.StackName
	}
	return out
}

// More stacks than fit on the emulator's default page (100): the client must follow the token through
// three pages and return each stack once, in the emulator's order.
func TestContractListStacksAcrossPages(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	var seed emulator.SeedData
	var want []string
	for i := range 250 {
		name := fmt.Sprintf("s%03d", i)
		seed.Stacks = append(seed.Stacks, emulator.SeedStack{Org: contractOrg, Project: contractProj, Stack: name})
		want = append(want, contractOrg+"/"+contractProj+"/"+name)
	}
	require.NoError(t, k.srv.Seed(seed))
	k.srv.ResetStats()

	got, err := k.client.ListStacks(t.Context(), cloud.StackFilter{})
	require.NoError(t, err)
	assert.Equal(t, want, stackKeys(got))
	assert.Equal(t, 3, k.srv.Stats().ByRoute["GET /api/user/stacks"], "three pages, no empty fourth")
	for _, s := range got {
		assert.NotEmpty(t, s.ID)
		assert.Zero(t, s.ResourceCount)
	}
}

func TestContractListStacksFilters(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	require.NoError(t, k.srv.Seed(emulator.SeedData{Stacks: []emulator.SeedStack{
		{Org: contractOrg, Project: contractProj, Stack: "prod", Tags: map[string]string{"env": "prod"}},
		{Org: contractOrg, Project: contractProj, Stack: "dev", Tags: map[string]string{"env": "dev"}},
		{Org: contractOrg, Project: "web", Stack: "prod", Tags: map[string]string{"env": "prod", "team": "web"}},
		{Org: "other", Project: contractProj, Stack: "prod"},
	}}))
	for name, tc := range map[string]struct {
		filter cloud.StackFilter
		want   []string
	}{
		"none": {cloud.StackFilter{}, []string{"acme/infra/dev", "acme/infra/prod", "acme/web/prod", "other/infra/prod"}},
		"organization": {cloud.StackFilter{Organization: contractOrg},
			[]string{"acme/infra/dev", "acme/infra/prod", "acme/web/prod"}},
		"project":   {cloud.StackFilter{Project: contractProj}, []string{"acme/infra/dev", "acme/infra/prod", "other/infra/prod"}},
		"tag name":  {cloud.StackFilter{TagName: "team"}, []string{"acme/web/prod"}},
		"tag value": {cloud.StackFilter{TagName: "env", TagValue: "prod"}, []string{"acme/infra/prod", "acme/web/prod"}},
		"all four": {cloud.StackFilter{Organization: contractOrg, Project: "web", TagName: "env", TagValue: "prod"},
			[]string{"acme/web/prod"}},
		"no match": {cloud.StackFilter{Organization: "nobody"}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := k.client.ListStacks(t.Context(), tc.filter)
			require.NoError(t, err)
			assert.Equal(t, tc.want, stackKeys(got))
		})
	}
}

func TestContractListStacksLastUpdate(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
	require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "dev"))
	_, err := k.srv.FireUpdate(contractOrg, contractProj, "prod")
	require.NoError(t, err)
	got, err := k.client.ListStacks(t.Context(), cloud.StackFilter{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Zero(t, got[0].LastUpdate, "dev was never updated")
	assert.Equal(t, contractNow.Unix(), got[1].LastUpdate)
	stack, err := k.client.GetStack(t.Context(), contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.Equal(t, stack.ID, got[1].ID)
}

// A wrong token fails the first page with the same sentinel as every other call.
func TestContractListStacksUnauthorized(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	c := newContractClient(t, k.ts, wrongToken)
	_, err := c.ListStacks(t.Context(), cloud.StackFilter{})
	assert.ErrorIs(t, err, cloud.ErrUnauthorized)
}

// The client against the emulator behind a path prefix, as a self-hosted installation may be.
func TestContractListStacksUnderPathPrefix(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t, emulatortest.WithToken(contractToken),
		emulatortest.WithHandler(func(h http.Handler) http.Handler { return http.StripPrefix("/pulumi", h) }))
	require.NoError(t, srv.CreateStack(contractOrg, contractProj, "prod"))
	c, err := cloud.New(srv.HTTP.Client(), srv.URL+"/pulumi/", contractToken)
	require.NoError(t, err)
	got, err := c.ListStacks(t.Context(), cloud.StackFilter{})
	require.NoError(t, err)
	assert.Equal(t, []string{"acme/infra/prod"}, stackKeys(got))
}

// An https:// URL for the plain-HTTP emulator is one attempt and a message naming where and what to do.
func TestContractHTTPSToEmulatorFailsOnce(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	host := strings.TrimPrefix(k.ts.URL, "http://")
	c, err := cloud.New(nil, "https://"+host, contractToken)
	require.NoError(t, err)
	_, err = c.ListStacks(t.Context(), cloud.StackFilter{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /api/user/stacks: "+host+" answered in plain HTTP, not HTTPS: use http://"+host)
	assert.Equal(t, cloud.ClientStats{Requests: 1}, c.Stats())
	assert.Zero(t, k.srv.Stats().Total, "no request reached the emulator's API")
}

// TestContractStacks creates, reads and deletes stacks through the client.
func TestContractStacks(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()

	created, err := k.client.CreateStack(ctx, contractOrg, contractProj, "staging")
	require.NoError(t, err)
	assert.NotEmpty(t, created.ID)
	assert.Equal(t, contractOrg, created.OrgName)
	assert.Equal(t, contractProj, created.ProjectName)
	assert.Equal(t, "staging", created.StackName)
	assert.Equal(t, 0, created.Version)

	got, err := k.client.GetStack(ctx, contractOrg, contractProj, "staging")
	require.NoError(t, err)
	assert.Equal(t, created, got)

	// A stack the emulator created itself reads the same way.
	require.NoError(t, k.srv.CreateStack(contractOrg, "other-project", "seeded"))
	seeded, err := k.client.GetStack(ctx, contractOrg, "other-project", "seeded")
	require.NoError(t, err)
	assert.Equal(t, "seeded", seeded.StackName)
	assert.Equal(t, "other-project", seeded.ProjectName)
	assert.NotEqual(t, created.ID, seeded.ID)

	// Deleting a stack removes it and its webhooks.
	scope := cloud.WebhookScope{Organization: contractOrg, Project: contractProj, Stack: "staging"}
	k.createHook(t, scope, sampleWebhook(scope))
	require.NoError(t, k.client.DeleteStack(ctx, contractOrg, contractProj, "staging", false))
	_, err = k.client.GetStack(ctx, contractOrg, contractProj, "staging")
	requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)
	_, err = k.client.ListWebhooks(ctx, scope)
	requireAPIError(t, err, http.StatusNotFound)
	assert.Empty(t, k.hooksIn(scope))

	// force=true is accepted too.
	require.NoError(t, k.client.DeleteStack(ctx, contractOrg, "other-project", "seeded", true))
	_, err = k.client.GetStack(ctx, contractOrg, "other-project", "seeded")
	assert.ErrorIs(t, err, cloud.ErrNotFound)

	// A deleted stack can be created again.
	_, err = k.client.CreateStack(ctx, contractOrg, contractProj, "staging")
	require.NoError(t, err)
}

// The token's default organization, and "" for a user without one.
func TestContractDefaultOrganization(t *testing.T) {
	t.Parallel()
	for _, org := range []string{"acme", ""} {
		srv := emulatortest.Start(t, emulatortest.WithToken(contractToken),
			emulatortest.WithOptions(func(o *emulator.Options) { o.DefaultOrganization = org }))
		got, err := newContractClient(t, srv.HTTP, contractToken).GetDefaultOrganization(t.Context())
		require.NoError(t, err)
		assert.Equal(t, org, got)
	}
}

// A stack being updated says so: while a person's update that takes time runs, GetStack shows it as the
// current operation and activeUpdate names it, and the stack list's lastUpdate is its start; when it
// ends, nothing runs and the version has moved.
func TestContractStackCurrentOperation(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, "prod"))
	idle, err := k.client.GetStack(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.False(t, idle.Updating())
	assert.Empty(t, idle.ActiveUpdate)

	res, err := k.srv.StartUpdate(contractOrg, contractProj, "prod", emulator.Update{Duration: time.Hour})
	require.NoError(t, err)
	busy, err := k.client.GetStack(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.True(t, busy.Updating())
	assert.Equal(t, &cloud.StackOperation{Kind: "update", Author: "emulator", Started: contractNow.Unix()},
		busy.CurrentOperation)
	assert.Equal(t, res.Update.ID, busy.ActiveUpdate)
	assert.Zero(t, busy.Version)
	listed, err := k.client.ListStacks(ctx, cloud.StackFilter{Project: contractProj})
	require.NoError(t, err)
	assert.Equal(t, contractNow.Unix(), listed[0].LastUpdate, "an update's start is the stack's lastUpdate")

	_, err = k.srv.FinishUpdate(res.Update.ID)
	require.NoError(t, err)
	done, err := k.client.GetStack(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.False(t, done.Updating())
	assert.Equal(t, 1, done.Version)
	assert.Equal(t, res.Update.ID, done.ActiveUpdate, "the most recent update, now finished")
}
