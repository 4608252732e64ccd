package cloud_test

// Contract tests for stack references: the client reads what the emulator was told a stack's program
// reads, mapping the wire's organization/routingProject/name/version onto StackReference.

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

func TestContractStackReferences(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	for _, s := range []string{"prod", "app", "web"} {
		require.NoError(t, k.srv.CreateStack(contractOrg, contractProj, s))
	}
	require.NoError(t, k.srv.CreateStack(contractOrg, "net", "shared"))
	_, err := k.srv.FireUpdate(contractOrg, "net", "shared")
	require.NoError(t, err)

	down, err := k.client.ListDownstreamReferences(ctx, contractOrg, "net", "shared")
	require.NoError(t, err)
	assert.Empty(t, down)
	assert.NotNil(t, down, "an empty list, not nil")

	require.NoError(t, k.srv.AddStackReference(contractOrg, contractProj, "app", "net", "shared"))
	require.NoError(t, k.srv.AddStackReference(contractOrg, contractProj, "web", "net", "shared"))
	require.NoError(t, k.srv.AddStackReference(contractOrg, contractProj, "web", contractProj, "app"))

	down, err = k.client.ListDownstreamReferences(ctx, contractOrg, "net", "shared")
	require.NoError(t, err)
	assert.ElementsMatch(t, []cloud.StackReference{
		{Organization: contractOrg, Project: contractProj, Stack: "app", Version: 0},
		{Organization: contractOrg, Project: contractProj, Stack: "web", Version: 0},
	}, down)

	up, err := k.client.ListUpstreamReferences(ctx, contractOrg, contractProj, "web")
	require.NoError(t, err)
	assert.ElementsMatch(t, []cloud.StackReference{
		{Organization: contractOrg, Project: "net", Stack: "shared", Version: 1},
		{Organization: contractOrg, Project: contractProj, Stack: "app", Version: 0},
	}, up)

	up, err = k.client.ListUpstreamReferences(ctx, contractOrg, contractProj, "prod")
	require.NoError(t, err)
	assert.Empty(t, up)

	require.NoError(t, k.srv.RemoveStackReference(contractOrg, contractProj, "web", "net", "shared"))
	down, err = k.client.ListDownstreamReferences(ctx, contractOrg, "net", "shared")
	require.NoError(t, err)
	assert.Equal(t, []cloud.StackReference{{Organization: contractOrg, Project: contractProj, Stack: "app"}}, down)

	_, err = k.client.ListDownstreamReferences(ctx, contractOrg, contractProj, "missing")
	requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)
	_, err = k.client.ListUpstreamReferences(ctx, contractOrg, contractProj, "missing")
	requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)

	stats := k.srv.Stats()
	assert.Positive(t, stats.ByRoute["GET /api/stacks/{org}/{project}/{stack}/downstreamreferences"])
	assert.Positive(t, stats.ByRoute["GET /api/stacks/{org}/{project}/{stack}/upstreamreferences"])
}
