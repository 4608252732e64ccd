//go:build e2e

package examples

import (
	"strings"

	cloudapi "github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// withoutMarks drops the in-edge marks (edge.Mark) from the emulator's webhooks: what a test
// counts is edges and the webhooks users made. Tests that a destroy leaves nothing behind
// look at every webhook, marks included.
func withoutMarks(hooks []emulator.Webhook) []emulator.Webhook {
	var out []emulator.Webhook
	for _, h := range hooks {
		if _, ok := edge.ParseMark(cloudapi.Webhook{Name: h.Name, PayloadURL: h.PayloadURL, Active: h.Active}); !ok {
			out = append(out, h)
		}
	}
	return out
}

// markedEdges lists the emulator's in-edge marks as edgeOwners keys them, "source → project/target",
// the source's project left out as edgeOwners leaves it.
func markedEdges(c *cloud) []string {
	var out []string
	for _, h := range c.Webhooks() {
		if source, ok := edge.ParseMark(cloudapi.Webhook{Name: h.Name, PayloadURL: h.PayloadURL, Active: h.Active}); ok {
			_, stack, _ := strings.Cut(source, "/")
			out = append(out, stack+" → "+h.Project+"/"+h.Stack)
		}
	}
	return out
}
