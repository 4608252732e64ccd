package provider

import (
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

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// maxParallelRequests and maxParallelReads bound the goroutines one fan-out of writes or
// of reads starts. What is in flight is bounded by the client, for the whole process
// (cloud.WithConcurrency): fan-outs nested in fan-outs (a graph walked level by level, each
// level in parallel) then wait for the same slots instead of multiplying them.
const (
	maxParallelRequests = cloud.DefaultMaxWrites
	maxParallelReads    = cloud.DefaultMaxReads
)

// edgeEngine plans and writes deployment edges for every resource that owns them: it
// checks new edges before the first write (in preview too), writes only what changed,
// and deletes only webhooks its resource owns. One is built per provider configuration
// (Config.Configure) and shared, so that all resources of a run see each other's planned
// edges and read each stack once.
type edgeEngine struct {
	clients *clientSource
	graph   *deployGraph
	plans   *planMemo
}

func newEdgeEngine(newClient ClientFactory) *edgeEngine {
	return &edgeEngine{clients: &clientSource{newClient: newClient}, graph: newDeployGraph(), plans: newPlanMemo()}
}

// client is the configuration's Pulumi Cloud client.
func (e *edgeEngine) client(ctx context.Context) (Client, error) { return e.clients.get(ctx) }

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

func desiredEdgeWebhook(ref, owner string, active bool) cloud.Webhook {
	return cloud.Webhook{
		Name:        edgeWebhookName(ref),
		DisplayName: edgeDisplayName(ref, owner),
		PayloadURL:  ref,
		Active:      active,
		Format:      string(WebhookFormatPulumiDeployments),
		Filters:     []string{"update_succeeded"},
	}
}

func isDesiredEdge(h cloud.Webhook, ref, owner string, active bool) bool {
	want := desiredEdgeWebhook(ref, owner, active)
	return h.Name == want.Name && h.PayloadURL == ref && h.Active == active && h.Format == want.Format &&
		h.DisplayName == want.DisplayName && sameSet(h.Filters, want.Filters) && len(h.Groups) == 0
}

// edge is one deployment edge: source redeploys ref after each successful update.
type edge struct {
	source stackKey
	ref    string
}

// edgeChange is what a resource asks of the engine: move owner's edges from have to want,
// with every edge in want active, or paused (inactive).
type edgeChange struct {
	owner      string
	want, have []edge
	// paused and wasPaused switch the webhooks between active and inactive: a change of
	// one costs a PATCH per kept edge, never a delete or create.
	paused, wasPaused bool
	// field names an edge's source in messages: "downstreamRefs", or edges["p/s"].
	field func(source stackKey) string
	// knownReads is what the resource already read of the stacks' references (project/stack
	// → the stacks it reads), so the preview's warning about an edge to a stack that reads
	// nothing of its upstream asks no more of them.
	knownReads map[string][]string
}

// apply moves owner's edges from have to want and returns the edges now in place. New
// edges are checked first (also in preview, where nothing is written). Requests run at
// most maxParallelRequests at once across all of the change. Failed edges leave the rest
// in place and come back as infer.ResourceInitFailedError, so the engine keeps the
// partial state.
func (e *edgeEngine) apply(ctx context.Context, c edgeChange, dryRun bool) ([]edge, error) {
	// In preview a ref still unknown decodes as ""; it is checked once it is known.
	add := slices.DeleteFunc(withoutEdges(c.want, c.have), func(x edge) bool { return x.ref == "" })
	remove := withoutEdges(c.have, c.want)
	var toggle []edge
	if c.paused != c.wasPaused {
		toggle = withoutEdges(c.have, remove)
	}
	if len(add) == 0 && len(remove) == 0 && len(toggle) == 0 {
		return c.want, nil
	}
	client, err := e.client(ctx)
	if err != nil {
		return nil, err
	}
	if len(add) > 0 {
		if err := e.checkAdds(ctx, client, edgeOwner{urn: c.owner}, add, c.field, true); err != nil {
			return nil, err
		}
		if dryRun {
			// At preview only: the warning is for the user deciding, and costs a read per target.
			e.warnUnreferenced(ctx, client, add, c.knownReads)
		}
	}
	if dryRun {
		return c.want, nil
	}

	// A removal first checks who owns the webhook, in its source's listing: read those
	// listings up front, as many at a time as reads may run, not one per write slot.
	var sources []stackKey
	seen := map[stackKey]bool{}
	for _, x := range remove {
		if !seen[x.source] {
			seen[x.source] = true
			sources = append(sources, x.source)
		}
	}
	forEachRead(len(sources), func(i int) { _, _ = e.graph.webhooksOf(ctx, client, sources[i]) })

	ops := slices.Concat(add, toggle, remove)
	failures := make([]error, len(ops))
	forEach(len(ops), func(i int) {
		switch {
		case i < len(add):
			failures[i] = e.ensureEdge(ctx, client, c.owner, ops[i], !c.paused)
		case i < len(add)+len(toggle):
			failures[i] = e.setActive(ctx, client, c.owner, ops[i], !c.paused)
		default:
			failures[i] = e.removeEdge(ctx, client, c.owner, ops[i])
		}
	})

	var reasons []string
	var failedAdds, removed []edge
	now := slices.Clone(c.have)
	for i, err := range failures {
		switch {
		case err != nil:
			reasons = append(reasons, err.Error())
			if i < len(add) {
				failedAdds = append(failedAdds, ops[i])
			}
		case i < len(add):
			now = append(now, ops[i])
		case i >= len(add)+len(toggle):
			removed = append(removed, ops[i])
		}
	}
	for _, x := range failedAdds {
		e.graph.unplan(x.source, c.owner, []string{x.ref})
	}
	now = orderedEdges(withoutEdges(now, removed), c.want)
	if len(reasons) > 0 {
		return now, infer.ResourceInitFailedError{Reasons: reasons}
	}
	return now, nil
}

// deleteAll removes owner's edges have, those already gone counting as removed, for a
// resource's Delete: it has no partial state to keep, so a failure is one error naming
// what failed.
func (e *edgeEngine) deleteAll(
	ctx context.Context, id, owner string, have []edge, paused bool, field func(stackKey) string,
) error {
	have = withoutEdges(have, e.heldBySuccessor(owner, have))
	_, err := e.apply(ctx, edgeChange{owner: owner, have: have, paused: paused, wasPaused: paused, field: field}, false)
	if failed := (infer.ResourceInitFailedError{}); errors.As(err, &failed) {
		return fmt.Errorf("deleting %s: %s", id, strings.Join(failed.Reasons, "; "))
	}
	return err
}

// ensureEdge creates the edge's webhook under its deterministic name. Finding one there
// already means an earlier attempt of this owner landed (its answer lost, or the provider
// stopped): it is adopted, and repaired if it was changed since. One owned by another
// resource is never taken over.
func (e *edgeEngine) ensureEdge(ctx context.Context, client Client, owner string, x edge, active bool) error {
	source, ref := x.source, x.ref
	want := desiredEdgeWebhook(ref, owner, active)
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
	if isDesiredEdge(live, ref, owner, active) {
		return nil
	}
	if _, err := client.UpdateWebhook(ctx, source.scope(), want.Name, want); err != nil {
		return describeCloudError(fmt.Sprintf("repairing the deployment webhook %s → %s", source, ref), err)
	}
	return nil
}

// setActive pauses or resumes one of owner's edges with a single PATCH; one deleted
// behind Pulumi's back is created again.
func (e *edgeEngine) setActive(ctx context.Context, client Client, owner string, x edge, active bool) error {
	want := desiredEdgeWebhook(x.ref, owner, active)
	_, err := client.UpdateWebhook(ctx, x.source.scope(), want.Name, want)
	if errors.Is(err, cloud.ErrNotFound) {
		return e.ensureEdge(ctx, client, owner, x, active)
	}
	if err != nil {
		verb := "pausing"
		if active {
			verb = "resuming"
		}
		return describeCloudError(fmt.Sprintf("%s the deployment webhook %s → %s", verb, x.source, x.ref), err)
	}
	return nil
}

// removeEdge deletes the edge's webhook if owner owns it; one already gone counts as
// removed, and one another resource owns now is left alone, with a warning.
func (e *edgeEngine) removeEdge(ctx context.Context, client Client, owner string, x edge) error {
	source, ref := x.source, x.ref
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
func (e *edgeEngine) heldBySuccessor(owner string, have []edge) []edge {
	var held []edge
	for _, x := range have {
		if e.graph.adoptedBy(x.source, x.ref) == owner {
			held = append(held, x)
		}
	}
	return held
}

// withoutEdges returns the edges of a not in b, in a's order. A graph may hold thousands
// of edges, so b is looked up in a set.
func withoutEdges(a, b []edge) []edge {
	in := make(map[edge]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []edge
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// orderedEdges returns edges sorted by their position in want, unknown ones last.
func orderedEdges(edges, want []edge) []edge {
	position := make(map[edge]int, len(want))
	for i, x := range want {
		if _, seen := position[x]; !seen {
			position[x] = i
		}
	}
	rank := func(x edge) int {
		if i, ok := position[x]; ok {
			return i
		}
		return len(want)
	}
	out := slices.Clone(edges)
	slices.SortStableFunc(out, func(a, b edge) int { return rank(a) - rank(b) })
	return out
}

// edgesFrom pairs source with each of refs.
func edgesFrom(source stackKey, refs []string) []edge {
	out := make([]edge, len(refs))
	for i, ref := range refs {
		out[i] = edge{source, ref}
	}
	return out
}

// targetsOf returns the refs of edges, in order.
func targetsOf(edges []edge) []string {
	out := make([]string, len(edges))
	for i, x := range edges {
		out[i] = x.ref
	}
	return out
}

// forEach runs fn for 0..n-1 with at most maxParallelRequests at once.
func forEach(n int, fn func(i int)) { forEachAtMost(maxParallelRequests, n, fn) }

// forEachRead is forEach for functions that only read, with at most maxParallelReads at once.
func forEachRead(n int, fn func(i int)) { forEachAtMost(maxParallelReads, n, fn) }

func forEachAtMost(limit, n int, fn func(i int)) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, limit)
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

// stackExists reports whether the stack exists, from one listing of its organization's
// stacks per run.
func (e *edgeEngine) stackExists(ctx context.Context, client Client, k stackKey) (bool, error) {
	return e.graph.stackExists(ctx, client, k)
}

// checkTarget fails unless the stack exists and has deployment settings.
func (e *edgeEngine) checkTarget(ctx context.Context, client Client, k stackKey) error {
	return e.graph.checkTarget(ctx, client, k)
}

// markRemoved records that this run deleted a webhook of source, for the checks that follow.
func (e *edgeEngine) markRemoved(source stackKey, name string) { e.graph.markRemoved(source, name) }

// rememberPlan keeps a plan a Diff worked out for the Update that follows it.
func (e *edgeEngine) rememberPlan(key string, plan graphPlan) { e.plans.put(key, plan) }

// takePlan returns the plan a Diff kept under key, once.
func (e *edgeEngine) takePlan(key string) (graphPlan, bool) { return e.plans.take(key) }
