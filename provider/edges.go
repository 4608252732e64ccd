package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
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

// edgeForm is how an owner writes an edge's webhook: active or paused, and straight to
// Pulumi Deployments or, with relay set, through a cascade relay, told with always to
// deploy the target after every update of its source.
type edgeForm struct {
	active bool
	relay  *RelaySpec
	always bool
}

// direct is the form of an active edge that deploys its target itself.
var direct = edgeForm{active: true}

// wire is the form as the edge contract has it; the relay's secret is the provider's alone.
func (f edgeForm) wire() edge.Form {
	if f.relay == nil {
		return edge.Form{}
	}
	return edge.Form{RelayURL: f.relay.URL, AlwaysDeploy: f.always}
}

// desiredEdgeWebhook is the webhook owner keeps for ref in form: the edge contract's, with
// the owner recorded in its display name and, through a relay, the relay's secret.
func desiredEdgeWebhook(ref, owner string, form edgeForm) cloud.Webhook {
	w := edge.Desired(ref, form.wire(), form.active)
	w.DisplayName = edgeDisplayName(ref, owner)
	if form.relay != nil {
		w.Secret = form.relay.Secret
	}
	return w
}

// isDesiredEdge reports whether h is the webhook owner keeps for ref in form.
func isDesiredEdge(h cloud.Webhook, ref, owner string, form edgeForm) bool {
	return sameEdgeWebhook(h, desiredEdgeWebhook(ref, owner, form))
}

// sameEdgeWebhook reports whether h, as read back, is want. A relay edge's secret cannot
// be read back: that one is set is all that can be checked.
func sameEdgeWebhook(h, want cloud.Webhook) bool {
	return h.Name == want.Name && h.PayloadURL == want.PayloadURL && h.Active == want.Active &&
		h.Format == want.Format && h.DisplayName == want.DisplayName && sameSet(h.Filters, want.Filters) &&
		len(h.Groups) == 0 && h.HasSecret == (want.Secret != "")
}

// stackEdge is one deployment edge: source redeploys ref after each successful update.
type stackEdge struct {
	source stackKey
	ref    string
}

// edgeChange is what a resource asks of the engine: move owner's edges from have to want,
// with every edge in want active, or paused (inactive).
type edgeChange struct {
	owner      string
	want, have []stackEdge
	// formOf and wasFormOf are how the edge to a ref is written after and before the
	// change: pausing or resuming, switching into or out of relay mode or changing which
	// targets always deploy costs a PATCH per kept edge whose form changes, never a delete
	// or create.
	formOf, wasFormOf func(ref string) edgeForm
	// keepImplied says the resource keeps edges a longer path implies on purpose (through a
	// relay, or with keepRedundantEdges): advice to remove them would be wrong.
	keepImplied bool
	// field names an edge's source in messages: "downstreamRefs", or edges["p/s"].
	field func(source stackKey) string
	// knownReads is what the resource already read of the stacks' references (project/stack
	// → the stacks it reads), so the preview's warning about an edge to a stack that reads
	// nothing of its upstream asks no more of them.
	knownReads map[string][]string
}

// sameForm reports whether two forms write the same webhook.
func sameForm(a, b edgeForm) bool {
	return a.active == b.active && a.always == b.always && sameRelay(a.relay, b.relay)
}

// sameRelay reports whether two relay settings write the same webhooks.
func sameRelay(a, b *RelaySpec) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// edgeOps is a change split into what it writes: edges to create, edges kept whose form
// changes (pause or resume, into or out of relay mode), edges to delete.
type edgeOps struct {
	add, toggle, remove []stackEdge
}

func (o edgeOps) empty() bool { return len(o.add)+len(o.toggle)+len(o.remove) == 0 }

// all is every write in the order write runs them; a result's index says which it was.
func (o edgeOps) all() []stackEdge { return slices.Concat(o.add, o.toggle, o.remove) }

func (o edgeOps) isAdd(i int) bool    { return i < len(o.add) }
func (o edgeOps) isRemove(i int) bool { return i >= len(o.add)+len(o.toggle) }

func opsOf(c edgeChange) edgeOps {
	var o edgeOps
	// In preview a ref still unknown decodes as ""; it is checked once it is known.
	o.add = slices.DeleteFunc(withoutEdges(c.want, c.have), func(x stackEdge) bool { return x.ref == "" })
	o.remove = withoutEdges(c.have, c.want)
	for _, x := range withoutEdges(c.have, o.remove) {
		if !sameForm(c.formOf(x.ref), c.wasFormOf(x.ref)) {
			o.toggle = append(o.toggle, x)
		}
	}
	return o
}

// apply moves owner's edges from have to want and returns the edges now in place, in
// phases: check the new edges (in preview too, where nothing is written), read what the
// removals need, write (new edges pending), judge the new edges against the graph read
// afresh and put them in place or undo them (race), and settle what is in place. Failed
// edges leave the rest in place and come back as infer.ResourceInitFailedError, so the
// engine keeps the partial state.
func (e *edgeEngine) apply(ctx context.Context, c edgeChange, dryRun bool) ([]stackEdge, error) {
	ops := opsOf(c)
	if ops.empty() {
		return c.want, nil
	}
	client, err := e.client(ctx)
	if err != nil {
		return nil, err
	}
	owner := edgeOwner{urn: c.owner}
	if len(ops.add) > 0 {
		checks := addChecks{targets: true, walk: dryRun, implied: !c.keepImplied}
		if err := e.checkAdds(ctx, client, owner, ops.add, c.field, checks); err != nil {
			return nil, err
		}
		if dryRun {
			// At preview only: the warning is for the user deciding, and costs a read per target.
			e.warnUnreferenced(ctx, client, ops.add, c.knownReads)
		}
	}
	if dryRun {
		return c.want, nil
	}
	e.readRemovalListings(ctx, client, ops.remove)
	failures, states := e.write(ctx, client, c, ops)
	var news []newEdge
	var at []int
	for i, x := range ops.add {
		if failures[i] == nil && states[i] != addInPlace {
			want := desiredEdgeWebhook(x.ref, c.owner, c.formOf(x.ref))
			pending := states[i] == addPending
			news = append(news, newEdge{x: x, name: want.Name, final: want, written: pending, taken: pending})
			at = append(at, i)
		}
	}
	for k, err := range e.race(ctx, client, owner, news, c.field) {
		failures[at[k]] = err
	}
	return e.settle(c, ops, failures)
}

// readRemovalListings reads the listings of the sources of removed edges up front, as
// many at a time as reads may run: a removal checks who owns the webhook there first.
func (e *edgeEngine) readRemovalListings(ctx context.Context, client Client, remove []stackEdge) {
	sources := sourcesOf(remove)
	forEachRead(len(sources), func(i int) { _, _ = e.graph.webhooksOf(ctx, client, sources[i]) })
}

// write runs every write of ops, at most maxParallelRequests at once across the change,
// and returns each one's failure (nil for success) at its index in ops.all(), and where
// each new edge stands.
func (e *edgeEngine) write(ctx context.Context, client Client, c edgeChange, ops edgeOps) ([]error, []addState) {
	all := ops.all()
	failures := make([]error, len(all))
	states := make([]addState, len(ops.add))
	forEach(len(all), func(i int) {
		x := all[i]
		switch {
		case ops.isAdd(i):
			states[i], failures[i] = e.ensureEdge(ctx, client, c.owner, x, c.formOf(x.ref), c.field(x.source))
		case ops.isRemove(i):
			failures[i] = e.removeEdge(ctx, client, c.owner, x)
		default:
			failures[i] = e.reform(ctx, client, c.owner, x, c.formOf(x.ref))
		}
	})
	return failures, states
}

// settle works out the edges in place after the writes: have, plus the adds that landed,
// minus the removals that did, in want's order. Failed adds are no longer planned, and
// the failures are reported once per kind of failure, with a count.
func (e *edgeEngine) settle(c edgeChange, ops edgeOps, failures []error) ([]stackEdge, error) {
	all := ops.all()
	var failed []error
	var removed []stackEdge
	now := slices.Clone(c.have)
	for i, err := range failures {
		switch {
		case err != nil:
			failed = append(failed, err)
			if ops.isAdd(i) {
				e.graph.unplan(all[i].source, c.owner, []string{all[i].ref})
			}
		case ops.isAdd(i):
			now = append(now, all[i])
		case ops.isRemove(i):
			removed = append(removed, all[i])
		}
	}
	now = orderedEdges(withoutEdges(now, removed), c.want)
	if len(failed) > 0 {
		return now, infer.ResourceInitFailedError{Reasons: summarizeFailures(failed)}
	}
	return now, nil
}

// sourcesOf returns the distinct sources of edges, in order.
func sourcesOf(edges []stackEdge) []stackKey {
	var out []stackKey
	seen := map[stackKey]bool{}
	for _, x := range edges {
		if !seen[x.source] {
			seen[x.source] = true
			out = append(out, x.source)
		}
	}
	return out
}

// deleteAll removes owner's edges have, those already gone counting as removed, for a
// resource's Delete: it has no partial state to keep, so a failure is one error naming
// what failed.
func (e *edgeEngine) deleteAll(
	ctx context.Context, id, owner string, have []stackEdge, formOf func(string) edgeForm, field func(stackKey) string,
) error {
	have = withoutEdges(have, e.heldBySuccessor(owner, have))
	_, err := e.apply(ctx, edgeChange{owner: owner, have: have, formOf: formOf, wasFormOf: formOf, field: field}, false)
	if failed := (infer.ResourceInitFailedError{}); errors.As(err, &failed) {
		return fmt.Errorf("deleting %s: %s", id, strings.Join(failed.Reasons, "; "))
	}
	return err
}

// withoutEdges returns the edges of a not in b, in a's order. A graph may hold thousands
// of edges, so b is looked up in a set.
func withoutEdges(a, b []stackEdge) []stackEdge {
	in := make(map[stackEdge]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []stackEdge
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// orderedEdges returns edges sorted by their position in want, unknown ones last.
func orderedEdges(edges, want []stackEdge) []stackEdge {
	position := make(map[stackEdge]int, len(want))
	for i, x := range want {
		if _, seen := position[x]; !seen {
			position[x] = i
		}
	}
	rank := func(x stackEdge) int {
		if i, ok := position[x]; ok {
			return i
		}
		return len(want)
	}
	out := slices.Clone(edges)
	slices.SortStableFunc(out, func(a, b stackEdge) int { return rank(a) - rank(b) })
	return out
}

// edgesFrom pairs source with each of refs.
func edgesFrom(source stackKey, refs []string) []stackEdge {
	out := make([]stackEdge, len(refs))
	for i, ref := range refs {
		out[i] = stackEdge{source, ref}
	}
	return out
}

// targetsOf returns the refs of edges, in order.
func targetsOf(edges []stackEdge) []string {
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

// declare records that the resource recorded as owner urn is in this run's program. An
// edge this run already handed over from it to another resource of the program is then
// declared twice, which is refused.
func (e *edgeEngine) declare(urn string) error {
	if urn == "" {
		return nil
	}
	taken := e.graph.declare(urn)
	if len(taken) == 0 {
		return nil
	}
	return fmt.Errorf("%s declares edges that another resource of this program declares too: %s; declare each "+
		"edge in one resource only (to move edges between resources, remove them from the first in the same "+
		"update)", urn, strings.Join(taken, ", "))
}

// unplan forgets that owner plans source → ref, after a write that did not land.
func (e *edgeEngine) unplan(source stackKey, owner, ref string) {
	if ref != "" {
		e.graph.unplan(source, owner, []string{ref})
	}
}

// writeEdges is the shell every edge-owning resource's Create and Update share: it runs
// the change through the configuration's engine and builds the resource's state from the
// edges then in place. A partial failure comes back with that state and
// infer.ResourceInitFailedError, which keeps it; any other failure with no state.
func writeEdges[S any](ctx context.Context, c edgeChange, dryRun bool, state func(now []stackEdge) S) (S, error) {
	now, err := engineFor(ctx).apply(ctx, c, dryRun)
	if err != nil && !errors.As(err, &infer.ResourceInitFailedError{}) {
		var none S
		return none, err
	}
	return state(now), err
}

// isEdge reports whether h is a deployment edge, as the edge contract reads webhooks.
func isEdge(h cloud.Webhook) bool {
	_, ok := edge.Parse(h)
	return ok
}
