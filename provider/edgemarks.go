package provider

// In-edge marks (edge.Mark): each new edge is marked on its target before its writer reads
// the graph back to judge it, so that the read back can search from both ends of a new
// edge and stop at the one that ends first (readFresh). Marks are the owner's own and
// deliver nothing; removing an edge removes its mark after it.

import (
	"context"
	"errors"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// markEdge writes owner's mark of x on x's target; one there already (an earlier attempt of
// this owner) is kept, and repaired if it was changed by hand.
func markEdge(ctx context.Context, client Client, owner string, x stackEdge) error {
	want := edge.Mark(x.source.ref(), owner)
	target := x.source.at(x.ref).scope()
	outcome, live, err := client.CreateWebhookOnce(ctx, target, want)
	if errors.Is(err, cloud.ErrNotFound) {
		// No such stack (a Webhook resource may point anywhere): it has no edges out, so no
		// path leads from it back up, and the edge deploys nothing until it exists.
		return nil
	}
	if err != nil {
		return err
	}
	if source, ok := edge.ParseMark(live); outcome == cloud.Occupied && (!ok || source != x.source.ref()) {
		_, err = client.UpdateWebhook(ctx, target, want.Name, want)
	}
	return err
}

// isMark reports whether h is an in-edge mark: bookkeeping, no webhook of the graph's.
func isMark(h cloud.Webhook) bool {
	_, ok := edge.ParseMark(h)
	return ok
}

// unmarkEdge deletes owner's mark of x, once x's webhook is gone. A mark that cannot be
// deleted is left: a mark without its edge only makes a loop check read more.
func unmarkEdge(ctx context.Context, client Client, owner string, x stackEdge) {
	_ = client.DeleteWebhook(ctx, x.source.at(x.ref).scope(), edge.MarkName(x.source.ref(), owner))
}
