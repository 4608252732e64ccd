package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// StackSelection selects the stacks whose StackReferences become deployment edges.
type StackSelection struct {
	Projects []string          `pulumi:"projects,optional"`
	Tags     map[string]string `pulumi:"tags,optional"`
}

// Annotate describes the selection.
func (s *StackSelection) Annotate(a infer.Annotator) {
	a.Describe(&s.Projects, "Select the stacks of these projects; all projects when unset.")
	a.Describe(&s.Tags, "Select only stacks that have every one of these tags (name → value).")
}

// referenceGraph is what Pulumi Cloud knows of who reads whom among selected stacks.
type referenceGraph struct {
	selected []string            // project/stack, sorted
	edges    map[string][]string // upstream → selected stacks that read it, both selected
	outside  map[string][]string // selected stack → the stacks outside the selection it reads
}

// readReferences lists the selected stacks (one list per project and tag, following
// continuation tokens) and, for each, the stacks its program reads through a
// StackReference (one request per selected stack, bounded in parallel). A reference
// between two selected stacks is an edge from the one read to the reader.
func (e *edgeEngine) readReferences(ctx context.Context, client Client, org string, sel StackSelection) (
	referenceGraph, error,
) {
	projects := sel.Projects
	if len(projects) == 0 {
		projects = []string{""}
	}
	tags := slices.Sorted(maps.Keys(sel.Tags))
	var filters []cloud.StackFilter
	for _, project := range projects {
		if len(tags) == 0 {
			filters = append(filters, cloud.StackFilter{Organization: org, Project: project})
		}
		for _, tag := range tags {
			filters = append(filters, cloud.StackFilter{Organization: org, Project: project, TagName: tag,
				TagValue: sel.Tags[tag]})
		}
	}
	lists := make([][]cloud.StackSummary, len(filters))
	errs := make([]error, len(filters))
	forEachRead(len(filters), func(i int) { lists[i], errs[i] = client.ListStacks(ctx, filters[i]) })
	if err := errors.Join(errs...); err != nil {
		return referenceGraph{}, describeCloudError("listing the stacks fromStackReferences selects", err)
	}
	// A stack is selected when every tag's list of its project has it.
	count := map[string]int{}
	for _, list := range lists {
		for _, s := range list {
			count[s.ProjectName+"/"+s.StackName]++
		}
	}
	var selected []string
	for ref, n := range count {
		if n == max(len(tags), 1) {
			selected = append(selected, ref)
		}
	}
	slices.Sort(selected)

	reads := make([][]cloud.StackReference, len(selected))
	errs = make([]error, len(selected))
	forEachRead(len(selected), func(i int) {
		k := stackKey{org: org}.at(selected[i])
		reads[i], errs[i] = client.ListUpstreamReferences(ctx, k.org, k.project, k.stack)
		if errs[i] != nil {
			errs[i] = describeCloudError(fmt.Sprintf("reading the stacks %s reads", k), errs[i])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return referenceGraph{}, err
	}
	g := referenceGraph{selected: selected, edges: map[string][]string{}, outside: map[string][]string{}}
	for i, reader := range selected {
		for _, r := range reads[i] {
			upstream := r.Project + "/" + r.Stack
			switch {
			case r.Organization != org || upstream == reader:
			case slices.Contains(selected, upstream):
				g.edges[upstream] = append(g.edges[upstream], reader)
			default:
				g.outside[reader] = append(g.outside[reader], upstream)
			}
		}
	}
	return g, nil
}

// shapeGraph merges the explicit edges with those derived from StackReferences, drops the
// edges longer paths imply (unless keepRedundant), and says at preview what a user should
// know: redundant edges dropped, diamonds that still deploy a stack twice (and whether its
// settings collapse the queue), and references no edge covers.
func (e *edgeEngine) shapeGraph(
	ctx context.Context, client Client, org string, explicit map[string][]string, refs *referenceGraph,
	keepRedundant bool,
) (map[string][]string, error) {
	log := p.GetLogger(ctx)
	union := map[string][]string{}
	for u, ds := range explicit {
		union[u] = slices.Clone(ds)
	}
	if refs != nil {
		for u, ds := range refs.edges {
			for _, d := range ds {
				if !slices.Contains(union[u], d) {
					union[u] = append(union[u], d)
				}
			}
		}
	}
	final := union
	if !keepRedundant {
		reduced, dropped := transitiveReduction(union)
		for _, r := range dropped {
			log.Infof("edge %s → %s left out: %s already deploys %s, after its last upstream; set "+
				"keepRedundantEdges to keep it", r.upstream, r.downstream, arrowPath(r.path), r.downstream)
		}
		final = reduced
	}
	for u := range final {
		if _, declared := explicit[u]; !declared && len(final[u]) == 0 {
			delete(final, u) // an upstream only the references named, with nothing left below it
		}
	}
	for _, d := range diamonds(final) {
		skip := "do not skip intermediate deployments, so it deploys once per path"
		settings, err := e.graph.deploymentSettings(ctx, client, stackKey{org: org}.at(d.downstream))
		if err == nil && skipsIntermediateDeployments(settings) {
			skip = "skip intermediate deployments (operationContext.options.skipIntermediateDeployments), so " +
				"a deployment still queued when the next arrives is skipped and the newest runs"
		}
		log.Warningf("%s is deployed twice after each update of %s, once per path: %s and %s; its deployment "+
			"settings %s", d.downstream, d.upstream, arrowPath(d.paths[0]), arrowPath(d.paths[1]), skip)
	}
	if refs != nil {
		for _, reader := range slices.Sorted(maps.Keys(refs.outside)) {
			for _, upstream := range refs.outside[reader] {
				if !reachable(final, []string{upstream})[reader] {
					log.Warningf("%s reads %s through a StackReference, but no edge redeploys %s when %s "+
						"changes: %s is outside fromStackReferences; select it, or add the edge to edges",
						reader, upstream, reader, upstream, upstream)
				}
			}
		}
	}
	return final, nil
}

// warnUnreferenced warns, for each new edge source → ref, when ref's program does not read
// source through a StackReference: it will be redeployed anyway, maybe needlessly. A
// failure to read the references is not the edge's problem and is not reported.
func (e *edgeEngine) warnUnreferenced(ctx context.Context, client Client, adds []edge) {
	readers := map[stackKey][]string{}
	var targets []stackKey
	for _, x := range adds {
		t := x.source.at(x.ref)
		if _, ok := readers[t]; !ok {
			readers[t] = nil
			targets = append(targets, t)
		}
	}
	reads := make([][]string, len(targets))
	ok := make([]bool, len(targets))
	forEachRead(len(targets), func(i int) {
		refs, err := e.graph.upstreamReferences(ctx, client, targets[i])
		reads[i], ok[i] = refs, err == nil
	})
	for i, t := range targets {
		if ok[i] {
			readers[t] = reads[i]
		}
	}
	for _, x := range adds {
		t := x.source.at(x.ref)
		if refs, known := readers[t]; known && refs != nil && !slices.Contains(refs, x.source.ref()) {
			if e.graph.firstTime("unreferenced\x00" + x.source.String() + "\x00" + x.ref) {
				p.GetLogger(ctx).Warningf("edge %s → %s: %s's program holds no StackReference to %s, so it "+
					"reads nothing of it; it will still be redeployed after each update of %s",
					x.source.ref(), x.ref, x.ref, x.source.ref(), x.source.ref())
			}
		}
	}
}

// upstreamReferences returns the refs of the stacks k's program reads, once per run.
func (g *deployGraph) upstreamReferences(ctx context.Context, client Client, k stackKey) ([]string, error) {
	return entry(g, g.references, k).get(func() ([]string, error) {
		refs, err := client.ListUpstreamReferences(ctx, k.org, k.project, k.stack)
		if err != nil {
			return nil, err
		}
		out := []string{}
		for _, r := range refs {
			if r.Organization == k.org {
				out = append(out, r.Project+"/"+r.Stack)
			}
		}
		return out, nil
	})
}
