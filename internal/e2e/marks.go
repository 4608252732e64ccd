//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// WithoutMarks drops the in-edge marks (edge.Mark) the provider writes on each edge's target
// from webhooks read from the emulator: what a test counts is edges and the webhooks users
// made. Tests that a destroy leaves nothing behind look at every webhook, marks included.
func WithoutMarks(hooks []emulator.Webhook) []emulator.Webhook {
	var out []emulator.Webhook
	for _, h := range hooks {
		if _, ok := MarkSource(h); !ok {
			out = append(out, h)
		}
	}
	return out
}

// EdgeWebhooks is c's webhooks but the marks.
func EdgeWebhooks(c *Cloud) []emulator.Webhook { return WithoutMarks(c.Webhooks()) }

// requireMarked checks that c's marks are exactly one per edge of got ("project/stack →
// project/stack"), on its target, naming its source.
func requireMarked(t testing.TB, c *Cloud, got map[string]bool) {
	t.Helper()
	marks := map[string]bool{}
	for _, h := range c.Webhooks() {
		if source, ok := MarkSource(h); ok {
			e := source + " → " + h.Project + "/" + h.Stack
			require.False(t, marks[e], "edge %s marked twice", e)
			marks[e] = true
		}
	}
	require.Equal(t, len(got), len(marks), "one mark per edge")
	for e := range got {
		require.True(t, marks[e], "edge %s is marked on its target", e)
	}
}

// MarkSource reads h as a mark, and returns the source of the edge it marks.
func MarkSource(h emulator.Webhook) (string, bool) {
	return edge.ParseMark(cloud.Webhook{Name: h.Name, PayloadURL: h.PayloadURL, Active: h.Active})
}
