package provider

// The writes of the edge engine: one webhook created, paused or resumed, or deleted, and
// how their failures are reported.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// edgeError is why one edge could not be written: verb says what was being done to it.
type edgeError struct {
	verb string
	x    stackEdge
	err  error
}

func (f *edgeError) Error() string {
	return describeCloudError(fmt.Sprintf("%s the deployment webhook %s → %s", f.verb, f.x.source, f.x.ref),
		f.err).Error()
}

func (f *edgeError) Unwrap() error { return f.err }

// kind is what makes two failures the same failure, whatever their edges: the verb and
// the service's answer (status and message, not the path); an error of another kind is
// its own.
func (f *edgeError) kind() string {
	var api *cloud.APIError
	if errors.As(f.err, &api) {
		return fmt.Sprintf("%s\x00%d\x00%s", f.verb, api.StatusCode, api.Message)
	}
	return f.Error()
}

// maxFailureExamples is how many more edges a summarized failure names.
const maxFailureExamples = 3

// groupedFailure is a failure of one edge that others can share: those of one kind are
// reported once.
type groupedFailure interface {
	error
	kind() string
	failedEdge() stackEdge
}

func (f *edgeError) failedEdge() stackEdge { return f.x }

// summarizeFailures reports failures once per kind: the first in full, then how many more
// edges failed the same way and a few of them. A revoked token at 10,000 edges is one
// line, not 10,000.
func summarizeFailures(failures []error) []string {
	var order []string
	groups := map[string][]error{}
	for _, err := range failures {
		key := err.Error()
		var g groupedFailure
		if errors.As(err, &g) {
			key = g.kind()
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], err)
	}
	out := make([]string, 0, len(order))
	for _, key := range order {
		group := groups[key]
		line := group[0].Error()
		if more := group[1:]; len(more) > 0 {
			var names []string
			for _, err := range more[:min(maxFailureExamples, len(more))] {
				var g groupedFailure
				if errors.As(err, &g) {
					names = append(names, fmt.Sprintf("%s → %s", g.failedEdge().source, g.failedEdge().ref))
				}
			}
			rest := ""
			if len(more) > len(names) {
				rest = fmt.Sprintf(" and %d more", len(more)-len(names))
			}
			line += fmt.Sprintf(" (the same for %d more edges: %s%s)", len(more), strings.Join(names, ", "), rest)
		}
		out = append(out, line)
	}
	return out
}

// addState is where a new edge stands once ensureEdge has written it.
type addState int

const (
	// addPending: written pending under this owner: to be judged (race), then put in place.
	addPending addState = iota
	// addInPlace: in place in its final form already (handed over in this run, or this
	// owner's from before): nothing to judge.
	addInPlace
	// addHeld: another owner's pending webhook has its name; the race judges which stays.
	addHeld
)

// ensureEdge writes a new edge pending under its deterministic name (race judges it and
// puts it in place). Finding one there already means an earlier attempt of this owner
// landed (its answer lost, the provider stopped, or `pulumi up --replace`): it is adopted,
// and repaired if it was changed since. One owned by another resource is only taken over
// when that resource hands it over in this run (see handOver); one in place otherwise is
// never touched, and one pending is left to the race.
func (e *edgeEngine) ensureEdge(
	ctx context.Context, client Client, owner string, x stackEdge, form edgeForm, field string,
) (addState, error) {
	source, ref := x.source, x.ref
	want := desiredEdgeWebhook(ref, owner, form)
	if err := markEdge(ctx, client, owner, x); err != nil {
		return 0, &edgeError{"marking on its target", x, err}
	}
	if from, ok := e.graph.handedFrom(source, ref, owner); ok {
		// The webhook is in place under its old owner: taking it over is one PATCH, and the
		// old owner's mark goes once this one's is there.
		_, err := client.UpdateWebhook(ctx, source.scope(), want.Name, want)
		if !errors.Is(err, cloud.ErrNotFound) {
			if err != nil {
				return 0, &edgeError{"taking over", x, err}
			}
			unmarkEdge(ctx, client, from, x)
			return addInPlace, nil
		}
	}
	pending := asPending(want, ref, owner)
	outcome, live, err := client.CreateWebhookOnce(ctx, source.scope(), pending)
	if err != nil {
		return 0, &edgeError{"creating", x, err}
	}
	other := ownerOf(live)
	switch {
	case other != "" && other != owner && !e.graph.handsOver(source, ref, other, owner):
		if isPending(live) {
			return addHeld, nil
		}
		unmarkEdge(ctx, client, owner, x)
		return 0, &undoneEdge{x: x, field: field, reason: lossMessage(verdict{problem: describeHook(live) +
			" has its name: another resource wrote the same edge first", stays: "that webhook", because: inPlaceFirst})}
	case isPending(live):
		// This owner's, pending: written now, or left by an interrupted run.
		if !sameEdgeWebhook(live, pending) {
			if _, err := client.UpdateWebhook(ctx, source.scope(), want.Name, pending); err != nil {
				return 0, &edgeError{"repairing", x, err}
			}
		}
		return addPending, nil
	case outcome == cloud.Occupied && other == owner:
		e.graph.markAdopted(source, ref, owner)
	}
	if !isDesiredEdge(live, ref, owner, form) {
		if _, err := client.UpdateWebhook(ctx, source.scope(), want.Name, want); err != nil {
			return 0, &edgeError{"repairing", x, err}
		}
	}
	if other != "" && other != owner { // handed over in this run: taken over just now
		unmarkEdge(ctx, client, other, x)
	}
	return addInPlace, nil
}

// reform rewrites one of owner's edges in form (paused or resumed, into or out of relay
// mode) with a single PATCH, under the same name: the edge is never missing or doubled.
// One deleted behind Pulumi's back is created again.
func (e *edgeEngine) reform(ctx context.Context, client Client, owner string, x stackEdge, form edgeForm) error {
	want := desiredEdgeWebhook(x.ref, owner, form)
	_, err := client.UpdateWebhook(ctx, x.source.scope(), want.Name, want)
	if errors.Is(err, cloud.ErrNotFound) {
		// Deleted behind Pulumi's back: created again, in place at once. A kept edge's checks
		// are not run again (nor are a resumed one's).
		var live cloud.Webhook
		if err = markEdge(ctx, client, owner, x); err != nil {
			return &edgeError{"marking on its target", x, err}
		}
		if _, live, err = client.CreateWebhookOnce(ctx, x.source.scope(), want); err == nil && ownerOf(live) != owner {
			err = fmt.Errorf("it was deleted, and %s wrote the same edge since", describeHook(live))
		}
	}
	if err != nil {
		return &edgeError{"rewriting", x, err}
	}
	return nil
}

// removeEdge deletes the edge's webhook if owner owns it; one already gone counts as
// removed, and one another resource owns now is left alone (with a warning, unless this
// run handed it over).
func (e *edgeEngine) removeEdge(ctx context.Context, client Client, owner string, x stackEdge) error {
	source, ref := x.source, x.ref
	name := edge.Name(ref)
	planner, planned := e.graph.plannedBy(source, ref)
	switch {
	case planned && planner != owner:
		return nil // another resource of this run holds the edge now
	case !planned:
		listed, err := e.graph.webhooksOf(ctx, client, source)
		if err != nil {
			return &edgeError{"deleting", x, err}
		}
		i := slices.IndexFunc(listed.hooks, func(h cloud.Webhook) bool { return h.Name == name })
		if i < 0 {
			unmarkEdge(ctx, client, owner, x)
			return nil // already gone
		}
		if other := ownerOf(listed.hooks[i]); other != "" && other != owner {
			p.GetLogger(ctx).Warningf("left the deployment webhook %s → %s in place: it is owned by %s now, "+
				"not by this resource", source, ref, other)
			unmarkEdge(ctx, client, owner, x)
			return nil
		}
	}
	err := client.DeleteWebhook(ctx, source.scope(), name)
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return &edgeError{"deleting", x, err}
	}
	unmarkEdge(ctx, client, owner, x)
	e.graph.markRemoved(source, name)
	e.graph.unplan(source, owner, []string{ref})
	return nil
}

// heldBySuccessor returns the refs of have whose webhooks a create of the same owner
// adopted in this run. Only a replacement forced with `pulumi up --replace` does that:
// it creates the new resource (the same URN, and so the same owner) before it deletes
// the old one, so the new one finds the old one's webhooks under its own names. They are
// the new resource's now, and the old one's delete must leave them.
func (e *edgeEngine) heldBySuccessor(owner string, have []stackEdge) []stackEdge {
	var held []stackEdge
	for _, x := range have {
		if e.graph.adoptedBy(x.source, x.ref) == owner {
			held = append(held, x)
		}
	}
	return held
}
