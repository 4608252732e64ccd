package cloud_test

// Contract tests for listing stacks: Client.ListStacks against the emulator's GET /api/user/stacks.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/provider/cloud"
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
	srv := emulator.New(emulator.Options{Token: contractToken})
	require.NoError(t, srv.CreateStack(contractOrg, contractProj, "prod"))
	ts := httptest.NewServer(http.StripPrefix("/pulumi", srv))
	t.Cleanup(ts.Close)
	c, err := cloud.New(ts.Client(), ts.URL+"/pulumi/", contractToken)
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
