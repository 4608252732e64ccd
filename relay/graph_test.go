package relay

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

func TestEdgeNameAndPayloadURLFollowTheContract(t *testing.T) {
	t.Parallel()
	// printf 'infra/prod' | sha256sum | cut -c1-16
	assert.Equal(t, "autodeploy-da8747bbaad1892b", EdgeName("infra/prod"))
	assert.Equal(t, "https://relay.example.com/v1/hooks?target=infra%2Fprod",
		EdgePayloadURL("https://relay.example.com/", "infra/prod"))
}

func TestEdgeTarget(t *testing.T) {
	t.Parallel()
	good := cloud.Webhook{
		Name: EdgeName("infra/prod"), Active: true, Format: "raw",
		PayloadURL: "https://relay.example.com/v1/hooks?target=infra%2Fprod",
		Filters:    []string{"update_succeeded"},
	}
	with := func(mod func(*cloud.Webhook)) cloud.Webhook {
		h := good
		mod(&h)
		return h
	}
	tests := []struct {
		name   string
		hook   cloud.Webhook
		target string
	}{
		{name: "the contract's webhook", hook: good, target: "infra/prod"},
		{name: "any relay host, behind a path prefix", target: "infra/prod", hook: with(func(h *cloud.Webhook) {
			h.PayloadURL = "http://10.0.0.5:8080/relay/v1/hooks?target=infra/prod"
		})},
		{name: "inactive", hook: with(func(h *cloud.Webhook) { h.Active = false })},
		{name: "a pulumi_deployments edge", hook: with(func(h *cloud.Webhook) {
			h.Format, h.PayloadURL = "pulumi_deployments", "infra/prod"
		})},
		{name: "slack", hook: with(func(h *cloud.Webhook) { h.Format = "slack" })},
		{name: "named after another target", hook: with(func(h *cloud.Webhook) { h.Name = EdgeName("infra/dev") })},
		{name: "another route", hook: with(func(h *cloud.Webhook) {
			h.PayloadURL = "https://relay.example.com/v1/other?target=infra%2Fprod"
		})},
		{name: "no target", hook: with(func(h *cloud.Webhook) { h.PayloadURL = "https://relay.example.com/v1/hooks" })},
		{name: "an invalid target", hook: with(func(h *cloud.Webhook) {
			h.PayloadURL, h.Name = "https://relay.example.com/v1/hooks?target=a/b/c", EdgeName("a/b/c")
		})},
	}
	for _, tt := range tests {
		target, ok := edgeTarget(tt.hook)
		assert.Equal(t, tt.target, target, tt.name)
		assert.Equal(t, tt.target != "", ok, tt.name)
	}
}

type listErrCloud struct {
	*fakeCloud
	err error
}

func (c listErrCloud) ListWebhooks(context.Context, cloud.WebhookScope) ([]cloud.Webhook, error) {
	return nil, c.err
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b", "p/c")
	fc.edge("p/root", "p/b")
	fc.edge("p/root", "p/a")
	fc.edge("p/root", "p/a") // listed twice: one edge
	fc.edge("p/a", "p/c")
	fc.edge("p/b", "p/c")
	fc.edge("p/c", "p/gone") // a dangling edge to a deleted stack
	fc.stacks["p/root"].hooks = append(fc.stacks["p/root"].hooks, cloud.Webhook{
		Name: "notify", Active: true, Format: "slack", PayloadURL: "https://hooks.slack.com/x",
	})
	g, err := discover(t.Context(), fc, "acme", "p/root")
	require.NoError(t, err)
	assert.Equal(t, []string{"p/root", "p/b", "p/a", "p/c", "p/gone"}, g.order, "breadth first, in listing order")
	assert.Equal(t, map[string][]string{"p/b": {"p/root"}, "p/a": {"p/root"}, "p/c": {"p/b", "p/a"},
		"p/gone": {"p/c"}}, g.parents)

	_, err = discover(t.Context(), listErrCloud{fc, errors.New("boom")}, "acme", "p/root")
	require.EqualError(t, err, "listing the webhooks of acme/p/root: boom")
}

func TestOutputsComparerReadsEachVersionOnce(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud("acme", "p/root")
	fc.update("p/root", map[string]any{"k": secretOf{"s"}, "n": 1})        // 2
	fc.update("p/root", map[string]any{"k": secretOf{"s"}, "n": 1})        // 3
	fc.update("p/root", map[string]any{"k": secretOf{"t"}, "n": 1})        // 4
	fc.update("p/root", map[string]any{"k": []any{secretOf{"t"}}, "n": 1}) // 5
	counting := &countingCloud{fakeCloud: fc}
	cmp := newOutputsComparer(counting, "acme")
	for _, tt := range []struct {
		from, to int
		changed  bool
	}{{2, 3, false}, {3, 4, true}, {2, 4, true}, {4, 5, true}} {
		changed, err := cmp.changed(t.Context(), "p/root", tt.from, tt.to)
		require.NoError(t, err)
		assert.Equal(t, tt.changed, changed, "%d to %d", tt.from, tt.to)
	}
	assert.Equal(t, 4, counting.exports, "each version exported once")
	_, err := cmp.changed(t.Context(), "p/root", 2, 99)
	require.ErrorContains(t, err, "reading the outputs of version 99: ")
	require.ErrorContains(t, err, "version 99 not found")
}

type countingCloud struct {
	*fakeCloud
	exports int
}

func (c *countingCloud) StackOutputs(ctx context.Context, org, project, stack string, version int) (map[string]any, error) {
	c.exports++
	return c.fakeCloud.StackOutputs(ctx, org, project, stack, version)
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
