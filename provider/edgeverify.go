package provider

// Reading back after the writes. The checks before a write see the graph as it was; two
// programs running `pulumi up` at once each pass them before the other writes, and
// together they can close a loop (one adds m → n, the other n → m) or double an edge (a
// Webhook resource and a DeploymentGraph both add a → b). So once its writes are done,
// each reads the graph around its new edges again, fresh, and undoes a new edge of its
// own that now loops or doubles. Of two writers, the later one reads after the earlier
// one's write, so at least one of them sees the problem; when both do, both undo and
// fail, and a retry then succeeds for exactly one.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// freshGraph is the webhooks of stacks as read now, each stack once, bypassing the run's
// cache (which holds what the checks read before the writes).
type freshGraph struct {
	org   string
	hooks map[string][]cloud.Webhook // ref → webhooks; a missing stack has none
}

// readFresh lists the webhooks of sources, and of targets and every stack their
// deployment edges reach, a level at a time with the level's reads in parallel: what a
// duplicate (at the sources) and a loop (below the targets) would show in.
func readFresh(ctx context.Context, client Client, org string, sources, targets []string) (*freshGraph, error) {
	g := &freshGraph{org: org, hooks: map[string][]cloud.Webhook{}}
	if err := g.read(ctx, client, sources); err != nil {
		return nil, err
	}
	expanded := map[string]bool{}
	level := targets
	for len(level) > 0 {
		if err := g.read(ctx, client, level); err != nil {
			return nil, err
		}
		for _, ref := range level {
			expanded[ref] = true
		}
		var next []string
		queued := map[string]bool{}
		for _, ref := range level {
			for _, h := range g.hooks[ref] {
				// A webhook made by hand may point anywhere: only project/stack refs are stacks.
				to := deployTarget(h)
				if firesDeployment(h) && strings.Contains(to, "/") && !expanded[to] && !queued[to] {
					queued[to] = true
					next = append(next, to)
				}
			}
		}
		level = next
	}
	return g, nil
}

// read lists the webhooks of the refs not read yet, in parallel.
func (g *freshGraph) read(ctx context.Context, client Client, refs []string) error {
	var todo []string
	for _, ref := range slices.Compact(slices.Sorted(slices.Values(refs))) {
		if _, done := g.hooks[ref]; !done {
			todo = append(todo, ref)
		}
	}
	listed := make([]stackHooks, len(todo))
	errs := make([]error, len(todo))
	forEachRead(len(todo), func(i int) {
		listed[i], errs[i] = listWebhooks(ctx, client, stackKey{org: g.org}.at(todo[i]))
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, ref := range todo {
		g.hooks[ref] = listed[i].hooks
	}
	return nil
}

// edges is the deployment graph the fresh listings show.
func (g *freshGraph) edges() map[string][]string {
	out := map[string][]string{}
	for ref, hooks := range g.hooks {
		for _, h := range hooks {
			if to := deployTarget(h); firesDeployment(h) && !slices.Contains(out[ref], to) {
				out[ref] = append(out[ref], to)
			}
		}
	}
	return out
}

// describeEdge names the webhooks that make source → ref, with their owners, for a
// message: "webhook autodeploy-… (owner: urn…)".
func (g *freshGraph) describeEdge(source, ref string) string {
	var parts []string
	for _, h := range g.hooks[source] {
		if deployTarget(h) != ref || !firesDeployment(h) {
			continue
		}
		who := ownerOf(h)
		if who == "" {
			who = fmt.Sprintf("display name %q", h.DisplayName)
		} else {
			who = "owner: " + who
		}
		parts = append(parts, fmt.Sprintf("webhook %s (%s)", h.Name, who))
	}
	return fmt.Sprintf("%s → %s by %s", source, ref, strings.Join(parts, " and "))
}

// verifyAdds reads back the graph around the adds that were written (those whose failure
// is nil) and, for each that now loops or doubles, sets its failure to say why.
func (e *edgeEngine) verifyAdds(
	ctx context.Context, client Client, owner edgeOwner, ops edgeOps, failures []error, field func(stackKey) string,
) {
	var written []stackEdge
	var at []int
	for i := range ops.add {
		if failures[i] == nil {
			written, at = append(written, ops.add[i]), append(at, i)
		}
	}
	for k, err := range e.readBack(ctx, client, owner, written, field) {
		if err != nil {
			failures[at[k]] = err
		}
	}
}

// readBack reads the graph around edges, just written by owner, afresh and undoes each
// that now closes a loop or that another auto-deploy resource's webhook doubles; it
// returns each edge's failure (nil when it stands). A read that fails leaves the edges as
// written: the checks before the write passed, and the failure says the read back could
// not be made.
func (e *edgeEngine) readBack(
	ctx context.Context, client Client, owner edgeOwner, edges []stackEdge, field func(stackKey) string,
) []error {
	failures := make([]error, len(edges))
	if len(edges) == 0 {
		return failures
	}
	var sources, targets []string
	for _, x := range edges {
		sources, targets = append(sources, x.source.ref()), append(targets, x.ref)
	}
	fresh, err := readFresh(ctx, client, edges[0].source.org, sources, targets)
	if err != nil {
		for i, x := range edges {
			failures[i] = &edgeError{"reading back", x, err}
		}
		return failures
	}
	graph := fresh.edges()
	component := stronglyConnected(graph)
	for i, x := range edges {
		from, to := x.source.ref(), x.ref
		var problem string
		if c, ok := component[from]; ok && c == component[to] {
			loop := append([]string{from}, pathBetween(graph, []string{to}, from)...)
			var others []string
			for k := 1; k+1 < len(loop); k++ {
				others = append(others, fresh.describeEdge(loop[k], loop[k+1]))
			}
			problem = fmt.Sprintf("it now closes the deployment cycle %s, with %s written meanwhile by another "+
				"program", arrowPath(loop), strings.Join(others, "; "))
		} else if dup := doubling(fresh.hooks[from], owner, to); dup != "" {
			problem = "it now doubles " + dup + ", written meanwhile by another program, so " + to +
				" would deploy twice after each update of " + from
		}
		if problem != "" {
			failures[i] = e.undo(ctx, client, owner, x, field, problem)
		}
	}
	return failures
}

// doubling names the webhook of hooks, other than owner's own, that an auto-deploy
// resource made and that deploys ref after each update, or returns "". Webhooks made by
// hand were warned about before the write and are left to the user.
func doubling(hooks []cloud.Webhook, owner edgeOwner, ref string) string {
	for _, h := range hooks {
		if deployTarget(h) != ref || !firesOnUpdate(h) || h.Name == owner.webhook {
			continue
		}
		switch {
		case owner.webhook != "" && isEdge(h):
			return fmt.Sprintf("the edge webhook %s (owner: %s)", h.Name, cmp.Or(ownerOf(h), "not recorded"))
		case isWebhookResourceName(h.Name) && h.Name != owner.webhook:
			return fmt.Sprintf("the Webhook resource's webhook %s (display name %q)", h.Name, h.DisplayName)
		}
	}
	return ""
}

// undo deletes owner's new webhook for x, if it is still owner's, and returns the failure
// that says why: the problem found, and that running again settles it.
func (e *edgeEngine) undo(
	ctx context.Context, client Client, owner edgeOwner, x stackEdge, field func(stackKey) string, problem string,
) error {
	name := owner.webhook
	if name == "" {
		name = edge.Name(x.ref)
	}
	err := client.DeleteWebhook(ctx, x.source.scope(), name)
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return fmt.Errorf("%s: the edge %s → %s was written, but %s; undoing it failed, so delete webhook %q "+
			"on %s by hand: %w", field(x.source), x.source.ref(), x.ref, problem, name, x.source, err)
	}
	e.graph.markRemoved(x.source, name)
	e.graph.unplan(x.source, owner.urn, []string{x.ref})
	return fmt.Errorf("%s: the edge %s → %s was written and undone: %s. Two programs changed the graph at once; "+
		"declare each edge in one program, then run again: the next run keeps exactly one", field(x.source),
		x.source.ref(), x.ref, problem)
}
