package provider

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

var (
	_ infer.CustomCheck[DeploymentGraphArgs]                                = (*DeploymentGraph)(nil)
	_ infer.CustomDiff[DeploymentGraphArgs, DeploymentGraphState]           = (*DeploymentGraph)(nil)
	_ infer.CustomRead[DeploymentGraphArgs, DeploymentGraphState]           = (*DeploymentGraph)(nil)
	_ infer.CustomUpdate[DeploymentGraphArgs, DeploymentGraphState]         = (*DeploymentGraph)(nil)
	_ infer.CustomDelete[DeploymentGraphState]                              = (*DeploymentGraph)(nil)
	_ infer.ExplicitDependencies[DeploymentGraphArgs, DeploymentGraphState] = (*DeploymentGraph)(nil)
)

//go:embed deploymentgraph.md
var deploymentGraphDescription string

// DeploymentGraph owns every deployment edge of a graph of stacks in one resource: one
// engine step for the whole graph instead of one per stack.
type DeploymentGraph struct{}

// DeploymentGraphArgs are the inputs.
type DeploymentGraphArgs struct {
	Organization        string              `pulumi:"organization,optional" provider:"replaceOnChanges"`
	Edges               map[string][]string `pulumi:"edges,optional"`
	FromStackReferences *StackSelection     `pulumi:"fromStackReferences,optional"`
	KeepRedundantEdges  bool                `pulumi:"keepRedundantEdges,optional"`
	Paused              bool                `pulumi:"paused,optional"`
	Relay               *RelaySpec          `pulumi:"relay,optional"`
	AlwaysDeploy        []string            `pulumi:"alwaysDeploy,optional"`
}

// DeploymentGraphState keeps the inputs as written and records, apart from them, the edges
// in place in Pulumi Cloud (after a partial failure, only those that were written) and
// what discovery read.
type DeploymentGraphState struct {
	DeploymentGraphArgs
	EffectiveEdges  map[string][]string        `pulumi:"effectiveEdges,optional"`
	EdgeCount       int                        `pulumi:"edgeCount"`
	Owner           string                     `pulumi:"owner"`
	Mermaid         string                     `pulumi:"mermaid"`
	StackReferences map[string]DiscoveredStack `pulumi:"stackReferences,optional"`
}

// Annotate describes the resource.
func (g *DeploymentGraph) Annotate(a infer.Annotator) {
	a.Describe(&g, deploymentGraphDescription)
}

// Annotate describes the inputs.
func (a *DeploymentGraphArgs) Annotate(an infer.Annotator) {
	an.Describe(&a.Organization, "The Pulumi Cloud organization of every stack in the graph. "+organizationDefaultDoc)
	an.Describe(&a.Edges, "The graph: each key is an upstream stack as `project/stack`, and its list the stacks "+
		"(`project/stack`) to redeploy after each successful update of it. Order does not matter; each downstream "+
		"stack may appear once per key and never as its own downstream.")
	an.Describe(&a.FromStackReferences, "Also derive edges from the StackReferences Pulumi Cloud knows: every "+
		"selected stack whose program reads another selected stack's outputs is redeployed after each update of "+
		"it. Each preview and update lists the selected stacks (one list per project and tag) and reads the "+
		"references of only the stacks updated since they were last read (`stackReferences`). A new "+
		"StackReference shows in the next preview and is wired by the next update; a removed one is unwired.")
	an.Describe(&a.KeepRedundantEdges, "Keep edges that a longer path implies. By default an edge u → d is left "+
		"out when u → … → d exists, so d deploys once per change of u, after its last upstream. Through a relay "+
		"every edge is kept: the relay deploys each stack once anyway, and judges it on every stack it reads.")
	an.Describe(&a.Paused, pausedDoc)
	an.Describe(&a.Relay, "Send the graph's deployments through a cascade relay (`pulumi-auto-deploy-relay`) "+
		"instead of straight to Pulumi Deployments: each stack then deploys at most once per change of its "+
		"upstreams, after all of them, and only when an output it reads changed. Each edge is then a signed "+
		"`raw` webhook to the relay instead of a `pulumi_deployments` one, under the same name: setting or "+
		"removing it rewrites each webhook in place, one update per edge, and adds (or removes) the edges a "+
		"longer path implies, which only the relay keeps. See docs/relay.md.")
	an.Describe(&a.AlwaysDeploy, "Stacks (`project/stack`) the relay deploys after every update of any of their "+
		"upstreams, even one that changed none of their outputs: for a stack that depends on an upstream by other "+
		"means than its outputs (an image tag, a file it reads). Only with `relay`: each relay edge into such a "+
		"stack carries it in its payload URL (`&alwaysDeploy=true`), so the relay needs no configuration of its "+
		"own. Changing it updates the edges into the stacks added or removed in place, one update per edge.")
}

// Annotate describes the outputs.
func (s *DeploymentGraphState) Annotate(a infer.Annotator) {
	a.Describe(&s.EffectiveEdges, "The edges in place in Pulumi Cloud, one deployment webhook each, in the shape "+
		"of `edges`: the declared edges and those derived from StackReferences, without the edges a longer path "+
		"implies (unless `keepRedundantEdges`).")
	a.Describe(&s.EdgeCount, "The number of deployment webhooks in place, one per edge.")
	a.Describe(&s.StackReferences, "What `fromStackReferences` last read: per selected stack (`project/stack`), "+
		"the stacks its program reads and the stack's lastUpdate at that time. The next preview or update reads "+
		"again only the stacks updated since; `pulumi refresh` brings it up to date.")
	a.Describe(&s.Mermaid, "The edges in place as a Mermaid `flowchart`, one arrow per edge, to export and paste "+
		"into a stack README or a pull request.")
	a.Describe(&s.Owner, "The owner recorded in the display name of each of these webhooks: this resource's URN "+
		"when it was created (kept across a rename with `aliases`).")
}

// WireDependencies makes the graph's outputs known in preview: Diff and a preview Update
// work out the graph to keep, so the preview shows each edge that will be added or removed.
func (g *DeploymentGraph) WireDependencies(
	f infer.FieldSelector, args *DeploymentGraphArgs, state *DeploymentGraphState,
) {
	for _, out := range []any{&state.EffectiveEdges, &state.EdgeCount, &state.Mermaid, &state.Owner,
		&state.StackReferences} {
		f.OutputField(out).AlwaysKnown()
	}
}

// Check validates every key and element at preview, naming the offending one; elements
// still unknown are checked once known.
func (g *DeploymentGraph) Check(
	ctx context.Context, req infer.CheckRequest,
) (infer.CheckResponse[DeploymentGraphArgs], error) {
	args, failures, err := infer.DefaultCheck[DeploymentGraphArgs](ctx, req.NewInputs)
	if err != nil {
		return infer.CheckResponse[DeploymentGraphArgs]{}, err
	}
	fail := func(err error) {
		// The failure names the map, whose value the engine can show; the reason names the key.
		failures = append(failures, p.CheckFailure{Property: "edges", Reason: err.Error()})
	}
	if !req.NewInputs.Get("organization").HasComputed() {
		org, err := engineFor(ctx).resolveOrganization(ctx, args.Organization, req.OldInputs.Get("organization"))
		if err != nil {
			failures = append(failures, p.CheckFailure{Property: "organization", Reason: err.Error()})
		} else if err := validateCloudName("organization", org); err != nil {
			failures = append(failures, p.CheckFailure{Property: "organization", Reason: err.Error()})
		}
		args.Organization = org
	}
	raw := req.NewInputs.Get("edges")
	for _, upstream := range slices.Sorted(maps.Keys(args.Edges)) {
		key := fmt.Sprintf("edges[%q]", upstream)
		if _, _, err := parseStackRef(key, upstream); err != nil {
			fail(err)
			continue
		}
		list := property.Value{}
		if raw.IsMap() {
			list = raw.AsMap().Get(upstream)
		}
		seen := map[string]int{}
		for i, ref := range args.Edges[upstream] {
			if list.IsArray() && i < list.AsArray().Len() && list.AsArray().Get(i).HasComputed() {
				continue
			}
			element := fmt.Sprintf("%s[%d]", key, i)
			if _, _, err := parseStackRef(element, ref); err != nil {
				fail(err)
				continue
			}
			if ref == upstream {
				fail(fmt.Errorf("%s %q is its own upstream: a stack that redeploys itself would loop forever; "+
					"remove it", element, ref))
			}
			if first, dup := seen[ref]; dup {
				fail(fmt.Errorf("%s %q repeats %s[%d]: list each downstream stack once per upstream", element, ref,
					key, first))
			}
			seen[ref] = i
		}
	}
	if args.FromStackReferences != nil {
		failures = append(failures, args.FromStackReferences.validate()...)
	}
	if args.Relay != nil {
		relay := req.NewInputs.Get("relay")
		unknown := func(key string) bool { return relay.IsMap() && relay.AsMap().Get(key).HasComputed() }
		for _, err := range validateRelay(*args.Relay, unknown("url"), unknown("secret")) {
			failures = append(failures, p.CheckFailure{Property: "relay", Reason: err.Error()})
		}
	}
	for _, err := range validateAlwaysDeploy(args, req.NewInputs) {
		failures = append(failures, p.CheckFailure{Property: "alwaysDeploy", Reason: err.Error()})
	}
	if err := engineFor(ctx).declare(resourceURN(ctx)); err != nil {
		fail(err)
	}
	return infer.CheckResponse[DeploymentGraphArgs]{Inputs: args, Failures: failures}, nil
}

// Create writes one webhook per edge, recording this resource as their owner. In preview
// it checks everything it can and writes nothing.
func (g *DeploymentGraph) Create(
	ctx context.Context, req infer.CreateRequest[DeploymentGraphArgs],
) (infer.CreateResponse[DeploymentGraphState], error) {
	args := req.Inputs
	owner := resourceURN(ctx)
	plan, err := g.plan(ctx, owner, args, nil)
	if err != nil {
		return infer.CreateResponse[DeploymentGraphState]{}, err
	}
	engineFor(ctx).report(ctx, args.Organization, plan)
	warnIdleAlwaysDeploy(ctx, args, plan.edges)
	out, err := writeEdges(ctx, edgeChange{owner: owner, want: edgeList(args.Organization, plan.edges),
		formOf: args.formOf, keepImplied: args.keepsImplied(), field: edgesField, knownReads: plan.reads()},
		req.DryRun, args.stateOf(owner, plan))
	return infer.CreateResponse[DeploymentGraphState]{ID: args.Organization, Output: out}, err
}

// Diff names each edge added or removed, never positions shifting in a list: as
// edges["net/prod"]: + "db/prod" for the edges as written, and as "effectiveEdges: net/prod
// → db/prod" for an edge in place that the edges as written do not explain (one derived
// from a StackReference, or left out as implied). It works out the graph to keep (reading
// the references of stacks updated since the last read), which the Update that follows
// takes over. A replacement deletes first: old and new would own webhooks of the same names.
func (g *DeploymentGraph) Diff(
	ctx context.Context, req infer.DiffRequest[DeploymentGraphArgs, DeploymentGraphState],
) (infer.DiffResponse, error) {
	if err := engineFor(ctx).declare(req.State.owner(ctx)); err != nil {
		return infer.DiffResponse{}, err
	}
	olds, news := req.State, req.Inputs
	diff := map[string]p.PropertyDiff{}
	if olds.Organization != news.Organization {
		diff["organization"] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
	}
	// State written before effectiveEdges held the edges in place in edges, and not the
	// edges as written: only the edges in place can be compared then.
	if !olds.isOldShape() {
		maps.Copy(diff, graphDiff("edges", olds.Edges, news.Edges))
	}
	if !reflect.DeepEqual(olds.FromStackReferences, news.FromStackReferences) {
		diff["fromStackReferences"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if olds.KeepRedundantEdges != news.KeepRedundantEdges {
		diff["keepRedundantEdges"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if olds.Paused != news.Paused {
		diff["paused"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	if !sameRelay(olds.Relay, news.Relay) {
		diff["relay"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	maps.Copy(diff, setDiff("alwaysDeploy", olds.AlwaysDeploy, news.AlwaysDeploy))
	if _, replace := diff["organization"]; !replace {
		plan, err := engineFor(ctx).planGraph(ctx, news, olds.StackReferences)
		if err != nil {
			return infer.DiffResponse{}, err
		}
		engineFor(ctx).rememberPlan(planKey(olds.owner(ctx), news, olds.StackReferences), plan)
		warnIdleAlwaysDeploy(ctx, news, plan.edges)
		declared := olds.Edges
		if olds.isOldShape() {
			declared = nil
		}
		maps.Copy(diff, effectiveDiff(olds.effective(), plan.edges, declared, news.Edges))
	}
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff, DeleteBeforeReplace: true}, nil
}

// graphDiff names each edge added to or removed from a graph under its upstream key.
func graphDiff(field string, olds, news map[string][]string) map[string]p.PropertyDiff {
	diff := map[string]p.PropertyDiff{}
	for upstream := range unionKeys(olds, news) {
		path := fmt.Sprintf("%s[%q]", field, upstream)
		before, had := olds[upstream]
		after, has := news[upstream]
		switch {
		case !had:
			diff[path] = p.PropertyDiff{Kind: p.Add, InputDiff: true}
		case !has:
			diff[path] = p.PropertyDiff{Kind: p.Delete, InputDiff: true}
		default:
			maps.Copy(diff, setDiff(path, before, after))
		}
	}
	return diff
}

// effectiveDiff names each edge put in place or taken out, unless the same change of the
// edges as written already names it. The Pulumi CLI shows the new value of a changed
// property from the new inputs, where the edges in place are not: so the edge is named in
// the key itself, one key per edge, which the CLI prints as it is.
func effectiveDiff(olds, news, declaredOld, declaredNew map[string][]string) map[string]p.PropertyDiff {
	diff := map[string]p.PropertyDiff{}
	has := func(g map[string][]string, u, d string) bool { return slices.Contains(g[u], d) }
	for u, ds := range news {
		for _, d := range ds {
			if !has(olds, u, d) && (has(declaredOld, u, d) || !has(declaredNew, u, d)) {
				diff[effectiveKey(u, d)] = p.PropertyDiff{Kind: p.Add}
			}
		}
	}
	for u, ds := range olds {
		for _, d := range ds {
			if !has(news, u, d) && (has(declaredNew, u, d) || !has(declaredOld, u, d)) {
				diff[effectiveKey(u, d)] = p.PropertyDiff{Kind: p.Delete}
			}
		}
	}
	return diff
}

// effectiveKey is a property path of one quoted element, so a '.' in a stack name does not split it.
func effectiveKey(upstream, downstream string) string {
	return fmt.Sprintf("[%q]", "effectiveEdges: "+upstream+" → "+downstream)
}

// Update adds the webhooks of new edges and deletes those of removed edges; edges present
// before and after cost no request, unless the graph is paused or resumed.
func (g *DeploymentGraph) Update(
	ctx context.Context, req infer.UpdateRequest[DeploymentGraphArgs, DeploymentGraphState],
) (infer.UpdateResponse[DeploymentGraphState], error) {
	owner := req.State.owner(ctx)
	plan, err := g.plan(ctx, owner, req.Inputs, req.State.StackReferences)
	if err != nil {
		return infer.UpdateResponse[DeploymentGraphState]{}, err
	}
	org := req.Inputs.Organization
	if !sameGraph(plan.edges, req.State.effective()) {
		engineFor(ctx).report(ctx, org, plan)
	}
	out, err := writeEdges(ctx, edgeChange{owner: owner, want: edgeList(org, plan.edges),
		have: edgeList(req.State.Organization, req.State.effective()), formOf: req.Inputs.formOf,
		wasFormOf: req.State.formOf, keepImplied: req.Inputs.keepsImplied(), field: edgesField,
		knownReads: plan.reads()}, req.DryRun, req.Inputs.stateOf(owner, plan))
	return infer.UpdateResponse[DeploymentGraphState]{Output: out}, err
}

// plan is the graph the Diff just before worked out for these inputs, or worked out now.
func (g *DeploymentGraph) plan(
	ctx context.Context, owner string, args DeploymentGraphArgs, known map[string]DiscoveredStack,
) (graphPlan, error) {
	if plan, ok := engineFor(ctx).takePlan(planKey(owner, args, known)); ok {
		return plan, nil
	}
	return engineFor(ctx).planGraph(ctx, args, known)
}

// Read lists each upstream stack's webhooks once, with the reads bounded in parallel, and
// keeps the edges this resource owns in the shape it writes them; the inputs stay as they
// were written. An import (ID: the organization) lists the organization's stacks and
// adopts the edges recorded as owned by the importing resource. A graph derived from
// StackReferences also brings what it knows of them up to date.
func (g *DeploymentGraph) Read(
	ctx context.Context, req infer.ReadRequest[DeploymentGraphArgs, DeploymentGraphState],
) (infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState], error) {
	org := req.ID
	if err := validateCloudName("DeploymentGraph ID (the organization)", org); err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	client, err := engineFor(ctx).client(ctx)
	if err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	effective := req.State.effective()
	importing := req.State.Owner == "" && len(effective) == 0
	owner := req.State.owner(ctx)
	var sources []string
	if importing {
		stacks, err := client.ListStacks(ctx, cloud.StackFilter{Organization: org})
		if err != nil {
			return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, describeCloudError(
				"listing the stacks of organization "+org, err)
		}
		for _, s := range stacks {
			sources = append(sources, s.ProjectName+"/"+s.StackName)
		}
	} else {
		sources = slices.Sorted(maps.Keys(unionKeys(effective, req.Inputs.Edges)))
	}
	// The organization's stack list, which the dangling-edge warnings need, is read while the
	// webhooks are: a refresh then waits for one batch of round trips, not two in a row.
	var listed sync.WaitGroup
	listed.Go(func() { _, _ = engineFor(ctx).stackExists(ctx, client, stackKey{org: org}) })
	defer listed.Wait()
	found := make([][]string, len(sources))
	exists := make([]bool, len(sources))
	errs := make([]error, len(sources))
	forEachRead(len(sources), func(i int) {
		source := stackKey{org: org}.at(sources[i])
		found[i], exists[i], errs[i] = engineFor(ctx).ownedEdges(ctx, client, owner, source, effective[sources[i]],
			req.State.formOf)
	})
	if err := errors.Join(errs...); err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	for i, source := range sources {
		if !exists[i] && len(effective[source]) > 0 {
			p.GetLogger(ctx).Warningf("stack %s/%s, upstream of %d edges of this graph (to %s), no longer exists in "+
				"Pulumi Cloud: its deployment webhooks went with it; remove it from edges (or from the stacks "+
				"fromStackReferences selects), or create it again", org, source, len(effective[source]),
				strings.Join(effective[source], ", "))
		}
	}
	var now []stackEdge
	for i, source := range sources {
		now = append(now, edgesFrom(stackKey{org: org}.at(source), found[i])...)
	}
	if err := engineFor(ctx).warnLoops(ctx, client, now); err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	args := req.Inputs
	if importing {
		if len(now) == 0 {
			return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, fmt.Errorf("importing "+
				"DeploymentGraph %s: no deployment webhook in organization %s is owned by %s: nothing found to "+
				"import (check the organization and the resource name, which must be the one that created the "+
				"edges)", req.ID, org, owner)
		}
		args = DeploymentGraphArgs{Organization: org, Edges: graphOf(now), Paused: req.State.Paused}
	}
	known := req.State.StackReferences
	if args.FromStackReferences != nil {
		if read, err := engineFor(ctx).readReferences(ctx, client, org, *args.FromStackReferences, known); err == nil {
			known = read.known
		}
	}
	return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{
		ID: req.ID, Inputs: args, State: newDeploymentGraphState(args, now, owner, known),
	}, nil
}

// Delete removes the webhooks this resource owns; those already gone count as removed.
func (g *DeploymentGraph) Delete(
	ctx context.Context, req infer.DeleteRequest[DeploymentGraphState],
) (infer.DeleteResponse, error) {
	return infer.DeleteResponse{}, engineFor(ctx).deleteAll(ctx, req.ID, req.State.owner(ctx),
		edgeList(req.State.Organization, req.State.effective()), req.State.formOf, edgesField)
}

// edgeList flattens a graph into edges, upstream stacks in sorted order.
func edgeList(org string, graph map[string][]string) []stackEdge {
	var out []stackEdge
	for _, upstream := range slices.Sorted(maps.Keys(graph)) {
		if upstream == "" {
			continue
		}
		source := stackKey{org: org}.at(upstream)
		out = append(out, edgesFrom(source, graph[upstream])...)
	}
	return out
}

// graphOf is the graph of edges, upstream → downstreams in the order given.
func graphOf(edges []stackEdge) map[string][]string {
	graph := map[string][]string{}
	for _, x := range edges {
		graph[x.source.ref()] = append(graph[x.source.ref()], x.ref)
	}
	return graph
}

func sameGraph(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for u, ds := range a {
		if !sameSet(ds, b[u]) {
			return false
		}
	}
	return true
}

// stateOf builds the state from the edges in place, for writeEdges.
func (a DeploymentGraphArgs) stateOf(owner string, plan graphPlan) func([]stackEdge) DeploymentGraphState {
	return func(now []stackEdge) DeploymentGraphState {
		return newDeploymentGraphState(a, now, owner, plan.references)
	}
}

func newDeploymentGraphState(
	args DeploymentGraphArgs, now []stackEdge, owner string, known map[string]DiscoveredStack,
) DeploymentGraphState {
	effective := graphOf(now)
	return DeploymentGraphState{DeploymentGraphArgs: args, EffectiveEdges: effective, EdgeCount: len(now),
		Owner: owner, Mermaid: mermaidOf(effective), StackReferences: known}
}

// effective is the graph in place. State written before effectiveEdges kept it in edges;
// an empty effectiveEdges is not stored at all, but then no edge is in place either.
func (s DeploymentGraphState) effective() map[string][]string {
	if s.isOldShape() {
		return withoutEmptyLists(s.Edges)
	}
	if s.EffectiveEdges == nil {
		return map[string][]string{}
	}
	return s.EffectiveEdges
}

// isOldShape reports state written before effectiveEdges, whose edges were those in place.
func (s DeploymentGraphState) isOldShape() bool { return s.EffectiveEdges == nil && s.EdgeCount > 0 }

func (s DeploymentGraphState) owner(ctx context.Context) string {
	return cmp.Or(s.Owner, resourceURN(ctx))
}

func edgesField(source stackKey) string { return fmt.Sprintf("edges[%q]", source.ref()) }

// keepsImplied reports whether the graph keeps the edges a longer path implies: through a
// relay, which deploys each stack once anyway and must see every stack it reads, or with
// keepRedundantEdges.
func (a DeploymentGraphArgs) keepsImplied() bool { return a.Relay != nil || a.KeepRedundantEdges }

// formOf is how the graph writes its edge to ref.
func (a DeploymentGraphArgs) formOf(ref string) edgeForm {
	return edgeForm{active: !a.Paused, relay: a.Relay, always: a.Relay != nil && slices.Contains(a.AlwaysDeploy, ref)}
}

func unionKeys[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
