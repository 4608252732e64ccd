package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

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
	a.Describe(&s.Projects, "Select the stacks of these projects; all projects when unset. A project named "+
		"twice is selected once.")
	a.Describe(&s.Tags, "Select only stacks that have every one of these tags (name → value); an empty value "+
		"selects every stack that has the tag, whatever its value.")
}

// validate refuses a selection that cannot mean what it says, naming the element.
func (s StackSelection) validate() []p.CheckFailure {
	var failures []p.CheckFailure
	for i, project := range s.Projects {
		if err := validateCloudName(fmt.Sprintf("fromStackReferences.projects[%d]", i), project); err != nil {
			failures = append(failures, p.CheckFailure{Property: "fromStackReferences", Reason: err.Error()})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Tags)) {
		if name == "" {
			failures = append(failures, p.CheckFailure{Property: "fromStackReferences", Reason: "fromStackReferences." +
				"tags has an empty tag name: name the tag a stack must have, e.g. {environment: production}"})
		}
	}
	return failures
}

// DiscoveredStack is what discovery last read of one selected stack: the stacks its
// program reads, and when. A stack's references only change when it updates, and an
// update records them when it ends, while lastUpdate is when it started. So the next
// discovery reads them again if the stack's lastUpdate moved, if an update may have
// started in the very second they were read, or if an update was running when they were.
type DiscoveredStack struct {
	LastUpdate int      `pulumi:"lastUpdate"`
	ReadAt     int      `pulumi:"readAt"`
	Reads      []string `pulumi:"reads,optional"`
	Updating   bool     `pulumi:"updating,optional"`
}

// Annotate describes one discovered stack.
func (d *DiscoveredStack) Annotate(a infer.Annotator) {
	a.Describe(&d.LastUpdate, "The stack's lastUpdate (Unix seconds) in the stack list when its references were read.")
	a.Describe(&d.ReadAt, "When Pulumi Cloud answered the read of its references (Unix seconds, the answer's Date).")
	a.Describe(&d.Reads, "The stacks of the same organization its program reads through a StackReference, as "+
		"`project/stack`.")
	a.Describe(&d.Updating, "An update of the stack was running when its references were read: what that "+
		"update reads is recorded when it ends, without moving lastUpdate, so the next discovery reads them again.")
}

// fresh reports whether the entry still describes a stack whose lastUpdate is now: an
// update that started in the second of the read, or one running at the read, could have
// recorded references after it, unseen.
func (d DiscoveredStack) fresh(lastUpdate int) bool {
	return d.LastUpdate == lastUpdate && d.ReadAt > d.LastUpdate && !d.Updating
}

// referenceGraph is what Pulumi Cloud knows of who reads whom among selected stacks.
type referenceGraph struct {
	selected []string            // project/stack, sorted
	edges    map[string][]string // upstream → selected stacks that read it, both selected
	outside  map[string][]string // selected stack → the stacks outside the selection it reads
	// known is what was read, for the next discovery; reread counts the stacks read now.
	known  map[string]DiscoveredStack
	reread int
}

// readReferences lists the selected stacks (one list per project and tag, following
// continuation tokens) and reads the references of those updated since known was read
// (one request per such stack, bounded in parallel). A reference between two selected
// stacks is an edge from the one read to the reader.
func (e *edgeEngine) readReferences(
	ctx context.Context, client Client, org string, sel StackSelection, known map[string]DiscoveredStack,
) (referenceGraph, error) {
	projects := slices.Compact(slices.Sorted(slices.Values(sel.Projects)))
	if len(projects) == 0 {
		projects = []string{""}
	}
	tags := slices.Sorted(maps.Keys(sel.Tags))
	type list struct {
		filter cloud.StackFilter
		stacks []cloud.StackSummary
		err    error
	}
	var lists []*list
	for _, project := range projects {
		if len(tags) == 0 {
			lists = append(lists, &list{filter: cloud.StackFilter{Organization: org, Project: project}})
		}
		for _, tag := range tags {
			lists = append(lists, &list{filter: cloud.StackFilter{Organization: org, Project: project, TagName: tag,
				TagValue: sel.Tags[tag]}})
		}
	}
	forEachRead(len(lists), func(i int) { lists[i].stacks, lists[i].err = client.ListStacks(ctx, lists[i].filter) })
	var errs []error
	for _, l := range lists {
		errs = append(errs, l.err)
	}
	if err := errors.Join(errs...); err != nil {
		return referenceGraph{}, describeCloudError("listing the stacks fromStackReferences selects", err)
	}
	// Per project, a stack is selected when every tag's list has it; the projects' stacks
	// are then one set, however often a project is named.
	lastUpdate := map[string]int{}
	selectedSet := map[string]bool{}
	for _, project := range projects {
		var inAll map[string]bool
		for _, l := range lists {
			if l.filter.Project != project {
				continue
			}
			here := map[string]bool{}
			for _, s := range l.stacks {
				ref := s.ProjectName + "/" + s.StackName
				here[ref] = true
				lastUpdate[ref] = int(s.LastUpdate)
			}
			if inAll == nil {
				inAll = here
			} else {
				maps.DeleteFunc(inAll, func(ref string, _ bool) bool { return !here[ref] })
			}
		}
		for ref := range inAll {
			selectedSet[ref] = true
		}
	}
	selected := slices.Sorted(maps.Keys(selectedSet))

	g := referenceGraph{selected: selected, edges: map[string][]string{}, outside: map[string][]string{},
		known: make(map[string]DiscoveredStack, len(selected))}
	var stale []string
	for _, ref := range selected {
		if entry, ok := known[ref]; ok && entry.fresh(lastUpdate[ref]) {
			g.known[ref] = entry
		} else {
			stale = append(stale, ref)
		}
	}
	read := make([]DiscoveredStack, len(stale))
	errs = make([]error, len(stale))
	forEachRead(len(stale), func(i int) {
		k := stackKey{org: org}.at(stale[i])
		// Whether an update runs is read before the references: if none does, every update
		// begun so far has recorded its references by the time they are read, and one that
		// begins later moves lastUpdate past this one (or into the second of the read, which
		// fresh catches). A stack never updated has nothing running.
		updating := false
		if lastUpdate[stale[i]] != 0 {
			st, err := client.GetStack(ctx, k.org, k.project, k.stack)
			if err != nil {
				errs[i] = describeCloudError(fmt.Sprintf("reading whether %s is updating", k), err)
				return
			}
			updating = st.Updating()
		}
		answer, err := client.ReadUpstreamReferences(ctx, k.org, k.project, k.stack)
		if err != nil {
			errs[i] = describeCloudError(fmt.Sprintf("reading the stacks %s reads", k), err)
			return
		}
		read[i] = DiscoveredStack{LastUpdate: lastUpdate[stale[i]], ReadAt: int(answer.AnsweredAt.Unix()),
			Reads: sameOrganizationRefs(org, stale[i], answer.Stacks), Updating: updating}
	})
	if err := errors.Join(errs...); err != nil {
		return referenceGraph{}, err
	}
	for i, ref := range stale {
		g.known[ref] = read[i]
	}
	g.reread = len(stale)
	isSelected := func(ref string) bool { _, ok := slices.BinarySearch(selected, ref); return ok }
	for _, reader := range selected {
		for _, upstream := range g.known[reader].Reads {
			if isSelected(upstream) {
				g.edges[upstream] = append(g.edges[upstream], reader)
			} else {
				g.outside[reader] = append(g.outside[reader], upstream)
			}
		}
	}
	return g, nil
}

// sameOrganizationRefs turns a stack's references into sorted project/stack refs of its
// own organization, itself left out.
func sameOrganizationRefs(org, self string, refs []cloud.StackReference) []string {
	out := []string{}
	for _, r := range refs {
		ref := r.Project + "/" + r.Stack
		if r.Organization == org && ref != self && !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	slices.Sort(out)
	return out
}

// warnUnreferenced warns, for each new edge source → ref, when ref's program does not read
// source through a StackReference: it will be redeployed anyway, maybe needlessly. The
// references of stacks in known are not read again. A failure to read the references is
// not the edge's problem and is not reported.
func (e *edgeEngine) warnUnreferenced(ctx context.Context, client Client, adds []stackEdge, known map[string][]string) {
	readers := map[stackKey][]string{}
	var targets []stackKey
	for _, x := range adds {
		t := x.source.at(x.ref)
		if _, ok := readers[t]; ok {
			continue
		}
		if reads, ok := known[x.ref]; ok {
			readers[t] = append([]string{}, reads...)
			continue
		}
		readers[t] = nil
		targets = append(targets, t)
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
	var lines []string
	for _, x := range adds {
		t := x.source.at(x.ref)
		if refs, known := readers[t]; known && refs != nil && !slices.Contains(refs, x.source.ref()) {
			if e.graph.firstTime("unreferenced\x00" + x.source.String() + "\x00" + x.ref) {
				lines = append(lines, fmt.Sprintf("%s → %s", x.source.ref(), x.ref))
			}
		}
	}
	log := p.GetLogger(ctx)
	switch {
	case len(lines) == 1:
		x := strings.Split(lines[0], " → ")
		log.Warningf("edge %s: %s's program holds no StackReference to %s, so it reads nothing of it; it will "+
			"still be redeployed after each update of %s", lines[0], x[1], x[0], x[0])
	case len(lines) > 1:
		shown := lines[:min(maxShapeLines, len(lines))]
		more := ""
		if len(lines) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(lines)-len(shown))
		}
		log.Warningf("%d edges go to stacks whose programs hold no StackReference to their upstream, so they read "+
			"nothing of it: %s%s; each will still be redeployed after each update of its upstream", len(lines),
			strings.Join(shown, ", "), more)
	}
}

// upstreamReferences returns the refs of the stacks k's program reads, once per run.
func (g *deployGraph) upstreamReferences(ctx context.Context, client Client, k stackKey) ([]string, error) {
	return entry(g, g.references, k).get(func() ([]string, error) {
		answer, err := client.ReadUpstreamReferences(ctx, k.org, k.project, k.stack)
		if err != nil {
			return nil, err
		}
		return sameOrganizationRefs(k.org, k.ref(), answer.Stacks), nil
	})
}
