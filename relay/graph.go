package relay

import (
	"context"
	"fmt"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// The relay learns the graph from the webhooks in Pulumi Cloud, under the contract of package edge: an
// edge u → d is a relay webhook on stack u, named after d, that delivers u's successful updates. So the
// relay needs no configuration per graph, always works on the graph that delivers its events, and
// follows edges made by hand or by another program as well as the provider's.

// HooksPath is the route a relay receives deliveries on (edge.HooksPath).
const HooksPath = edge.HooksPath

// readEdges lists a stack's webhooks and returns its relay edges that deliver: target → alwaysDeploy.
func readEdges(ctx context.Context, c Cloud, org, ref string) (map[string]bool, error) {
	project, name := splitRef(ref)
	hooks, err := c.ListWebhooks(ctx, cloud.WebhookScope{Organization: org, Project: project, Stack: name})
	if err != nil {
		return nil, fmt.Errorf("listing the webhooks of %s/%s: %w", org, ref, err)
	}
	out := map[string]bool{}
	for _, h := range hooks {
		if e, ok := edge.Parse(h); ok && e.Relayed && e.Delivers {
			out[e.Target] = out[e.Target] || e.AlwaysDeploy
		}
	}
	return out, nil
}

// splitRef splits a ref known to be valid.
func splitRef(ref string) (project, stack string) {
	project, stack, _ = strings.Cut(ref, "/")
	return project, stack
}

// listEdges is readEdges for the runner's organization, for callEach.
func (rn *runner) listEdges(ctx context.Context) func(ref string) (map[string]bool, error) {
	return func(ref string) (map[string]bool, error) { return readEdges(ctx, rn.r.cloud, rn.o.name, ref) }
}
