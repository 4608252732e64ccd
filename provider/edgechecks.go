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
	for j, source := range order {
		if !known(source) {
			continue // a preview with the stack still unknown: checked once it is known
		}
		for _, ref := range sources[source] {
			if err := e.checkDuplicate(ctx, owner, source, listed[j].hooks, ref, field(source)); err != nil {
				return err
			}
			if path, err := e.graph.pathTo(ctx, client, source, ref); err != nil {
				return err
			} else if path != nil {
				return fmt.Errorf("%s: adding %q would create a deployment cycle %s: every update would "+
					"redeploy the stacks in it forever; remove one of these edges", field(source), ref,
					strings.Join(path, " → "))
			}
		}
		e.graph.plan(source, owner.urn, sources[source])
	}
	visible := e.graph.visible(order[0].org)
	for _, source := range order {
		e.warnRedundant(ctx, visible, source, sources[source])
	}
	return nil
}

// warnRedundant warns when a new edge source → ref and another edge of source both lead
// to the same stack, as far as this run has read the graph: that stack then deploys twice
// after each update of source, the first time before its other upstreams are done.
func (e *edgeEngine) warnRedundant(ctx context.Context, visible map[string][]string, source stackKey, added []string) {
	targets := visible[source.ref()]
	warn := func(direct, via []string, what string) {
		if e.graph.firstTime("redundant\x00" + arrowPath(via)) {
			p.GetLogger(ctx).Warningf("%s → %s is implied by the longer path %s: %s deploys twice after each "+
				"update of %s, the first time before its other upstreams are done; %s", direct[0], direct[1],
				arrowPath(via), direct[1], direct[0], what)
		}
	}
	for _, ref := range added {
		others := slices.DeleteFunc(slices.Clone(targets), func(t string) bool { return t == ref })
		if path := pathBetween(visible, others, ref); path != nil {
			warn([]string{source.ref(), ref}, append([]string{source.ref()}, path...),
				"leave "+ref+" out of this edge list")
		}
		for _, other := range others {
			if path := pathBetween(visible, []string{ref}, other); path != nil {
				warn([]string{source.ref(), other}, append([]string{source.ref()}, path...),
					"remove the edge to "+other)
			}
		}
		// Another stack that deploys ref directly, and source through a longer path.
		for _, upstream := range slices.Sorted(maps.Keys(visible)) {
			if upstream == source.ref() || !slices.Contains(visible[upstream], ref) {
				continue
			}
			siblings := slices.DeleteFunc(slices.Clone(visible[upstream]), func(t string) bool { return t == ref })
			if path := pathBetween(visible, siblings, source.ref()); path != nil {
				warn([]string{upstream, ref}, slices.Concat([]string{upstream}, path, []string{ref}),
					"remove the edge "+upstream+" → "+ref)
			}
		}
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
