package provider

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

var (
	_ infer.CustomCheck[DeploymentGraphArgs]                        = (*DeploymentGraph)(nil)
	_ infer.CustomDiff[DeploymentGraphArgs, DeploymentGraphState]   = (*DeploymentGraph)(nil)
	_ infer.CustomRead[DeploymentGraphArgs, DeploymentGraphState]   = (*DeploymentGraph)(nil)
	_ infer.CustomUpdate[DeploymentGraphArgs, DeploymentGraphState] = (*DeploymentGraph)(nil)
	_ infer.CustomDelete[DeploymentGraphState]                      = (*DeploymentGraph)(nil)
)

//go:embed deploymentgraph.md
var deploymentGraphDescription string

// DeploymentGraph owns every deployment edge of a graph of stacks in one resource: one
// engine step for the whole graph instead of one per stack.
type DeploymentGraph struct {
	edges *edgeEngine
}

// DeploymentGraphArgs are the inputs.
type DeploymentGraphArgs struct {
	Organization        string              `pulumi:"organization,optional" provider:"replaceOnChanges"`
	Edges               map[string][]string `pulumi:"edges,optional"`
	FromStackReferences *StackSelection     `pulumi:"fromStackReferences,optional"`
	KeepRedundantEdges  bool                `pulumi:"keepRedundantEdges,optional"`
	Paused              bool                `pulumi:"paused,optional"`
}

// DeploymentGraphState records the edges in place in Pulumi Cloud; after a partial
// failure it holds only those that were written.
type DeploymentGraphState struct {
	DeploymentGraphArgs
	EdgeCount int    `pulumi:"edgeCount"`
	Owner     string `pulumi:"owner"`
	Mermaid   string `pulumi:"mermaid"`
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
		"it. Read at every preview and update: one list of stacks per project and tag, and one request per "+
		"selected stack. A new StackReference shows in the next preview and is wired by the next update; a "+
		"removed one is unwired.")
	an.Describe(&a.KeepRedundantEdges, "Keep edges that a longer path implies. By default an edge u → d is left "+
		"out when u → … → d exists, so d deploys once per change of u, after its last upstream.")
	an.Describe(&a.Paused, pausedDoc)
}

// Annotate describes the outputs.
func (s *DeploymentGraphState) Annotate(a infer.Annotator) {
	a.Describe(&s.EdgeCount, "The number of deployment webhooks in place, one per edge.")
	a.Describe(&s.Mermaid, "The edges in place as a Mermaid `flowchart`, one arrow per edge, to export and paste "+
		"into a stack README or a pull request.")
	a.Describe(&s.Owner, "The owner recorded in the display name of each of these webhooks: this resource's URN "+
		"when it was created (kept across a rename with `aliases`).")
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
		org, err := g.edges.resolveOrganization(ctx, args.Organization, req.OldInputs.Get("organization"))
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
		// Order does not matter: sorted, a reordered list gives the engine the very inputs
		// it has. Unknown or secret elements are tracked by position, so such a list keeps
		// its order.
		if !list.HasComputed() && !list.HasSecrets() {
			slices.Sort(args.Edges[upstream])
		}
	}
	if len(failures) == 0 && len(unknownKeys(req.NewInputs)) == 0 {
		edges, err := g.effectiveEdges(ctx, args)
		if err != nil {
			return infer.CheckResponse[DeploymentGraphArgs]{}, err
		}
		args.Edges = edges
	}
	return infer.CheckResponse[DeploymentGraphArgs]{Inputs: args, Failures: failures}, nil
}

// effectiveEdges is the graph to keep: the explicit edges and those StackReferences imply,
// without the edges longer paths imply unless keepRedundantEdges. A graph with neither
// references nor anything to reduce reads nothing.
func (g *DeploymentGraph) effectiveEdges(ctx context.Context, args DeploymentGraphArgs) (map[string][]string, error) {
	if args.Edges == nil {
		args.Edges = map[string][]string{}
	}
	var refs *referenceGraph
	var client Client
	if args.FromStackReferences != nil || len(diamonds(args.Edges)) > 0 {
		var err error
		if client, err = g.edges.clients.get(ctx); err != nil {
			return nil, err
		}
	}
	if args.FromStackReferences != nil {
		read, err := g.edges.readReferences(ctx, client, args.Organization, *args.FromStackReferences)
		if err != nil {
			return nil, err
		}
		refs = &read
	}
	edges, err := g.edges.shapeGraph(ctx, client, args.Organization, args.Edges, refs, args.KeepRedundantEdges)
	if err != nil {
		return nil, err
	}
	for u := range edges {
		slices.Sort(edges[u])
	}
	return edges, nil
}

// Create writes one webhook per edge, recording this resource as their owner. In preview
// it checks everything it can and writes nothing.
func (g *DeploymentGraph) Create(
	ctx context.Context, req infer.CreateRequest[DeploymentGraphArgs],
) (infer.CreateResponse[DeploymentGraphState], error) {
	args := req.Inputs
	owner := resourceURN(ctx)
	now, err := g.edges.apply(ctx, edgeChange{owner: owner, want: args.edgeList(), paused: args.Paused,
		field: edgesField}, req.DryRun)
	if err != nil && !errors.As(err, &infer.ResourceInitFailedError{}) {
		return infer.CreateResponse[DeploymentGraphState]{}, err
	}
	return infer.CreateResponse[DeploymentGraphState]{
		ID: args.Organization, Output: newDeploymentGraphState(args, now, owner),
	}, err
}

// Diff names each edge added or removed, as edges["net/prod"]: + "db/prod", never
// positions shifting in a list. A replacement deletes first: old and new would own
// webhooks of the same names.
func (g *DeploymentGraph) Diff(
	_ context.Context, req infer.DiffRequest[DeploymentGraphArgs, DeploymentGraphState],
) (infer.DiffResponse, error) {
	olds, news := req.State.DeploymentGraphArgs, req.Inputs
	diff := map[string]p.PropertyDiff{}
	if olds.Organization != news.Organization {
		diff["organization"] = p.PropertyDiff{Kind: p.UpdateReplace, InputDiff: true}
	}
	for upstream := range unionKeys(olds.Edges, news.Edges) {
		path := fmt.Sprintf("edges[%q]", upstream)
		before, had := olds.Edges[upstream]
		after, has := news.Edges[upstream]
		switch {
		case !had:
			diff[path] = p.PropertyDiff{Kind: p.Add, InputDiff: true}
		case !has:
			diff[path] = p.PropertyDiff{Kind: p.Delete, InputDiff: true}
		default:
			maps.Copy(diff, setDiff(path, before, after))
		}
	}
	if olds.Paused != news.Paused {
		diff["paused"] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
	}
	return infer.DiffResponse{HasChanges: len(diff) > 0, DetailedDiff: diff, DeleteBeforeReplace: true}, nil
}

// Update adds the webhooks of new edges and deletes those of removed edges; edges present
// before and after cost no request, unless the graph is paused or resumed.
func (g *DeploymentGraph) Update(
	ctx context.Context, req infer.UpdateRequest[DeploymentGraphArgs, DeploymentGraphState],
) (infer.UpdateResponse[DeploymentGraphState], error) {
	owner := req.State.owner(ctx)
	now, err := g.edges.apply(ctx, edgeChange{owner: owner, want: req.Inputs.edgeList(),
		have: req.State.edgeList(), paused: req.Inputs.Paused, wasPaused: req.State.Paused, field: edgesField},
		req.DryRun)
	if err != nil && !errors.As(err, &infer.ResourceInitFailedError{}) {
		return infer.UpdateResponse[DeploymentGraphState]{}, err
	}
	return infer.UpdateResponse[DeploymentGraphState]{Output: newDeploymentGraphState(req.Inputs, now, owner)}, err
}

// Read lists each upstream stack's webhooks once, with the reads bounded in parallel, and
// keeps the edges this resource owns in the shape it writes them. An import (ID: the
// organization) lists the organization's stacks and adopts the edges recorded as owned
// by the importing resource.
func (g *DeploymentGraph) Read(
	ctx context.Context, req infer.ReadRequest[DeploymentGraphArgs, DeploymentGraphState],
) (infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState], error) {
	org := req.ID
	if err := validateCloudName("DeploymentGraph ID (the organization)", org); err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	client, err := g.edges.clients.get(ctx)
	if err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	importing := req.State.Owner == "" && len(req.State.Edges) == 0
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
		sources = slices.Sorted(maps.Keys(unionKeys(req.State.Edges, req.Inputs.Edges)))
	}
	// The organization's stack list, which the dangling-edge warnings need, is read while the
	// webhooks are: a refresh then waits for one batch of round trips, not two in a row.
	var listed sync.WaitGroup
	listed.Go(func() { _, _ = g.edges.graph.stackExists(ctx, client, stackKey{org: org}) })
	defer listed.Wait()
	found := make([][]string, len(sources))
	errs := make([]error, len(sources))
	forEachRead(len(sources), func(i int) {
		source := stackKey{org: org}.at(sources[i])
		found[i], _, errs[i] = g.edges.ownedEdges(ctx, client, owner, source, req.State.Edges[sources[i]],
			!req.State.Paused)
	})
	if err := errors.Join(errs...); err != nil {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, err
	}
	args := DeploymentGraphArgs{Organization: org, Edges: map[string][]string{}, Paused: req.State.Paused}
	var now []edge
	for i, source := range sources {
		if _, declared := req.State.Edges[source]; declared || len(found[i]) > 0 {
			args.Edges[source] = found[i]
		}
		now = append(now, edgesFrom(stackKey{org: org}.at(source), found[i])...)
	}
	if importing && len(now) == 0 {
		return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{}, fmt.Errorf("importing "+
			"DeploymentGraph %s: no deployment webhook in organization %s is owned by %s: nothing found to import "+
			"(check the organization and the resource name, which must be the one that created the edges)",
			req.ID, org, owner)
	}
	return infer.ReadResponse[DeploymentGraphArgs, DeploymentGraphState]{
		ID: req.ID, Inputs: args, State: newDeploymentGraphState(args, now, owner),
	}, nil
}

// Delete removes the webhooks this resource owns; those already gone count as removed.
func (g *DeploymentGraph) Delete(
	ctx context.Context, req infer.DeleteRequest[DeploymentGraphState],
) (infer.DeleteResponse, error) {
	return infer.DeleteResponse{}, g.edges.deleteAll(ctx, req.ID, req.State.owner(ctx), req.State.edgeList(),
		req.State.Paused, edgesField)
}

// edgeList flattens the graph into edges, upstream stacks in sorted order.
func (a DeploymentGraphArgs) edgeList() []edge {
	var out []edge
	for _, upstream := range slices.Sorted(maps.Keys(a.Edges)) {
		source := stackKey{org: a.Organization}.at(upstream)
		out = append(out, edgesFrom(source, a.Edges[upstream])...)
	}
	return out
}

func newDeploymentGraphState(args DeploymentGraphArgs, now []edge, owner string) DeploymentGraphState {
	edges := map[string][]string{}
	for upstream := range args.Edges {
		edges[upstream] = []string{}
	}
	for _, x := range now {
		edges[x.source.ref()] = append(edges[x.source.ref()], x.ref)
	}
	args.Edges = edges
	return DeploymentGraphState{DeploymentGraphArgs: args, EdgeCount: len(now), Owner: owner, Mermaid: mermaidOf(edges)}
}

func (s DeploymentGraphState) owner(ctx context.Context) string {
	return cmp.Or(s.Owner, resourceURN(ctx))
}

func edgesField(source stackKey) string { return fmt.Sprintf("edges[%q]", source.ref()) }

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
