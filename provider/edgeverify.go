package provider

// Writers racing. The checks before a write see the graph as it was; two programs running
// `pulumi up` at once each pass them before the other writes, and together they can close
// a loop (one adds m → n, the other n → m) or double an edge (a Webhook resource and a
// DeploymentGraph both add a → b). So a new edge is written pending first: inactive, with
// "auto-deploy (pending)" and its owner in its display name, and marked on its target
// (edge.Mark). Its writer then reads the graph around it afresh (readFresh: below its
// target through edges, above its source through marks, until one end runs out) and
// judges it by a rule every writer computes the same way:
//
//   - an edge in place (not pending) stays: it was checked before this one was written;
//   - of pending edges in one conflict, those of the owner whose URN sorts first stay.
//
// So a new edge that loops or doubles with edges in place loses, and its writer fails,
// naming them. One that conflicts with another owner's pending edge sorting first yields:
// its writer takes its new edges back and waits for that edge's verdict, then judges again
// (it loses if that edge is in place by then, and is written again if it went). One that
// conflicts only with pending edges of owners sorting after it waits for their writers to
// yield (or, if their read came before this write, to put them in place, and then this one
// loses). Otherwise the writer puts its new edges in place (active, final display name). A
// writer keeps all its new edges or none, so that of programs writing at once at least one
// succeeds; and a loser names only edges in place as those that stay.
//
// Why no conflict is left in place: of two conflicting edges in place, take the one whose
// writer's last read started later; the other was written, and marked, before that read
// began, so the read saw both (from either end) and its writer did not put its edge in
// place. Why it ends: the pending
// writer whose owner sorts last never waits, and one that yields only waits for a verdict.
// A writer interrupted mid-way leaves pending edges that deliver nothing; the next run of
// that program finishes them, and meanwhile another writer waits raceBudget at most.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// pendingPrefix starts the display name of a webhook written but not yet judged.
const pendingPrefix = "auto-deploy (pending): "

// pendingDisplayName is the display name of owner's edge to ref while it is judged.
func pendingDisplayName(ref, owner string) string {
	return pendingPrefix + ref + ownerMarker + owner + ")"
}

// isPending reports whether h is a new edge its writer has not judged yet.
func isPending(h cloud.Webhook) bool { return strings.HasPrefix(h.DisplayName, pendingPrefix) }

// asPending is the webhook final written pending: inactive, under a pending display name.
func asPending(final cloud.Webhook, ref, owner string) cloud.Webhook {
	final.Active, final.DisplayName = false, pendingDisplayName(ref, owner)
	return final
}

// How long a writer waits for other writers' pending edges: polling from raceFirstPoll,
// doubling to raceMaxPoll, for raceBudget in all.
const (
	raceFirstPoll = 100 * time.Millisecond
	raceMaxPoll   = 2 * time.Second
	raceBudget    = 2 * time.Minute
)

// newEdge is one of a writer's new edges: written pending under name (or not, while it
// yields or while another writer's pending webhook holds its name), put in place as final.
type newEdge struct {
	x       stackEdge
	name    string
	final   cloud.Webhook
	written bool
	// taken is whether it was ever written: a loss then undid it.
	taken bool
}

// freshGraph is the webhooks of stacks as read now, each stack once, bypassing the run's
// cache (which holds what the checks read before the writes).
type freshGraph struct {
	org   string
	hooks map[string][]cloud.Webhook // ref → webhooks; a missing stack has none
}

// counts reports whether a webhook is an edge of the graph a writer judges: one that
// deploys its target, or a pending one that will once its writer puts it in place.
func counts(h cloud.Webhook) bool {
	return firesDeployment(h) || isPending(h) && deployTarget(h) != ""
}

// readFresh lists the webhooks of sources and targets, and then of the stacks below the
// targets (their edges out) and above the sources (the edges in that writers mark on each
// edge's target, edge.Mark), a level at a time with the level's reads in parallel, always
// at the end with fewer stacks to read next, until one end has none: what a double (at the
// sources) and a loop (a path from a target back to a source) would show in.
//
// A loop through the new edges needs such a path. When the end below runs out, every stack
// below the targets was read, as before marks. When the end above runs out, every stack
// with a marked path to a source was read, and with it that path's edges, the target at its
// start included: every auto-deploy writer marks an edge before it reads the graph back to
// judge it, so of two writers racing the one whose read started later sees the other's
// edge from either end. A webhook made by hand carries no mark: this read sees it only from
// above (preview's check, which walks below the targets whole, sees it too).
func readFresh(ctx context.Context, client Client, org string, sources, targets []string) (*freshGraph, error) {
	g := &freshGraph{org: org, hooks: map[string][]cloud.Webhook{}}
	if err := g.read(ctx, client, slices.Concat(sources, targets)); err != nil {
		return nil, err
	}
	down, up := newFrontier(targets, g.below), newFrontier(sources, g.above)
	for {
		nextDown, nextUp := down.next(), up.next()
		if len(nextDown) == 0 || len(nextUp) == 0 {
			return g, nil
		}
		side, level := down, nextDown
		if len(nextUp) < len(nextDown) {
			side, level = up, nextUp
		}
		if err := g.read(ctx, client, level); err != nil {
			return nil, err
		}
		side.advance(level)
	}
}

// below is the stacks ref's edges deploy, as read.
func (g *freshGraph) below(ref string) []string {
	var out []string
	for _, h := range g.hooks[ref] {
		if counts(h) {
			out = append(out, deployTarget(h))
		}
	}
	return out
}

// above is the sources of the edges marked on ref, as read.
func (g *freshGraph) above(ref string) []string {
	var out []string
	for _, h := range g.hooks[ref] {
		if source, ok := edge.ParseMark(h); ok {
			out = append(out, source)
		}
	}
	return out
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

// view is one graph an owner judges its new edges against, with its strongly connected
// parts: a new edge from → to, in the graph, closes a cycle when both ends share a part.
type view struct {
	graph map[string][]string
	part  map[string]int
}

func (v view) loops(from, to string) bool {
	p, ok := v.part[from]
	return ok && p == v.part[to]
}

// views are the graphs owner judges its new edges against, worked out once per read: the
// edges in place with owner's new edges (a loop there loses), with also the pending edges
// of owners sorting first (one there yields), and with every pending edge (one there waits).
type views struct{ mine, first, all view }

func (g *freshGraph) viewsFor(owner string, news []newEdge) views {
	of := func(keep func(pending cloud.Webhook) bool) view {
		graph := map[string][]string{}
		add := func(from, to string) {
			if !slices.Contains(graph[from], to) {
				graph[from] = append(graph[from], to)
			}
		}
		for ref, hooks := range g.hooks {
			for _, h := range hooks {
				if counts(h) && (!isPending(h) || keep(h)) {
					add(ref, deployTarget(h))
				}
			}
		}
		for _, n := range news { // written or not: judged as if written
			add(n.x.source.ref(), n.x.ref)
		}
		return view{graph: graph, part: stronglyConnected(graph)}
	}
	return views{
		mine:  of(func(h cloud.Webhook) bool { return ownerOf(h) == owner }),
		first: of(func(h cloud.Webhook) bool { return ownerOf(h) <= owner }),
		all:   of(func(cloud.Webhook) bool { return true }),
	}
}

// describeEdge names what makes source → ref on a cycle a new edge loses to: the webhooks
// in place ("source → ref by webhook autodeploy-… (owner: urn…)"), which stay, or, where
// none is, the loser's own new edge, which goes with it.
func (g *freshGraph) describeEdge(source, ref string) string {
	var parts []string
	for _, h := range g.hooks[source] {
		if deployTarget(h) == ref && counts(h) && !isPending(h) {
			parts = append(parts, describeHook(h))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s → %s (a new edge of this resource too)", source, ref)
	}
	return fmt.Sprintf("%s → %s by %s", source, ref, strings.Join(parts, " and "))
}

// describeHook names a webhook and who made it, and says if it is pending.
func describeHook(h cloud.Webhook) string {
	who := madeBy(h)
	if isPending(h) {
		who = "owner: " + ownerOf(h) + ", pending"
	}
	return fmt.Sprintf("webhook %s (%s)", h.Name, who)
}

// verdict is what the rule says of one new edge in a fresh graph.
type verdict struct {
	kind verdictKind
	// What the edge does wrong, the edges that stay instead and why (for a loss); the
	// pending webhooks a yield or a wait is for.
	problem, stays, because string
}

type verdictKind int

const (
	keep  verdictKind = iota
	wait              // for pending edges of owners sorting after this one
	yield             // to pending edges of owners sorting first: take it back, and judge again once they are decided
	lose              // to edges in place
)

// inPlaceFirst says why an edge in place stays, as a loser's message puts it.
const inPlaceFirst = "it is in place: its writer checked it first"

// judge applies the rule to owner's new edge n in g, written or not, seen through vs. The
// strongest verdict wins: lose, then yield, then wait.
func judge(g *freshGraph, vs views, owner string, n newEdge) verdict {
	from, to := n.x.source.ref(), n.x.ref
	var worst verdict
	consider := func(v verdict) {
		if v.kind > worst.kind {
			worst = v
		}
	}
	for _, h := range g.hooks[from] {
		switch {
		case h.Name == n.name:
			if ownerOf(h) != owner {
				consider(judgeAgainst(h, owner, describeHook(h)+" has its name: another resource wrote the same "+
					"edge first"))
			}
		case deployTarget(h) == to && (isEdge(h) || isWebhookResourceName(h.Name)) && (firesOnUpdate(h) || isPending(h)):
			consider(judgeAgainst(h, owner, fmt.Sprintf("%s makes the same edge, so %s would deploy twice after "+
				"each update of %s", describeHook(h), to, from)))
		}
	}
	switch {
	case worst.kind == lose:
	case vs.mine.loops(from, to):
		loop := append([]string{from}, pathBetween(vs.mine.graph, []string{to}, from)...)
		var others []string
		for k := 1; k+1 < len(loop); k++ {
			others = append(others, g.describeEdge(loop[k], loop[k+1]))
		}
		consider(verdict{kind: lose, problem: "it closes the deployment cycle " + arrowPath(loop),
			stays: strings.Join(others, " and "), because: inPlaceFirst})
	case vs.first.loops(from, to):
		consider(verdict{kind: yield, stays: "pending edges of owners sorting before " + owner +
			" that close a cycle with it"})
	case vs.all.loops(from, to):
		consider(verdict{kind: wait, stays: "pending edges of owners sorting after " + owner +
			" that close a cycle with it"})
	}
	return worst
}

// judgeAgainst judges owner's new edge against h, an edge it conflicts with (problem says
// how): an edge in place stays, a pending one of an owner sorting first is waited for, one
// of an owner sorting after is waited out.
func judgeAgainst(h cloud.Webhook, owner, problem string) verdict {
	other := ownerOf(h)
	switch {
	case !isPending(h):
		return verdict{kind: lose, problem: problem, stays: "that webhook", because: inPlaceFirst}
	case other == owner:
		return verdict{kind: keep}
	case other < owner:
		return verdict{kind: yield, stays: describeHook(h)}
	default:
		return verdict{kind: wait, stays: describeHook(h)}
	}
}

// race judges owner's new edges against the graph read afresh, again and again while one
// of them waits or yields, and then puts them all in place, or undoes them all when one
// loses. It returns each edge's failure (nil when it is in place). A read that fails
// undoes them: an edge that could not be judged must not stay pending, where others would
// wait for it.
func (e *edgeEngine) race(
	ctx context.Context, client Client, owner edgeOwner, news []newEdge, field func(stackKey) string,
) []error {
	if len(news) == 0 {
		return nil
	}
	var sources, targets []string
	for _, n := range news {
		sources, targets = append(sources, n.x.source.ref()), append(targets, n.x.ref)
	}
	undo := func(lost int, reason string) []error { return e.undoAll(ctx, client, owner, news, field, lost, reason) }
	poll, deadline := raceFirstPoll, time.Now().Add(raceBudget)
	for {
		fresh, err := readFresh(ctx, client, news[0].x.source.org, sources, targets)
		if err != nil {
			return undo(-1, fmt.Sprintf("reading the graph back to check it failed: %v", err))
		}
		vs := fresh.viewsFor(owner.urn, news)
		verdicts := make([]verdict, len(news))
		blocked := -1
		for i, n := range news {
			switch verdicts[i] = judge(fresh, vs, owner.urn, n); verdicts[i].kind {
			case lose:
				return undo(i, lossMessage(verdicts[i]))
			case yield:
				blocked = i
			case wait:
				if blocked < 0 || verdicts[blocked].kind != yield {
					blocked = i
				}
			}
		}
		if blocked < 0 || verdicts[blocked].kind == wait {
			// Nothing to yield to: write what is not written, then judge again; or, all
			// written and none waiting, put them in place.
			wrote := false
			for i := range news {
				if !news[i].written && verdicts[i].kind != yield {
					if err := e.writePending(ctx, client, owner, &news[i]); err != nil {
						return undo(i, fmt.Sprintf("writing it failed: %v", err))
					}
					wrote = true
				}
			}
			if wrote {
				continue
			}
			if blocked < 0 {
				return e.commitAll(ctx, client, owner.urn, news, field)
			}
		} else {
			e.takeBack(ctx, client, news)
		}
		if time.Now().Add(poll).After(deadline) {
			return undo(blocked, fmt.Sprintf("after %s it still conflicts with %s, whose writer has not settled "+
				"it: a `pulumi up` interrupted while writing leaves its new edges pending (inactive); run that "+
				"program again, which settles them, or delete them", raceBudget, verdicts[blocked].stays))
		}
		select {
		case <-ctx.Done():
			return undo(-1, ctx.Err().Error())
		case <-time.After(poll):
		}
		poll = min(2*poll, raceMaxPoll)
	}
}

// writePending writes n pending. Under a name another writer's webhook took meanwhile it
// stays unwritten, and is judged against that webhook next.
func (e *edgeEngine) writePending(ctx context.Context, client Client, owner edgeOwner, n *newEdge) error {
	_, live, err := client.CreateWebhookOnce(ctx, n.x.source.scope(), asPending(n.final, n.x.ref, owner.urn))
	if err != nil {
		return err
	}
	n.written = ownerOf(live) == owner.urn
	n.taken = n.taken || n.written
	return nil
}

// takeBack deletes owner's written new edges while it yields, so that the edges it yields
// to can be put in place; they are written again if those go. A delete that fails leaves
// the edge written, and the next judgement sees it still there.
func (e *edgeEngine) takeBack(ctx context.Context, client Client, news []newEdge) {
	forEach(len(news), func(i int) {
		n := &news[i]
		if !n.written {
			return
		}
		err := client.DeleteWebhook(ctx, n.x.source.scope(), n.name)
		if err == nil || errors.Is(err, cloud.ErrNotFound) {
			n.written = false
		}
	})
}

// lossMessage says why an edge lost, which edges stay, and what to do.
func lossMessage(v verdict) string {
	advice := "Declare each edge in one program only"
	if strings.HasPrefix(v.problem, "it closes") {
		advice = "Remove one edge of the cycle from the programs that declare it"
	}
	return fmt.Sprintf("%s; %s stays, because %s. %s", v.problem, v.stays, v.because, advice)
}

// commitAll puts each new edge in place, as its final webhook. One that cannot be is
// undone: left pending it would hold up other writers.
func (e *edgeEngine) commitAll(
	ctx context.Context, client Client, owner string, news []newEdge, field func(stackKey) string,
) []error {
	failures := make([]error, len(news))
	forEach(len(news), func(i int) {
		n := news[i]
		if _, err := client.UpdateWebhook(ctx, n.x.source.scope(), n.name, n.final); err != nil {
			failures[i] = e.undoOne(ctx, client, owner, n, &undoneEdge{x: n.x, field: field(n.x.source), written: true,
				reason: describeCloudError("putting it in place", err).Error()})
		}
	})
	return failures
}

// undoAll deletes every one of owner's new edges written, and returns their failures:
// reason for news[lost] (for every edge when lost < 0) and, for the others, that they
// went with it.
func (e *edgeEngine) undoAll(
	ctx context.Context, client Client, owner edgeOwner, news []newEdge, field func(stackKey) string, lost int,
	reason string,
) []error {
	failures := make([]error, len(news))
	forEach(len(news), func(i int) {
		n := news[i]
		why := &undoneEdge{x: n.x, field: field(n.x.source), written: n.written || n.taken, reason: reason}
		if lost >= 0 && i != lost {
			why.reason = fmt.Sprintf("it goes with the rest of this resource's new edges, after %s → %s lost: of "+
				"programs writing edges at once each keeps all its new edges or none, so that one of them always "+
				"succeeds; run again to add them", news[lost].x.source.ref(), news[lost].x.ref)
		}
		if !n.written {
			unmarkEdge(ctx, client, owner.urn, n.x)
			failures[i] = why
			return
		}
		failures[i] = e.undoOne(ctx, client, owner.urn, n, why)
	})
	for _, n := range news {
		e.graph.unplan(n.x.source, owner.urn, []string{n.x.ref})
	}
	return failures
}

// undoOne deletes a new edge's webhook, then owner's mark of it, and returns why, or, if
// the delete fails too, why and what to delete by hand.
func (e *edgeEngine) undoOne(ctx context.Context, client Client, owner string, n newEdge, why *undoneEdge) error {
	err := client.DeleteWebhook(ctx, n.x.source.scope(), n.name)
	if err != nil && !errors.Is(err, cloud.ErrNotFound) {
		return fmt.Errorf("%w; undoing it failed, so delete webhook %q on %s by hand: %w", why, n.name, n.x.source, err)
	}
	unmarkEdge(ctx, client, owner, n.x)
	e.graph.markRemoved(n.x.source, n.name)
	return why
}

// undoneEdge is why a new edge was undone (or, held, never written). The edges undone for
// one reason are reported as one line with a count.
type undoneEdge struct {
	x       stackEdge
	field   string
	written bool
	reason  string
}

func (u *undoneEdge) Error() string {
	what := "written and undone"
	if !u.written {
		what = "not written"
	}
	return fmt.Sprintf("%s: the edge %s → %s was %s: %s", u.field, u.x.source.ref(), u.x.ref, what, u.reason)
}

func (u *undoneEdge) kind() string          { return "undone\x00" + u.reason }
func (u *undoneEdge) failedEdge() stackEdge { return u.x }
