package provider

// Reading back which edges a resource owns, for refresh and import.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// ownedEdges reads which of source's edges owner owns, for refresh and import, and says
// why each edge in state that is no longer in place dropped out. Edges in place whose
// target stack has been deleted are kept, with a warning: they can only fail.
func (e *edgeEngine) ownedEdges(
	ctx context.Context, client Client, owner string, source stackKey, inState []string,
	formOf func(ref string) edgeForm,
) (refs []string, exists bool, err error) {
	// Through the run's cache, which a refresh fills as it goes: each stack is read once,
	// here or by the loop walk of another resource, whichever comes first, and a provider
	// process serves one command, so what it read is as fresh as the refresh.
	listed, err := e.graph.webhooksOf(ctx, client, source)
	if err != nil || !listed.exists {
		return nil, false, err
	}
	hooks := listed.hooks
	byName := map[string]cloud.Webhook{}
	var live []string
	for _, h := range hooks {
		byName[h.Name] = h
		ref := deployTarget(h)
		if isEdge(h) && (isDesiredEdge(h, ref, owner, formOf(ref)) ||
			slices.Contains(inState, ref) && isLegacyEdge(h, ref, formOf(ref))) {
			live = append(live, ref)
		}
	}
	log := p.GetLogger(ctx)
	for _, ref := range inState {
		if !slices.Contains(live, ref) {
			log.Warningf("the deployment webhook %s → %s is no longer in place: %s; the next `pulumi up` "+
				"creates it again", source, ref, whyNotInPlace(byName, ref, owner, formOf(ref)))
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
	e.warnDoubled(ctx, source, hooks, refs)
	return refs, true, nil
}

// warnDoubled warns about each of refs that more than one webhook of source deploys after
// an update, whoever made them: the target deploys once per webhook.
func (e *edgeEngine) warnDoubled(ctx context.Context, source stackKey, hooks []cloud.Webhook, refs []string) {
	for _, ref := range refs {
		var makers []string
		for _, h := range hooks {
			if deployTarget(h) == ref && firesOnUpdate(h) {
				makers = append(makers, fmt.Sprintf("%s (%s)", h.Name, madeBy(h)))
			}
		}
		if len(makers) > 1 && e.graph.firstTime("doubled\x00"+source.String()+"\x00"+ref) {
			p.GetLogger(ctx).Warningf("%s deploys %s %d times after each update, once per webhook: %s; remove all "+
				"but one", source, ref, len(makers), strings.Join(makers, ", "))
		}
	}
}

// warnLoops warns about each of edges that is part of a deployment loop in Pulumi Cloud,
// whoever made the rest of it, with the loop's path: an update of any stack on it would
// redeploy the stacks on it forever. It reads what is below the edges' targets that the
// run has not read yet (a refresh runs it after reading the edges' sources).
func (e *edgeEngine) warnLoops(ctx context.Context, client Client, edges []stackEdge) error {
	if len(edges) == 0 {
		return nil
	}
	// One walk from every target at once: a walk per source would cross the same stacks
	// again for each (at 2,000 sources, seconds of CPU for nothing).
	if err := e.graph.warm(ctx, client, edges[0].source, targetsOf(edges)); err != nil {
		return err
	}
	graph := e.graph.visible(edges[0].source.org)
	component := stronglyConnected(graph)
	for _, x := range edges {
		from := x.source.ref()
		if c, ok := component[from]; !ok || c != component[x.ref] {
			continue
		}
		loop := append([]string{from}, pathBetween(graph, []string{x.ref}, from)...)
		if e.graph.firstTime("loop\x00" + loopKey(loop)) {
			p.GetLogger(ctx).Warningf("deployment cycle in Pulumi Cloud: %s: every update of a stack on it "+
				"redeploys the stacks on it forever; remove one of its edges", arrowPath(loop))
		}
	}
	return nil
}

// loopKey is the same for a loop whichever stack it is written from.
func loopKey(loop []string) string {
	nodes := slices.Clone(loop[:len(loop)-1])
	slices.Sort(nodes)
	return strings.Join(nodes, "\x00")
}

// madeBy says who made a webhook: the owner an edge records, a Webhook resource, or its
// display name.
func madeBy(h cloud.Webhook) string {
	switch {
	case isEdge(h) && ownerOf(h) != "":
		return "owner: " + ownerOf(h)
	case isWebhookResourceName(h.Name):
		return fmt.Sprintf("a Webhook resource, display name %q", h.DisplayName)
	default:
		return fmt.Sprintf("display name %q", h.DisplayName)
	}
}

// isLegacyEdge reports whether h is the edge to ref as written before owners were
// recorded: the display name "auto-deploy: <ref>" without the owner, all else as now. A
// resource whose state holds the edge keeps it on refresh; it records no owner until the
// edge is next written.
func isLegacyEdge(h cloud.Webhook, ref string, form edgeForm) bool {
	legacy := h
	legacy.DisplayName = desiredEdgeWebhook(ref, "", form).DisplayName
	return h.DisplayName == legacyEdgeDisplayName(ref) && isDesiredEdge(legacy, ref, "", form)
}

func legacyEdgeDisplayName(ref string) string { return "auto-deploy: " + ref }

// whyNotInPlace says what became of an edge's webhook, for refresh's drift warning.
func whyNotInPlace(byName map[string]cloud.Webhook, ref, owner string, form edgeForm) string {
	active := form.active
	h, ok := byName[edge.Name(ref)]
	want := desiredEdgeWebhook(ref, owner, form)
	switch {
	case !ok:
		return "it was deleted"
	case isPending(h) && ownerOf(h) == owner:
		return "a `pulumi up` was interrupted while it was written, leaving it pending (inactive)"
	case ownerOf(h) != owner:
		if other := ownerOf(h); other != "" {
			return "it is owned by " + other + " now"
		}
		return fmt.Sprintf("its display name was changed to %q", h.DisplayName)
	case h.Active != active && active:
		return "it was deactivated"
	case h.Active != active:
		return "it was activated while this resource is paused"
	case h.PayloadURL != want.PayloadURL || h.Format != want.Format:
		return fmt.Sprintf("it was changed to deliver to %q with format %q, where this resource writes %q with "+
			"format %q", h.PayloadURL, h.Format, want.PayloadURL, want.Format)
	case !sameSet(h.Filters, want.Filters) || len(h.Groups) > 0:
		return fmt.Sprintf("its filters were changed to %v and groups to %v, where it fires on update_succeeded "+
			"only", h.Filters, h.Groups)
	case h.HasSecret != (form.relay != nil):
		return "its secret was removed, so the relay refuses its deliveries"
	default:
		return "it was changed"
	}
}
