package relay

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// readEdges keeps the relay edges that deliver, whatever else a stack's webhooks are; what is and is
// not an edge is package edge's table test.
func TestReadEdges(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b", "c", "d")
	client, err := cloud.New(nil, emu.URL, emu.Token)
	require.NoError(t, err)
	scope := cloud.WebhookScope{Organization: testOrg, Project: "p", Stack: "root"}
	relayForm := edge.Form{RelayURL: "https://relay.example.com"}
	for _, h := range []cloud.Webhook{
		edge.Desired("p/a", relayForm, true),
		edge.Desired("p/b", edge.Form{RelayURL: "https://relay.example.com", AlwaysDeploy: true}, true),
		edge.Desired("p/c", relayForm, false),  // paused
		edge.Desired("p/d", edge.Form{}, true), // pulumi_deployments: Pulumi Cloud deploys it, not the relay
		{Name: "slack", DisplayName: "slack", PayloadURL: "https://hooks.slack.com/x", Format: "slack", Active: true},
	} {
		h.DisplayName = "hook"
		_, err := client.CreateWebhook(t.Context(), scope, h)
		require.NoError(t, err)
	}
	got, err := readEdges(t.Context(), NewCloud(client), testOrg, "p/root")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"p/a": false, "p/b": true}, got)

	_, err = readEdges(t.Context(), NewCloud(client), testOrg, "p/none")
	assert.ErrorIs(t, err, cloud.ErrNotFound)
	assert.ErrorContains(t, err, "listing the webhooks of acme/p/none: ")
}

type countingCloud struct {
	Cloud
	exports atomic.Int32
}

func (c *countingCloud) StackOutputs(ctx context.Context, org, project, stack string, version int) (map[string]any, error) {
	c.exports.Add(1)
	return c.Cloud.StackOutputs(ctx, org, project, stack, version)
}

// Secret outputs are compared by value: the same value encrypted anew is no change, and each version is
// read once however often it is compared.
func TestOutputsComparerReadsEachVersionOnce(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root")
	for _, out := range []emulator.StackOutputs{
		{Plain: map[string]any{"n": 1}, Secret: map[string]any{"k": "s"}}, // 1
		{Plain: map[string]any{"n": 1}, Secret: map[string]any{"k": "s"}}, // 2
		{Plain: map[string]any{"n": 1}, Secret: map[string]any{"k": "t"}}, // 3
		{Plain: map[string]any{"n": 1, "k": "t"}},                         // 4: no longer secret
	} {
		_, err := emu.FireUpdateWithOutputs(testOrg, "p", "root", &out)
		require.NoError(t, err)
	}
	client, err := cloud.New(nil, emu.URL, emu.Token)
	require.NoError(t, err)
	counting := &countingCloud{Cloud: NewCloud(client)}
	cmp := newOutputsComparer(counting, testOrg)
	for _, tt := range []struct {
		from, to int
		changed  bool
	}{{1, 2, false}, {2, 3, true}, {1, 3, true}, {3, 4, true}} {
		changed, err := cmp.changed(t.Context(), "p/root", tt.from, tt.to)
		require.NoError(t, err)
		assert.Equal(t, tt.changed, changed, "%d to %d", tt.from, tt.to)
	}
	assert.EqualValues(t, 4, counting.exports.Load(), "each version exported once")
	_, err = cmp.changed(t.Context(), "p/root", 1, 99)
	var cmpErr *compareError
	require.ErrorAs(t, err, &cmpErr)
	assert.Equal(t, "p/root", cmpErr.parent)
	assert.ErrorContains(t, err, "the outputs of p/root: reading the outputs of version 99: ")
	assert.False(t, transient(err), "a version that does not exist is an answer, not an outage")
}

func TestMarkSecrets(t *testing.T) {
	t.Parallel()
	const sigKey, sig = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
	in := map[string]any{
		"plain": "x",
		"pw":    map[string]any{sigKey: sig, "ciphertext": "Y3Q="},
		"list":  []any{map[string]any{sigKey: sig, "ciphertext": "Y3Qy"}, "y"},
	}
	out := markSecrets(in)
	assert.Equal(t, map[string]any{
		"plain": "x", "pw": Secret{Ciphertext: "Y3Q="}, "list": []any{Secret{Ciphertext: "Y3Qy"}, "y"},
	}, out)
	assert.ElementsMatch(t, []string{"Y3Q=", "Y3Qy"}, ciphertexts(out, nil))
}
