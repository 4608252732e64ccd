package provider

// Reading back which edges a resource owns, for refresh and import.

import (
	"context"
	"fmt"
	"slices"

	p "github.com/pulumi/pulumi-go-provider"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// ownedEdges reads which of source's edges owner owns, for refresh and import, and says
// why each edge in state that is no longer in place dropped out. Edges in place whose
// target stack has been deleted are kept, with a warning: they can only fail.
func (e *edgeEngine) ownedEdges(
	ctx context.Context, client Client, owner string, source stackKey, inState []string, active bool,
) (refs []string, exists bool, err error) {
	listed, err := listWebhooks(ctx, client, source)
	if err != nil || !listed.exists {
		return nil, false, err
	}
	hooks := listed.hooks
	byName := map[string]cloud.Webhook{}
	var live []string
	for _, h := range hooks {
		byName[h.Name] = h
		ref := h.PayloadURL
		if isEdgeWebhook(h) && (isDesiredEdge(h, ref, owner, active) ||
			slices.Contains(inState, ref) && isLegacyEdge(h, ref, active)) {
			live = append(live, ref)
		}
	}
	log := p.GetLogger(ctx)
	for _, ref := range inState {
		if !slices.Contains(live, ref) {
			log.Warningf("the deployment webhook %s → %s is no longer in place: %s; the next `pulumi up` "+
				"creates it again", source, ref, whyNotInPlace(byName, ref, owner, active))
		}
	}
	// Keep the prior order for refs still there, then any owned webhook state did not know
	// (one whose create answer was lost), so the next up deletes it if unwanted.
	for _, ref := range inState {
		if slices.Contains(live, ref) {
			refs = append(refs, ref)
		}
	}
	slices.Sort(live)
	for _, ref := range live {
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	for _, ref := range refs {
		if ok, err := e.graph.stackExists(ctx, client, source.at(ref)); err != nil {
			return nil, false, err
		} else if !ok {
			log.Warningf("the deployment webhook %s → %s points at a stack that no longer exists: every update "+
				"of %s records a failed delivery; remove %q from this resource, or create the stack again",
				source, ref, source.ref(), ref)
		}
	}
	return refs, true, nil
}

// isLegacyEdge reports whether h is the edge to ref as written before owners were
// recorded: the display name "auto-deploy: <ref>" without the owner, all else as now. A
// resource whose state holds the edge keeps it on refresh; it records no owner until the
// edge is next written.
func isLegacyEdge(h cloud.Webhook, ref string, active bool) bool {
	legacy := h
	legacy.DisplayName = desiredEdgeWebhook(ref, "", active).DisplayName
	return h.DisplayName == legacyEdgeDisplayName(ref) && isDesiredEdge(legacy, ref, "", active)
}

func legacyEdgeDisplayName(ref string) string { return "auto-deploy: " + ref }

// whyNotInPlace says what became of an edge's webhook, for refresh's drift warning.
func whyNotInPlace(byName map[string]cloud.Webhook, ref, owner string, active bool) string {
	h, ok := byName[edgeWebhookName(ref)]
	want := desiredEdgeWebhook(ref, owner, active)
	switch {
	case !ok:
		return "it was deleted"
	case ownerOf(h) != owner:
		if other := ownerOf(h); other != "" {
			return "it is owned by " + other + " now"
		}
		return fmt.Sprintf("its display name was changed to %q", h.DisplayName)
	case h.Active != active && active:
		return "it was deactivated"
	case h.Active != active:
		return "it was activated while this resource is paused"
	case h.PayloadURL != ref || h.Format != want.Format:
		return fmt.Sprintf("it was changed to deploy %q with format %q", h.PayloadURL, h.Format)
	case !sameSet(h.Filters, want.Filters) || len(h.Groups) > 0:
		return fmt.Sprintf("its filters were changed to %v and groups to %v, where it fires on update_succeeded "+
			"only", h.Filters, h.Groups)
	default:
		return "it was changed"
	}
}
