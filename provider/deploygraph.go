package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// stackKey names a stack within the provider's organization-wide view.
type stackKey struct{ org, project, stack string }

func (k stackKey) ref() string    { return k.project + "/" + k.stack }
func (k stackKey) String() string { return k.org + "/" + k.project + "/" + k.stack }

func (k stackKey) scope() cloud.WebhookScope {
	return cloud.WebhookScope{Organization: k.org, Project: k.project, Stack: k.stack}
}

// at names the stack ref in the same organization as k. The ref has been validated.
func (k stackKey) at(ref string) stackKey {
	project, stack, _ := splitStackRef(ref)
	return stackKey{k.org, project, stack}
}

// deployGraph is one provider configuration's cache of what it has read about stacks,
// and of the edges the resources of this `pulumi preview` or `pulumi up` plan to write.
// Every resource in one run shares it, so each stack is read at most once, and a loop or a
// duplicate made of two resources' edges is seen before either writes.
type deployGraph struct {
	// planning serializes duplicate and cycle checks, so two resources cannot each add one
	// half of a loop, or the same edge, both having checked before either recorded it.
	planning sync.Mutex

	mu         sync.Mutex
	targets    map[stackKey]*lazy[map[string]any] // deployment settings
	hooks      map[stackKey]*lazy[stackHooks]
	references map[stackKey]*lazy[[]string]      // the stacks each stack reads through StackReferences
	stacks     map[string]*lazy[map[string]bool] // organization → refs of its stacks
	planned    map[stackKey]map[string]string    // source → target → owner, planned in this run
	removed    map[stackKey]map[string]bool      // source → webhook names deleted in this run
	adopted    map[stackKey]map[string]string    // source → target → owner whose create found it in place
	warned     map[string]bool                   // warnings already given in this run
	// handedOver is source → target → the hand-over of its edge in this run, from an owner
	// no longer in the program to a resource of the same stack that declares it now.
	handedOver map[stackKey]map[string]handOver
	// declared holds the owners (URNs) whose Check or Diff ran in this run: resources still
	// in the program, whose edges are not handed over.
	declared map[string]bool
}

// handOver is one edge passing between two resources of one stack in one update.
type handOver struct{ from, to string }

// stackHooks is one stack's webhooks as read from Pulumi Cloud.
type stackHooks struct {
	exists bool
	hooks  []cloud.Webhook
}

// lazy is a value loaded once, by whoever asks first; the others wait for it. A failed
// load is not kept: the next caller tries again, so one cancelled request or one
// passing error does not answer for the rest of the run.
type lazy[T any] struct {
	mu    sync.Mutex // held while loading, so the others wait for it
	value atomic.Pointer[T]
}

func (l *lazy[T]) get(load func() (T, error)) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v := l.value.Load(); v != nil {
		return *v, nil
	}
	value, err := load()
	if err != nil {
		var zero T
		return zero, err
	}
	l.value.Store(&value)
	return value, nil
}

// peek returns the value if it has been loaded, without loading it or waiting for a load.
func (l *lazy[T]) peek() (T, bool) {
	if v := l.value.Load(); v != nil {
		return *v, true
	}
	var zero T
	return zero, false
}

func newDeployGraph() *deployGraph {
	return &deployGraph{
		targets:    map[stackKey]*lazy[map[string]any]{},
		hooks:      map[stackKey]*lazy[stackHooks]{},
		references: map[stackKey]*lazy[[]string]{},
		stacks:     map[string]*lazy[map[string]bool]{},
		planned:    map[stackKey]map[string]string{},
		removed:    map[stackKey]map[string]bool{},
		adopted:    map[stackKey]map[string]string{},
		warned:     map[string]bool{},
		handedOver: map[stackKey]map[string]handOver{},
		declared:   map[string]bool{},
	}
}

func entry[K comparable, T any](g *deployGraph, m map[K]*lazy[T], k K) *lazy[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := m[k]
	if !ok {
		l = &lazy[T]{}
		m[k] = l
	}
	return l
}

// checkTarget fails unless the stack exists and has deployment settings, without which a
// deployment webhook pointing at it can only record failed deliveries.
func (g *deployGraph) checkTarget(ctx context.Context, client Client, k stackKey) error {
	_, err := g.deploymentSettings(ctx, client, k)
	return err
}

// deploymentSettings reads the stack's deployment settings once per run, failing with a
// targetError that says which is missing: the stack, or its settings.
func (g *deployGraph) deploymentSettings(ctx context.Context, client Client, k stackKey) (map[string]any, error) {
	return entry(g, g.targets, k).get(func() (map[string]any, error) {
		// One read when all is well: settings exist only on a stack that exists. On a 404
		// the stack is read to tell the user which of the two is missing.
		settings, err := client.GetDeploymentSettings(ctx, k.org, k.project, k.stack)
		if err == nil {
			return settings, nil
		}
		if !errors.Is(err, cloud.ErrNotFound) {
			return nil, describeCloudError(fmt.Sprintf("reading deployment settings of %s", k), err)
		}
		if _, err := client.GetStack(ctx, k.org, k.project, k.stack); err != nil {
			if errors.Is(err, cloud.ErrNotFound) {
				return nil, &targetError{k: k, missing: true}
			}
			return nil, describeCloudError(fmt.Sprintf("checking downstream stack %s", k), err)
		}
		return nil, &targetError{k: k}
	})
}

// targetError says why a stack cannot be the target of a deployment edge.
type targetError struct {
	k       stackKey
	missing bool // the stack does not exist; else it has no deployment settings
	field   string
}

func (t *targetError) Error() string {
	if !t.missing {
		return fmt.Sprintf("downstream stack %s has no deployment settings, so a deployment webhook cannot deploy "+
			"it: configure Pulumi Deployments for it (Stack > Settings > Deploy in Pulumi Cloud, or a "+
			"pulumiservice.DeploymentSettings resource) and run again", t.k)
	}
	remove := "remove the edge to it"
	if t.field != "" {
		remove = fmt.Sprintf("remove %q from %s", t.k.ref(), t.field)
	}
	return fmt.Sprintf("downstream stack %s does not exist in Pulumi Cloud: create it (`pulumi stack init %s`) or %s",
		t.k, t.k, remove)
}

// forField names, in a targetError, the field that declares the edge.
func forField(err error, field string) error {
	var t *targetError
	if errors.As(err, &t) {
		named := *t
		named.field = field
		return &named
	}
	return err
}

// skipsIntermediateDeployments reports whether deployment settings collapse a stack's
// queue of deployments to the newest (operationContext.options.skipIntermediateDeployments).
func skipsIntermediateDeployments(settings map[string]any) bool {
	ctx, _ := settings["operationContext"].(map[string]any)
	options, _ := ctx["options"].(map[string]any)
	skip, _ := options["skipIntermediateDeployments"].(bool)
	return skip
}

// webhooksOf lists the stack's webhooks once per run. A stack that does not exist has none.
func (g *deployGraph) webhooksOf(ctx context.Context, client Client, k stackKey) (stackHooks, error) {
	return entry(g, g.hooks, k).get(func() (stackHooks, error) { return listWebhooks(ctx, client, k) })
}

// listWebhooks reads the stack's webhooks from Pulumi Cloud, uncached: refresh, import and
// getDeploymentGraph must see what is there now. A stack that does not exist has none.
func listWebhooks(ctx context.Context, client Client, k stackKey) (stackHooks, error) {
	hooks, err := client.ListWebhooks(ctx, k.scope())
	if errors.Is(err, cloud.ErrNotFound) {
		return stackHooks{}, nil
	}
	if err != nil {
		return stackHooks{}, describeCloudError(fmt.Sprintf("listing webhooks of %s", k), err)
	}
	return stackHooks{exists: true, hooks: hooks}, nil
}

// stackExists reports whether the stack exists, from one listing of its organization's
// stacks per run: a refresh of many edges costs a page per hundred stacks, not a read per
// target.
func (g *deployGraph) stackExists(ctx context.Context, client Client, k stackKey) (bool, error) {
	refs, err := entry(g, g.stacks, k.org).get(func() (map[string]bool, error) {
		stacks, err := client.ListStacks(ctx, cloud.StackFilter{Organization: k.org})
		if err != nil {
			return nil, describeCloudError(fmt.Sprintf("listing the stacks of organization %s", k.org), err)
		}
		refs := make(map[string]bool, len(stacks))
		for _, s := range stacks {
			refs[s.ProjectName+"/"+s.StackName] = true
		}
		return refs, nil
	})
	return refs[k.ref()], err
}

// outgoing returns the refs the stack's active deployment webhooks redeploy after an
// update, as read from Pulumi Cloud, without those deleted in this run and with the
// edges planned in this run.
func (g *deployGraph) outgoing(ctx context.Context, client Client, k stackKey) ([]string, error) {
	listed, err := g.webhooksOf(ctx, client, k)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var refs []string
	for _, h := range listed.hooks {
		if to := deployTarget(h); firesDeployment(h) && !g.removed[k][h.Name] && !slices.Contains(refs, to) {
			refs = append(refs, to)
		}
	}
	for ref := range g.planned[k] {
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// visible is the deployment graph of org as far as this run has read it (stacks whose
// webhooks were listed, without what it deleted) plus what it plans: no request is made.
func (g *deployGraph) visible(org string) map[string][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]string{}
	for k, l := range g.hooks {
		listed, ok := l.peek()
		if k.org != org || !ok {
			continue
		}
		for _, h := range listed.hooks {
			if to := deployTarget(h); firesDeployment(h) && !g.removed[k][h.Name] && !slices.Contains(out[k.ref()], to) {
				out[k.ref()] = append(out[k.ref()], to)
			}
		}
	}
	for k, refs := range g.planned {
		if k.org != org {
			continue
		}
		for ref := range refs {
			if !slices.Contains(out[k.ref()], ref) {
				out[k.ref()] = append(out[k.ref()], ref)
			}
		}
	}
	return out
}

// deployTarget is the stack ("project/stack") a webhook deploys, or "": an edge's target
// (edge.Parse: straight or through a relay), or the payload URL of any other
// pulumi_deployments webhook, which Pulumi Cloud deploys whatever the webhook's name. A raw
// webhook to a relay's route under another name than its edge's deploys nothing: the
// relay ignores it.
func deployTarget(h cloud.Webhook) string {
	if e, ok := edge.Parse(h); ok {
		return e.Target
	}
	if _, _, ok := edge.SplitRef(h.PayloadURL); ok && h.Format == edge.FormatDirect {
		return h.PayloadURL
	}
	return ""
}

// firesDeployment reports whether a webhook redeploys its target (deployTarget) when its
// stack is updated or deployed, which is what continues a cascade.
func firesDeployment(h cloud.Webhook) bool {
	if !h.Active || deployTarget(h) == "" {
		return false
	}
	if len(h.Filters) == 0 && len(h.Groups) == 0 {
		return true
	}
	return slices.Contains(h.Filters, edge.Filter) || slices.Contains(h.Filters, "deployment_succeeded") ||
		slices.Contains(h.Groups, "stacks") || slices.Contains(h.Groups, "deployments")
}

// firesOnUpdate reports whether a webhook deploys its target after a successful update of
// its stack: two such webhooks to one target deploy it twice.
func firesOnUpdate(h cloud.Webhook) bool {
	if !h.Active || deployTarget(h) == "" {
		return false
	}
	return (len(h.Filters) == 0 && len(h.Groups) == 0) || slices.Contains(h.Filters, edge.Filter) ||
		slices.Contains(h.Groups, "stacks")
}

// warm loads the webhooks of every stack reachable from refs, a level at a time with the
// level's reads in parallel, so the cycle walk under the planning lock reads nothing.
func (g *deployGraph) warm(ctx context.Context, client Client, source stackKey, refs []string) error {
	read := func(ref string) ([]string, error) {
		if !strings.Contains(ref, "/") { // a hand-made webhook may point anywhere
			return nil, nil
		}
		return g.outgoing(ctx, client, source.at(ref))
	}
	below := func(ref string) []string {
		out, _ := read(ref) // read with its level, and kept
		return out
	}
	f := newFrontier(nil, below)
	for level := slices.Clone(refs); len(level) > 0; level = f.next() {
		errs := make([]error, len(level))
		forEachRead(len(level), func(i int) { _, errs[i] = read(level[i]) })
		if err := errors.Join(errs...); err != nil {
			return err
		}
		f.advance(level)
	}
	return nil
}

// plan records that owner is writing source → refs in this run.
func (g *deployGraph) plan(source stackKey, owner string, refs []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.planned[source] == nil {
		g.planned[source] = map[string]string{}
	}
	for _, ref := range refs {
		g.planned[source][ref] = owner
	}
}

// unplan forgets planned edges of owner that were not written after all.
func (g *deployGraph) unplan(source stackKey, owner string, refs []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ref := range refs {
		if g.planned[source][ref] == owner {
			delete(g.planned[source], ref)
		}
	}
}

// plannedBy returns who plans source → ref in this run, if anyone.
func (g *deployGraph) plannedBy(source stackKey, ref string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	owner, ok := g.planned[source][ref]
	return owner, ok
}

// markRemoved records that this run deleted the named webhook of source.
func (g *deployGraph) markRemoved(source stackKey, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed[source] == nil {
		g.removed[source] = map[string]bool{}
	}
	g.removed[source][name] = true
}

// markAdopted records that owner's create found source → ref already in place, owned by it.
func (g *deployGraph) markAdopted(source stackKey, ref, owner string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.adopted[source] == nil {
		g.adopted[source] = map[string]string{}
	}
	g.adopted[source][ref] = owner
}

func (g *deployGraph) adoptedBy(source stackKey, ref string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.adopted[source][ref]
}

func (g *deployGraph) isRemoved(source stackKey, name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.removed[source][name]
}

// declare records that the resource whose edges are recorded as owned by urn is in the
// program of this run, and returns the edges handed over from it in this run already:
// it cannot still declare them.
func (g *deployGraph) declare(urn string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.declared[urn] = true
	var taken []string
	for source, byRef := range g.handedOver {
		for ref, h := range byRef {
			if h.from == urn {
				taken = append(taken, fmt.Sprintf("%s → %s (now declared by %s)", source.ref(), ref, h.to))
			}
		}
	}
	slices.Sort(taken)
	return taken
}

// handOverFrom records that to takes source → ref over from from, unless from is still
// in the program (declared in this run); it reports whether it did.
func (g *deployGraph) handOverFrom(source stackKey, ref, from, to string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.declared[from] {
		return false
	}
	if g.handedOver[source] == nil {
		g.handedOver[source] = map[string]handOver{}
	}
	g.handedOver[source][ref] = handOver{from, to}
	return true
}

// handedFrom reports whether this run hands source → ref over to to, and from whom.
func (g *deployGraph) handedFrom(source stackKey, ref, to string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.handedOver[source][ref]
	return h.from, ok && h.to == to
}

// handsOver reports whether this run hands source → ref over from from to to.
func (g *deployGraph) handsOver(source stackKey, ref, from, to string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.handedOver[source][ref] == handOver{from, to}
}

// firstTime reports whether the warning key is new in this run: a preview and an up each
// warn once, however many resources meet the same webhook.
func (g *deployGraph) firstTime(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.warned[key] {
		return false
	}
	g.warned[key] = true
	return true
}
