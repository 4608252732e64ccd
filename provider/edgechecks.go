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

// checkAdds refuses, before anything is written, new edges that would loop, duplicate an
// edge of another auto-deploy resource, or (with checkTargets) point at a stack that
// cannot be deployed, and warns about duplicates made by hand. The edges that pass are
// recorded as planned, so the rest of this run sees them.
func (e *edgeEngine) checkAdds(
	ctx context.Context, client Client, owner edgeOwner, adds []edge, field func(stackKey) string,
	checkTargets bool,
) error {
	sources := map[stackKey][]string{}
	var order []stackKey
	for _, x := range adds {
		if sources[x.source] == nil {
			order = append(order, x.source)
		}
		sources[x.source] = append(sources[x.source], x.ref)
	}
	// All of these only read, so they run together: the targets, each source's webhooks,
	// and the graph below the targets that the cycle walk follows.
	known := func(k stackKey) bool { return k.org != "" && k.project != "" && k.stack != "" }
	var targets []stackKey
	if checkTargets {
		seen := map[stackKey]bool{}
		for _, x := range adds {
			if t := x.source.at(x.ref); !seen[t] {
				seen[t] = true
				targets = append(targets, t)
			}
		}
	}
	listed := make([]stackHooks, len(order))
	errs := make([]error, len(targets)+2*len(order))
	forEachRead(len(errs), func(i int) {
		switch j := i - len(targets); {
		case j < 0:
			errs[i] = e.graph.checkTarget(ctx, client, targets[i])
		case j < len(order):
			if known(order[j]) {
				listed[j], errs[i] = e.graph.webhooksOf(ctx, client, order[j])
			}
		default:
			if k := order[j-len(order)]; known(k) {
				errs[i] = e.graph.warm(ctx, client, k, sources[k])
			}
		}
	})
	// A bad target is the most useful thing to report; the rest often fail the same way.
	sourceErrs, warmErrs := errs[len(targets):len(targets)+len(order)], errs[len(targets)+len(order):]
	if err := cmp.Or(errors.Join(errs[:len(targets)]...), errors.Join(sourceErrs...), errors.Join(warmErrs...)); err != nil {
		return err
	}
	for j, k := range order {
		if known(k) && !listed[j].exists {
			return fmt.Errorf("stack %s does not exist in Pulumi Cloud, so no webhook can be added to it: create it "+
				"(`pulumi stack init %s`) or correct the organization, project and stack", k, k)
		}
	}

	e.graph.planning.Lock()
	defer e.graph.planning.Unlock()
	org := order[0].org
	for j, source := range order {
		if !known(source) {
			continue // a preview with the stack still unknown: checked once it is known
		}
		for _, ref := range sources[source] {
			if err := e.checkDuplicate(ctx, owner, source, listed[j].hooks, ref, field(source)); err != nil {
				return err
			}
		}
	}
	// One look at the whole graph, as this run has read it, with every new edge in it: a
	// new edge closes a loop when its two stacks end up in one strongly connected part.
	graph := e.graph.visible(org)
	var added []edge
	for _, source := range order {
		if !known(source) {
			continue
		}
		for _, ref := range sources[source] {
			if !slices.Contains(graph[source.ref()], ref) {
				graph[source.ref()] = append(graph[source.ref()], ref)
			}
			added = append(added, edge{source, ref})
		}
	}
	if x, path := firstLoop(graph, added); path != nil {
		return fmt.Errorf("%s: adding %q would create a deployment cycle %s: every update would redeploy the "+
			"stacks in it forever; remove one of these edges", field(x.source), x.ref, strings.Join(path, " → "))
	}
	for _, source := range order {
		if known(source) {
			e.graph.plan(source, owner.urn, sources[source])
		}
	}
	e.warnRedundant(ctx, graph, added)
	return nil
}

// firstLoop returns the first of added that closes a loop in graph (which holds it), with
// the loop from its source back to it, or a nil path.
func firstLoop(graph map[string][]string, added []edge) (edge, []string) {
	component := stronglyConnected(graph)
	for _, x := range added {
		from, to := x.source.ref(), x.ref
		if c, ok := component[from]; ok && c == component[to] {
			back := pathBetween(graph, []string{to}, from)
			return x, append([]string{from}, back...)
		}
	}
	return edge{}, nil
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
func (e *edgeEngine) warnRedundant(ctx context.Context, graph map[string][]string, added []edge) {
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
