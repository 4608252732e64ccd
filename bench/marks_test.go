//go:build e2e

package bench

import (
	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// withoutMarks drops the in-edge marks (edge.Mark) from the emulator's webhooks: what a test
// counts is edges and the webhooks users made. Tests that a destroy leaves nothing behind
// look at every webhook, marks included.
func withoutMarks(hooks []emulator.Webhook) []emulator.Webhook {
	var out []emulator.Webhook
	for _, h := range hooks {
		if _, ok := edge.ParseMark(cloud.Webhook{Name: h.Name, PayloadURL: h.PayloadURL, Active: h.Active}); !ok {
			out = append(out, h)
		}
	}
	return out
}
