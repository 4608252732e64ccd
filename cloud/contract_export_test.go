package cloud_test

// Contract tests for what a consumer of stack outputs reads: exports at a version, the outputs in them,
// secrets and batch-decrypt, and the retry rules that set batch-decrypt (a POST that only reads) apart
// from CreateDeployment (a POST that starts something).

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

// secretsOf splits outputs into plain values and the ciphertexts of secrets, by name.
func secretsOf(t *testing.T, outputs map[string]any) (plain map[string]any, ciphertexts map[string]string) {
	t.Helper()
	plain, ciphertexts = map[string]any{}, map[string]string{}
	for name, v := range outputs {
		if ct, ok := cloud.IsSecret(v); ok {
			ciphertexts[name] = ct
		} else {
			plain[name] = v
		}
	}
	return plain, ciphertexts
}

func TestContractExportOutputsAndDecrypt(t *testing.T) {
	t.Parallel()
	k := newContract(t)
	ctx := t.Context()
	k.srv.SeedDeployable(t, contractOrg, contractProj, "net")

	never, err := k.client.ExportStack(ctx, contractOrg, contractProj, "net", 0)
	require.NoError(t, err)
	assert.Equal(t, 3, never.Version)
	outs, err := never.Outputs()
	require.NoError(t, err)
	assert.Empty(t, outs, "a stack never updated has no outputs")

	_, err = k.srv.FireUpdateWithOutputs(contractOrg, contractProj, "net", &emulator.StackOutputs{
		Plain:  map[string]any{"vpcId": "vpc-1", "azs": 3, "tags": map[string]any{"env": "prod"}},
		Secret: map[string]any{"dbPassword": "pw-1", "apiKeys": []any{"k1", "k2"}},
	})
	require.NoError(t, err)
	_, err = k.srv.FireUpdate(contractOrg, contractProj, "net") // version 2: the same outputs, carried over
	require.NoError(t, err)
	stack, err := k.client.GetStack(ctx, contractOrg, contractProj, "net")
	require.NoError(t, err)
	assert.Equal(t, 2, stack.Version)

	v1, err := k.client.ExportStack(ctx, contractOrg, contractProj, "net", 1)
	require.NoError(t, err)
	latest, err := k.client.ExportStack(ctx, contractOrg, contractProj, "net", 0)
	require.NoError(t, err)
	outs1, err := v1.Outputs()
	require.NoError(t, err)
	outs2, err := latest.Outputs()
	require.NoError(t, err)

	plain1, secrets1 := secretsOf(t, outs1)
	plain2, secrets2 := secretsOf(t, outs2)
	assert.Equal(t, map[string]any{"vpcId": "vpc-1", "azs": json.Number("3"), "tags": map[string]any{"env": "prod"}}, plain1)
	assert.Equal(t, plain1, plain2)
	require.Len(t, secrets1, 2)
	require.Len(t, secrets2, 2)
	assert.NotEqual(t, secrets1["dbPassword"], secrets2["dbPassword"],
		"the same secret has another ciphertext in another version: only plaintexts tell whether it changed")

	all := []string{secrets1["dbPassword"], secrets1["apiKeys"], secrets2["dbPassword"], secrets2["apiKeys"]}
	plains, err := k.client.BatchDecrypt(ctx, contractOrg, contractProj, "net", all)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		secrets1["dbPassword"]: `"pw-1"`, secrets2["dbPassword"]: `"pw-1"`,
		secrets1["apiKeys"]: `["k1","k2"]`, secrets2["apiKeys"]: `["k1","k2"]`,
	}, plains, "each plaintext is the JSON of the value")

	_, err = k.client.ExportStack(ctx, contractOrg, contractProj, "net", 3)
	requireAPIError(t, err, http.StatusNotFound)
	assertOnlySentinels(t, err, cloud.ErrNotFound)
	_, err = k.client.ExportStack(ctx, contractOrg, contractProj, "ghost", 0)
	assertOnlySentinels(t, err, cloud.ErrNotFound)

	k.srv.SeedDeployable(t, contractOrg, contractProj, "other")
	_, err = k.client.BatchDecrypt(ctx, contractOrg, contractProj, "other", []string{secrets1["dbPassword"]})
	apiErr := requireAPIError(t, err, http.StatusBadRequest)
	assert.Contains(t, apiErr.Message, "is not a ciphertext of this stack's secrets")
	assertOnlySentinels(t, err)
}

// batch-decrypt only reads: after a 503, or an answer lost after the request was handled, the client
// asks again. CreateDeployment under the same faults is never repeated.
func TestContractBatchDecryptIsRetriedCreateDeploymentIsNot(t *testing.T) {
	t.Parallel()
	for _, afterApply := range []bool{false, true} {
		k := newContract(t)
		ctx := t.Context()
		k.srv.SeedDeployable(t, contractOrg, contractProj, "net")
		_, err := k.srv.FireUpdateWithOutputs(contractOrg, contractProj, "net",
			&emulator.StackOutputs{Secret: map[string]any{"pw": "x"}})
		require.NoError(t, err)
		exp, err := k.client.ExportStack(ctx, contractOrg, contractProj, "net", 0)
		require.NoError(t, err)
		outs, err := exp.Outputs()
		require.NoError(t, err)
		ct, ok := cloud.IsSecret(outs["pw"])
		require.True(t, ok)

		k.srv.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
			{Status: http.StatusServiceUnavailable, Method: "POST", PathContains: "/batch-decrypt", AfterApply: afterApply, Limit: 1},
			{Status: http.StatusServiceUnavailable, Method: "POST", PathContains: "/deployments", AfterApply: afterApply, Limit: 1},
		}})
		before := k.client.Stats()
		plains, err := k.client.BatchDecrypt(ctx, contractOrg, contractProj, "net", []string{ct})
		require.NoError(t, err, "afterApply %v", afterApply)
		assert.Equal(t, map[string]string{ct: `"x"`}, plains)
		assert.Equal(t, cloud.ClientStats{Requests: 2, Retries: 1}, statsDelta(k.client, before))

		before = k.client.Stats()
		_, err = k.client.CreateDeployment(ctx, contractOrg, contractProj, "net", "update")
		require.ErrorIs(t, err, cloud.ErrAmbiguous, "afterApply %v", afterApply)
		assert.Equal(t, cloud.ClientStats{Requests: 1}, statsDelta(k.client, before))
		deployments, err := k.srv.StackDeployments(contractOrg, contractProj, "net")
		require.NoError(t, err)
		want := 0
		if afterApply {
			want = 1
		}
		assert.Len(t, deployments, want, "one deployment if the create landed, none if not; never two")
	}
}

// With timed deployments, a deployment the client starts goes through not-started and running to its
// end, and GetDeployment shows each status; a failure shows as failed.
func TestContractTimedDeploymentStatuses(t *testing.T) {
	t.Parallel()
	srv := emulatortest.Start(t, emulatortest.WithToken(contractToken), emulatortest.WithDeploymentDuration(time.Hour))
	client := newContractClient(t, srv.HTTP, contractToken)
	ctx := t.Context()
	srv.SeedDeployable(t, contractOrg, contractProj, "web")

	first, err := client.CreateDeployment(ctx, contractOrg, contractProj, "web", "update")
	require.NoError(t, err)
	second, err := client.CreateDeployment(ctx, contractOrg, contractProj, "web", "update")
	require.NoError(t, err)
	status := func(id string) string {
		d, err := client.GetDeployment(ctx, contractOrg, contractProj, "web", id)
		require.NoError(t, err)
		return d.Status
	}
	srv.WaitFor(t, "the first deployment to run", func() bool { return status(first.ID) == "running" })
	assert.Equal(t, "not-started", status(second.ID))

	require.NoError(t, srv.SetDeploymentBehaviour(contractOrg, contractProj, "web",
		emulator.DeploymentBehaviour{Outcome: emulator.OutcomeFailed}))
	_, err = srv.FinishDeployment(first.ID)
	require.NoError(t, err)
	assert.Equal(t, "failed", status(first.ID))
	srv.WaitFor(t, "the second deployment to run", func() bool { return status(second.ID) == "running" })

	require.NoError(t, srv.SetDeploymentBehaviour(contractOrg, contractProj, "web", emulator.DeploymentBehaviour{}))
	_, err = srv.FinishDeployment(second.ID)
	require.NoError(t, err)
	srv.WaitIdle(t)
	assert.Equal(t, "succeeded", status(second.ID))
	stack, err := client.GetStack(ctx, contractOrg, contractProj, "web")
	require.NoError(t, err)
	assert.Equal(t, 1, stack.Version, "only the successful update wrote a version")
}
