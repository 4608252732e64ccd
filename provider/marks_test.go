package provider

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// markSource reads an emulator's webhook as a mark (edge.ParseMark).
func markSource(h emulator.Webhook) (string, bool) {
	return edge.ParseMark(cloud.Webhook{Name: h.Name, PayloadURL: h.PayloadURL, Active: h.Active})
}

// withoutMarks drops the in-edge marks (edge.Mark) from the emulator's webhooks: what a test
// counts is edges and the webhooks users made. Tests that a destroy leaves nothing behind
// look at every webhook, marks included.
func withoutMarks(hooks []emulator.Webhook) []emulator.Webhook {
	var out []emulator.Webhook
	for _, h := range hooks {
		if _, ok := markSource(h); !ok {
			out = append(out, h)
		}
	}
	return out
}

// markEdges lists the emulator's in-edge marks as "target ← source" (project/stack both).
func markEdges(tc *testCloud) []string {
	var out []string
	for _, h := range tc.cloud.Webhooks() {
		if source, ok := markSource(h); ok {
			out = append(out, h.Project+"/"+h.Stack+" ← "+source)
		}
	}
	return out
}

// assertMarkedBy asserts that the emulator's marks are exactly want ("target ← source"), each
// owner's.
func assertMarkedBy(t *testing.T, tc *testCloud, owner string, want ...string) {
	t.Helper()
	assert.ElementsMatch(t, want, markEdges(tc))
	for _, h := range tc.cloud.Webhooks() {
		if source, ok := markSource(h); ok {
			assert.Equal(t, edge.MarkName(source, owner), h.Name, "the mark of %s on %s/%s is %s's", source,
				h.Project, h.Stack, owner)
		}
	}
}
