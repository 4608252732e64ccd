package provider

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/autodeploy-dev/pulumi-auto-deploy/provider/cloud"
)

// maxParallelRequests bounds the requests one resource has in flight, so a stack with
// many downstream refs is fast without tripping Pulumi Cloud's rate limits.
const maxParallelRequests = 8

// edgeEngine plans and writes deployment edges for every resource that owns them: it
// checks new edges before the first write (in preview too), writes only what changed,
// and deletes only webhooks its resource owns. One is built per provider and shared, so
// that all resources of a run see each other's planned edges.
type edgeEngine struct {
	clients *clientSource
	graph   *deployGraph
}

// edgeOwner is the resource that declares an edge. Its URN is recorded in the display
// name of every webhook an AutoDeployer creates, so ownership lives in Pulumi Cloud and
// survives state being lost, a second program, or a refresh.
type edgeOwner struct {
	urn string
	// webhook is, for a Webhook resource, its own webhook's name: not a duplicate of itself.
	webhook string
}

// Edge webhooks are named after their target, so a create whose answer was lost can be
// found again, and at most one auto-deploy edge can exist per source and target: a second
// declaration meets the first under the same name.
func edgeWebhookName(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "autodeploy-" + hex.EncodeToString(sum[:8])
}

func isEdgeWebhook(h cloud.Webhook) bool { return h.Name == edgeWebhookName(h.PayloadURL) }

// ownerMarker separates the readable part of an edge webhook's display name from its owner.
const ownerMarker = " (owner: "

func edgeDisplayName(ref, owner string) string {
	return "auto-deploy: " + ref + ownerMarker + owner + ")"
}

// ownerOf returns the owner recorded in an edge webhook's display name, or "" when none is
// (a webhook made before ownership was recorded, or renamed by hand).
func ownerOf(h cloud.Webhook) string {
	i := strings.LastIndex(h.DisplayName, ownerMarker)
	if i < 0 || !strings.HasSuffix(h.DisplayName, ")") {
		return ""
	}
	return h.DisplayName[i+len(ownerMarker) : len(h.DisplayName)-1]
}

func desiredEdgeWebhook(ref, owner string) cloud.Webhook {
	return cloud.Webhook{
		Name:        edgeWebhookName(ref),
		DisplayName: edgeDisplayName(ref, owner),
		PayloadURL:  ref,
		Active:      true,
		Format:      string(WebhookFormatPulumiDeployments),
		Filters:     []string{"update_succeeded"},
	}
}

func isDesiredEdge(h cloud.Webhook, ref, owner string) bool {
	want := desiredEdgeWebhook(ref, owner)
	return h.Name == want.Name && h.PayloadURL == ref && h.Active && h.Format == want.Format &&
		h.DisplayName == want.DisplayName && sameSet(h.Filters, want.Filters) && len(h.Groups) == 0
}

// reconcile moves owner's edges from source to the refs in have to those in want and
// returns the refs now in place, in want's order. New edges are checked first (also in
// preview, where nothing is written). Failed edges leave the rest in place and come back
// as infer.ResourceInitFailedError, so the engine keeps the partial state.
func (e *edgeEngine) reconcile(
	ctx context.Context, owner string, source stackKey, want, have []string, dryRun bool,
) ([]string, error) {
	// In preview a ref still unknown decodes as ""; it is checked once it is known.
	add := slices.DeleteFunc(without(want, have), func(ref string) bool { return ref == "" })
	remove := without(have, want)
	if len(add) == 0 && len(remove) == 0 {
		return want, nil
	}
	client, err := e.clients.get(ctx)
	if err != nil {
		return nil, err
	}
	if len(add) > 0 {
		if err := e.checkAdds(ctx, client, edgeOwner{urn: owner}, source, add, "downstreamRefs", true); err != nil {
			return nil, err
		}
	}
	if dryRun {
		return want, nil
	}

	failures := make([]error, len(add)+len(remove))
	forEach(len(failures), func(i int) {
		if i < len(add) {
			failures[i] = e.ensureEdge(ctx, client, owner, source, add[i])
		} else {
			failures[i] = e.removeEdge(ctx, client, owner, source, remove[i-len(add)])
		}
	})

	var reasons []string
	var failedAdds, removed []string
	refs := slices.Clone(have)
	for i, err := range failures {
		switch {
		case err != nil:
			reasons = append(reasons, err.Error())
			if i < len(add) {
				failedAdds = append(failedAdds, add[i])
			}
		case i < len(add):
			refs = append(refs, add[i])
		default:
			removed = append(removed, remove[i-len(add)])
		}
	}
	e.graph.unplan(source, owner, failedAdds)
	refs = ordered(without(refs, removed), want)
	if len(reasons) > 0 {
		return refs, infer.ResourceInitFailedError{Reasons: reasons}
	}
	return refs, nil
}

// checkAdds refuses, before anything is written, new edges source → refs that would
// loop, duplicate an edge of another auto-deploy resource, or (with checkTargets) point
// at a stack that cannot be deployed, and warns about duplicates made by hand. The edges
// that pass are recorded as planned, so the rest of this run sees them.
func (e *edgeEngine) checkAdds(
	ctx context.Context, client Client, owner edgeOwner, source stackKey, refs []string, field string,
	checkTargets bool,
) error {
	// All of these only read, so they run together: the targets, the source's webhooks,
	// and the graph below the targets that the cycle walk follows.
	known := source.org != "" && source.project != "" && source.stack != ""
	var wg sync.WaitGroup
	var sourceErr, warmErr error
	var listed stackHooks
	if known {
		wg.Go(func() { listed, sourceErr = e.graph.webhooksOf(ctx, client, source) })
		wg.Go(func() { warmErr = e.graph.warm(ctx, client, source, refs) })
	}
	var targetErrs []error
	if checkTargets {
		targetErrs = make([]error, len(refs))
		forEach(len(refs), func(i int) { targetErrs[i] = e.graph.checkTarget(ctx, client, source.at(refs[i])) })
	}
	wg.Wait()
	// A bad target is the most useful thing to report; the rest often fail the same way.
	if err := cmp.Or(errors.Join(targetErrs...), sourceErr, warmErr); err != nil {
		return err
	}
	if !known {
		return nil // a preview with the stack still unknown: the rest is checked once it is known
	}
	if !listed.exists {
		return fmt.Errorf("stack %s does not exist in Pulumi Cloud, so no webhook can be added to it: create it "+
			"(`pulumi stack init %s`) or correct the organization, project and stack", source, source)
	}

	e.graph.planning.Lock()
	defer e.graph.planning.Unlock()
	for _, ref := range refs {
		if err := e.checkDuplicate(ctx, owner, source, listed.hooks, ref, field); err != nil {
			return err
		}
		if path, err := e.graph.pathTo(ctx, client, source, ref); err != nil {
			return err
		} else if path != nil {
			return fmt.Errorf("%s: adding %q would create a deployment cycle %s: every update would redeploy "+
				"the stacks in it forever; remove one of these edges", field, ref, strings.Join(path, " → "))
		}
	}
	e.graph.plan(source, owner.urn, refs)
	return nil
}

// checkDuplicate refuses an edge that another auto-deploy resource declares or owns, and
// warns about a webhook made another way that already deploys the target on update.
func (e *edgeEngine) checkDuplicate(
	ctx context.Context, owner edgeOwner, source stackKey, hooks []cloud.Webhook, ref, field string,
) error {
	edge := fmt.Sprintf("%s → %s", source.ref(), ref)
	if other, ok := e.graph.plannedBy(source, ref); ok && other != owner.urn {
		return fmt.Errorf("%s: the edge %s is also declared by %s in this program; declare each edge once "+
			"(remove it from one of the two resources), or %s would deploy twice after every update of %s",
			field, edge, other, ref, source.ref())
	}
	for _, h := range hooks {
		if h.PayloadURL != ref || h.Name == owner.webhook || e.graph.isRemoved(source, h.Name) {
			continue
		}
		switch {
		case isEdgeWebhook(h):
			// Whoever owns it, active or not: a second owner would take it over.
			if other := ownerOf(h); other != "" && other != owner.urn {
				return fmt.Errorf("%s: the edge %s already exists in Pulumi Cloud and is owned by %s (webhook %q "+
					"on %s). If this resource was renamed from that one, add it to this resource's aliases "+
					"(aliases: [%q]) so the edge is kept; if both resources declare the edge, remove it from one "+
					"of them", field, edge, other, h.Name, source, other)
			}
		case !firesOnUpdate(h):
		case isWebhookResourceName(h.Name):
			return fmt.Errorf("%s: the edge %s is already made by an auto-deploy Webhook resource (webhook %q, "+
				"display name %q, on %s); declare each edge once, with an AutoDeployer or a Webhook, not both",
				field, edge, h.Name, h.DisplayName, source)
		default:
			if e.graph.firstTime(source.String() + "\x00" + h.Name) {
				p.GetLogger(ctx).Warningf("stack %s already has webhook %q (display name %q), not made by an "+
					"auto-deploy resource, that deploys %s after every successful update: %s will deploy twice "+
					"after each update of %s until that webhook is removed. When migrating from Pulumi's "+
					"auto-deploy package, its webhooks are deleted at the end of this update.",
					source, h.Name, h.DisplayName, ref, ref, source.ref())
			}
		}
	}
	return nil
}

// ensureEdge creates the edge's webhook under its deterministic name. Finding one there
// already means an earlier attempt of this owner landed (its answer lost, or the provider
// stopped): it is adopted, and repaired if it was changed since. One owned by another
// resource is never taken over.
func (e *edgeEngine) ensureEdge(ctx context.Context, client Client, owner string, source stackKey, ref string) error {
	want := desiredEdgeWebhook(ref, owner)
	outcome, live, err := client.CreateWebhookOnce(ctx, source.scope(), want)
	if err != nil {
		return describeCloudError(fmt.Sprintf("creating the deployment webhook %s → %s", source, ref), err)
	}
	switch other := ownerOf(live); {
	case other != "" && other != owner:
		return fmt.Errorf("creating the deployment webhook %s → %s: it was created meanwhile by %s, which owns "+
			"it now; declare the edge in one resource only", source, ref, other)
	case outcome == cloud.Occupied && other == owner:
		e.graph.markAdopted(source, ref, owner)
	}
	if isDesiredEdge(live, ref, owner) {
		return nil
	}
	if _, err := client.UpdateWebhook(ctx, source.scope(), want.Name, want); err != nil {
		return describeCloudError(fmt.Sprintf("repairing the deployment webhook %s → %s", source, ref), err)
	}
	return nil
}

// removeEdge deletes the edge's webhook if owner owns it; one already gone counts as
// removed, and one another resource owns now is left alone, with a warning.
func (e *edgeEngine) removeEdge(ctx context.Context, client Client, owner string, source stackKey, ref string) error {
	name := edgeWebhookName(ref)
	planner, planned := e.graph.plannedBy(source, ref)
	switch {
	case planned && planner != owner:
		return nil // another resource of this run holds the edge now
	case !planned:
		listed, err := e.graph.webhooksOf(ctx, client, source)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(listed.hooks, func(h cloud.Webhook) bool { return h.Name == name })
		if i < 0 {
			return nil // already gone
		}
		if other := ownerOf(listed.hooks[i]); other != "" && other != owner {
			p.GetLogger(ctx).Warningf("left the deployment webhook %s → %s in place: it is owned by %s now, "+
				"not by this resource", source, ref, other)
			return nil
		}
	}
	err := client.DeleteWebhook(ctx, source.scope(), name)
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return describeCloudError(fmt.Sprintf("deleting the deployment webhook %s → %s", source, ref), err)
	}
	e.graph.markRemoved(source, name)
	e.graph.unplan(source, owner, []string{ref})
	return nil
}

// heldBySuccessor returns the refs of have whose webhooks a create of the same owner
// adopted in this run. Only a replacement forced with `pulumi up --replace` does that:
// it creates the new resource (the same URN, and so the same owner) before it deletes
// the old one, so the new one finds the old one's webhooks under its own names. They are
// the new resource's now, and the old one's delete must leave them.
func (e *edgeEngine) heldBySuccessor(source stackKey, owner string, have []string) []string {
	var held []string
	for _, ref := range have {
		if e.graph.adoptedBy(source, ref) == owner {
			held = append(held, ref)
		}
	}
	return held
}

// ownedEdges reads which of source's edges owner owns, for refresh and import, and says
// why each edge in state that is no longer in place dropped out. Edges in place whose
// target stack has been deleted are kept, with a warning: they can only fail.
func (e *edgeEngine) ownedEdges(
	ctx context.Context, client Client, owner string, source stackKey, inState []string,
) (refs []string, exists bool, err error) {
	hooks, err := client.ListWebhooks(ctx, source.scope())
	if errors.Is(err, cloud.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, describeCloudError(fmt.Sprintf("listing webhooks of %s", source), err)
	}
	byName := map[string]cloud.Webhook{}
	var live []string
	for _, h := range hooks {
		byName[h.Name] = h
		if isEdgeWebhook(h) && isDesiredEdge(h, h.PayloadURL, owner) {
			live = append(live, h.PayloadURL)
		}
	}
	log := p.GetLogger(ctx)
	for _, ref := range inState {
		if !slices.Contains(live, ref) {
			log.Warningf("the deployment webhook %s → %s is no longer in place: %s; the next `pulumi up` "+
				"creates it again", source, ref, whyNotInPlace(byName, ref, owner))
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

// whyNotInPlace says what became of an edge's webhook, for refresh's drift warning.
func whyNotInPlace(byName map[string]cloud.Webhook, ref, owner string) string {
	h, ok := byName[edgeWebhookName(ref)]
	want := desiredEdgeWebhook(ref, owner)
	switch {
	case !ok:
		return "it was deleted"
	case ownerOf(h) != owner:
		if other := ownerOf(h); other != "" {
			return "it is owned by " + other + " now"
		}
		return fmt.Sprintf("its display name was changed to %q", h.DisplayName)
	case !h.Active:
		return "it was deactivated"
	case h.PayloadURL != ref || h.Format != want.Format:
		return fmt.Sprintf("it was changed to deploy %q with format %q", h.PayloadURL, h.Format)
	case !sameSet(h.Filters, want.Filters) || len(h.Groups) > 0:
		return fmt.Sprintf("its filters were changed to %v and groups to %v, where it fires on update_succeeded "+
			"only", h.Filters, h.Groups)
	default:
		return "it was changed"
	}
}

// without returns the elements of a not in b, in a's order.
func without(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// ordered returns refs sorted by their position in want, unknown ones last.
func ordered(refs, want []string) []string {
	out := slices.Clone(refs)
	slices.SortStableFunc(out, func(a, b string) int {
		ia, ib := slices.Index(want, a), slices.Index(want, b)
		if ia < 0 {
			ia = len(want)
		}
		if ib < 0 {
			ib = len(want)
		}
		return ia - ib
	})
	return out
}

// forEach runs fn for 0..n-1 with at most maxParallelRequests at once.
func forEach(n int, fn func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxParallelRequests)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			fn(i)
		}()
	}
	wg.Wait()
}

// setDiff names each element added to or removed from a list that is compared as a set:
// a removed one at its index in olds, an added one at its index in news, so preview shows
// `- "r/d"` rather than every later element shifting by one. Where a removed and an added
// element share an index, the two show as one change of that element.
func setDiff(key string, olds, news []string) map[string]p.PropertyDiff {
	diff := map[string]p.PropertyDiff{}
	for i, v := range olds {
		if !slices.Contains(news, v) {
			diff[fmt.Sprintf("%s[%d]", key, i)] = p.PropertyDiff{Kind: p.Delete, InputDiff: true}
		}
	}
	for i, v := range news {
		if slices.Contains(olds, v) {
			continue
		}
		path := fmt.Sprintf("%s[%d]", key, i)
		kind := p.Add
		if _, removed := diff[path]; removed {
			kind = p.Update
		}
		diff[path] = p.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return diff
}
