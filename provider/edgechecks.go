package provider

// The checks a new edge passes before anything is written, in preview and up alike.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// addChecks says which checks new edges pass before they are written, besides loops and
// duplicates among the edges this run has read and plans.
type addChecks struct {
	// targets: each target exists and has deployment settings.
	targets bool
	// walk: read the whole graph below the targets first, for loops through edges in place.
	// Preview does; an up judges its new edges against the graph read after its writes
	// (race) and so reads it once, not twice.
	walk bool
	// implied: warn about edges a longer path implies, unless the resource keeps them on
	// purpose (through a relay, or with keepRedundantEdges).
	implied bool
}

// checkAdds refuses, before anything is written, new edges that would loop, duplicate an
// edge of another auto-deploy resource, or point at a stack that cannot be deployed (as
// checks says), and warns about duplicates made by hand. The edges that pass are recorded
// as planned, all of them or none, so the rest of this run sees them.
func (e *edgeEngine) checkAdds(
	ctx context.Context, client Client, owner edgeOwner, adds []stackEdge, field func(stackKey) string,
	checks addChecks,
) error {
	bySource := groupBySource(adds)
	listed, err := e.readForChecks(ctx, client, bySource, adds, field, checks)
	if err != nil {
		return err
	}
	if err := refuseMissingSources(bySource, listed); err != nil {
		return err
	}
	e.graph.planning.Lock()
	defer e.graph.planning.Unlock()
	if err := e.refuseDuplicates(ctx, owner, bySource, listed, field); err != nil {
		return err
	}
	graph, added := e.graphWith(bySource)
	if x, path := firstLoop(graph, added); path != nil {
		return fmt.Errorf("%s: adding %q would create a deployment cycle %s: every update would redeploy the "+
			"stacks in it forever; remove one of these edges", field(x.source), x.ref, strings.Join(path, " → "))
	}
	for _, g := range bySource {
		if g.source.isKnown() {
			e.graph.plan(g.source, owner.urn, g.refs)
		}
	}
	if checks.implied {
		e.warnRedundant(ctx, graph, added)
	}
	return nil
}

// sourceEdges is one source stack's new edges.
type sourceEdges struct {
	source stackKey
	refs   []string
}

func groupBySource(adds []stackEdge) []sourceEdges {
	var out []sourceEdges
	index := map[stackKey]int{}
	for _, x := range adds {
		i, ok := index[x.source]
		if !ok {
			i = len(out)
			index[x.source] = i
			out = append(out, sourceEdges{source: x.source})
		}
		out[i].refs = append(out[i].refs, x.ref)
	}
	return out
}

// isKnown reports whether every part of the stack's name is known; in a preview with
// the stack still unknown, its checks wait until it is.
func (k stackKey) isKnown() bool { return k.org != "" && k.project != "" && k.stack != "" }

// readForChecks reads everything the checks need, all at once since it only reads: each
// target's settings, each source's webhooks, and (checks.walk) the graph below the targets
// that the loop check follows. A bad target is the most useful failure to report, named
// with the field of its first edge; the rest often fail the same way.
func (e *edgeEngine) readForChecks(
	ctx context.Context, client Client, bySource []sourceEdges, adds []stackEdge, field func(stackKey) string,
	checks addChecks,
) ([]stackHooks, error) {
	var targets []stackKey
	fieldOf := map[stackKey]string{}
	if checks.targets {
		for _, x := range adds {
			if t := x.source.at(x.ref); fieldOf[t] == "" {
				fieldOf[t] = field(x.source)
				targets = append(targets, t)
			}
		}
	}
	listed := make([]stackHooks, len(bySource))
	targetErrs := make([]error, len(targets))
	sourceErrs := make([]error, len(bySource))
	warmErrs := make([]error, len(bySource))
	forEachRead(len(targets)+2*len(bySource), func(i int) {
		switch j := i - len(targets); {
		case j < 0:
			if err := e.graph.checkTarget(ctx, client, targets[i]); err != nil {
				targetErrs[i] = forField(err, fieldOf[targets[i]])
			}
		case j < len(bySource):
			if k := bySource[j].source; k.isKnown() {
				listed[j], sourceErrs[j] = e.graph.webhooksOf(ctx, client, k)
			}
		default:
			if g := bySource[j-len(bySource)]; g.source.isKnown() && checks.walk {
				warmErrs[j-len(bySource)] = e.graph.warm(ctx, client, g.source, g.refs)
			}
		}
	})
	return listed, cmp.Or(errors.Join(targetErrs...), errors.Join(sourceErrs...), errors.Join(warmErrs...))
}

// refuseMissingSources refuses edges out of a stack that does not exist.
func refuseMissingSources(bySource []sourceEdges, listed []stackHooks) error {
	for j, g := range bySource {
		if k := g.source; k.isKnown() && !listed[j].exists {
			return fmt.Errorf("stack %s does not exist in Pulumi Cloud, so no webhook can be added to it: create it "+
				"(`pulumi stack init %s`) or correct the organization, project and stack", k, k)
		}
	}
	return nil
}

// refuseDuplicates refuses a new edge that another auto-deploy resource declares or owns.
func (e *edgeEngine) refuseDuplicates(
	ctx context.Context, owner edgeOwner, bySource []sourceEdges, listed []stackHooks, field func(stackKey) string,
) error {
	for j, g := range bySource {
		if !g.source.isKnown() {
			continue
		}
		for _, ref := range g.refs {
			if err := e.checkDuplicate(ctx, owner, g.source, listed[j].hooks, ref, field(g.source)); err != nil {
				return err
			}
		}
	}
	return nil
}

// graphWith is the whole graph as this run has read it, with every new edge in it, and
// the new edges whose stacks are known.
func (e *edgeEngine) graphWith(bySource []sourceEdges) (map[string][]string, []stackEdge) {
	var added []stackEdge
	var graph map[string][]string
	for _, g := range bySource {
		if !g.source.isKnown() {
			continue
		}
		if graph == nil {
			graph = e.graph.visible(g.source.org)
		}
		for _, ref := range g.refs {
			if !slices.Contains(graph[g.source.ref()], ref) {
				graph[g.source.ref()] = append(graph[g.source.ref()], ref)
			}
			added = append(added, stackEdge{g.source, ref})
		}
	}
	return graph, added
}

// firstLoop returns the first of added that closes a loop in graph (which holds it), with
// the loop from its source back to it, or a nil path.
func firstLoop(graph map[string][]string, added []stackEdge) (stackEdge, []string) {
	component := stronglyConnected(graph)
	for _, x := range added {
		from, to := x.source.ref(), x.ref
		if c, ok := component[from]; ok && c == component[to] {
			back := pathBetween(graph, []string{to}, from)
			return x, append([]string{from}, back...)
		}
	}
	return stackEdge{}, nil
}

// stronglyConnected numbers the strongly connected parts of graph (Tarjan's algorithm):
// two stacks share a number when each reaches the other.
func stronglyConnected(graph map[string][]string) map[string]int {
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	component := map[string]int{}
	next, parts := 0, 0
	var visit func(v string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range graph[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				component[w] = parts
				if w == v {
					break
				}
			}
			parts++
		}
	}
	for _, v := range slices.Sorted(maps.Keys(graph)) {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	return component
}

// warnRedundant warns about the edges of graph that a longer path implies, where a new
// edge is the implied one or makes another edge implied: the stack at its end then
// deploys twice after each update of its upstream, the first time before its other
// upstreams are done. A few lines, then a count.
func (e *edgeEngine) warnRedundant(ctx context.Context, graph map[string][]string, added []stackEdge) {
	isNew := map[[2]string]bool{}
	sources, targets := map[string]bool{}, map[string]bool{}
	for _, x := range added {
		isNew[[2]string{x.source.ref(), x.ref}] = true
		sources[x.source.ref()], targets[x.ref] = true, true
	}
	_, redundant := transitiveReduction(graph)
	var lines []string
	for _, r := range redundant {
		var fix string
		switch {
		case isNew[[2]string{r.upstream, r.downstream}]:
			fix = "leave " + r.downstream + " out of this edge list"
		case sources[r.upstream]:
			fix = "remove the edge to " + r.downstream
		case targets[r.downstream]:
			fix = "remove the edge " + r.upstream + " → " + r.downstream
		default:
			continue // neither made nor changed by this resource
		}
		if e.graph.firstTime("redundant\x00" + arrowPath(r.path)) {
			lines = append(lines, fmt.Sprintf("%s → %s is implied by the longer path %s: %s deploys twice after "+
				"each update of %s, the first time before its other upstreams are done; %s", r.upstream,
				r.downstream, arrowPath(r.path), r.downstream, r.upstream, fix))
		}
	}
	log := p.GetLogger(ctx)
	for i, line := range lines {
		if i == maxShapeLines {
			log.Warningf("%d more edges are implied by longer paths (%d in all): each deploys its stack twice "+
				"after an update; remove them", len(lines)-i, len(lines))
			break
		}
		log.Warning(line)
	}
}

// ownershipAdvice says what to do about an edge owned by other, for a resource urn that
// declares it too: aliases only where they can help (a rename of the same type in the
// same stack), otherwise one declaration in one program.
func ownershipAdvice(other, urn string) string {
	switch {
	case sameStack(other, urn) && urnType(other) == urnType(urn):
		return fmt.Sprintf("If this resource was renamed from that one, add it to this resource's aliases "+
			"(aliases: [%q]) so the edge is kept; if both resources declare the edge, remove it from one of them",
			other)
	case sameStack(other, urn):
		return "Both resources are in this program: declare the edge in one of them only (to move edges from " +
			"one to the other, remove them from the first in the same update)"
	default:
		return "That resource is in another program (stack " + urnStack(other) + "): declare each edge in one " +
			"program only, and remove it there first"
	}
}

// URNs read urn:pulumi:<stack>::<project>::<type>::<name>.
func urnParts(urn string) []string {
	return strings.SplitN(strings.TrimPrefix(urn, "urn:pulumi:"), "::", 4)
}

func urnStack(urn string) string {
	if parts := urnParts(urn); len(parts) == 4 {
		return parts[1] + "/" + parts[0]
	}
	return urn
}

func urnType(urn string) string {
	if parts := urnParts(urn); len(parts) == 4 {
		return parts[2]
	}
	return ""
}

// sameStack reports whether two URNs are resources of one stack of one project: one program.
func sameStack(a, b string) bool {
	pa, pb := urnParts(a), urnParts(b)
	return len(pa) == 4 && len(pb) == 4 && pa[0] == pb[0] && pa[1] == pb[1]
}

// checkDuplicate refuses an edge that another auto-deploy resource declares or owns, and
// warns about a webhook made another way that already deploys the target on update.
func (e *edgeEngine) checkDuplicate(
	ctx context.Context, owner edgeOwner, source stackKey, hooks []cloud.Webhook, ref, field string,
) error {
	arrow := fmt.Sprintf("%s → %s", source.ref(), ref)
	if other, ok := e.graph.plannedBy(source, ref); ok && other != owner.urn {
		return fmt.Errorf("%s: the edge %s is also declared by %s in this program; declare each edge once "+
			"(remove it from one of the two resources), or %s would deploy twice after every update of %s",
			field, arrow, other, ref, source.ref())
	}
	for _, h := range hooks {
		// Another writer's pending edge is not in place yet: the rule judges the two when
		// this one has been written too (race).
		if deployTarget(h) != ref || h.Name == owner.webhook || e.graph.isRemoved(source, h.Name) || isPending(h) {
			continue
		}
		switch {
		case isEdge(h):
			// Whoever owns it, active or not: a second owner would take it over, unless the
			// owner is of this stack and leaves the program in this update (a move between
			// AutoDeployers and a DeploymentGraph in one edit).
			other := ownerOf(h)
			if other == "" || other == owner.urn || e.graph.handsOver(source, ref, other, owner.urn) {
				continue
			}
			if owner.webhook == "" && sameStack(other, owner.urn) && e.graph.handOverFrom(source, ref, other,
				owner.urn) {
				p.GetLogger(ctx).Infof("the edge %s passes from %s to this resource: %s is no longer in the "+
					"program, and its delete at the end of this update leaves the webhook to this one (no edge's "+
					"webhook is deleted or created; its mark on the target passes over too)", arrow, other, other)
				continue
			}
			return fmt.Errorf("%s: the edge %s already exists in Pulumi Cloud and is owned by %s (webhook %q "+
				"on %s). %s", field, arrow, other, h.Name, source, ownershipAdvice(other, owner.urn))
		case !firesOnUpdate(h):
		case isWebhookResourceName(h.Name):
			return fmt.Errorf("%s: the edge %s is already made by an auto-deploy Webhook resource (webhook %q, "+
				"display name %q, on %s); declare each edge once, with an AutoDeployer or a Webhook, not both",
				field, arrow, h.Name, h.DisplayName, source)
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
