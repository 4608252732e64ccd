package relay

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// A look is one pass of an organization's schedule: take in what deliveries announced, look at Pulumi
// Cloud where it is time to (the stack list every --poll, stacks being updated by someone else, the
// relay's deployments in flight), then judge what is ready and start what is due, and record it all.
// The job that runs an organization (jobs.go) makes looks one after another, when woken or when a
// clock says so, and holds the organization in memory between them.

// runner runs one organization's looks for one run of its job.
type runner struct {
	r   *Relay
	o   *org
	log *slog.Logger
	// compare caches outputs across the looks of the run.
	compare *outputsComparer
	// polled is when the stack list was last read; pollTrouble its failures.
	polled      time.Time
	pollTrouble troubles
	// probed is when the last probe asked whether Pulumi Cloud answers again.
	probed time.Time
	// consumed are the hints taken in by this look, forgotten in the database with its save.
	consumed []hint
	// changes are the versions this look found moved by someone else's update: each may root a
	// cascade.
	changes []change
	// lastPlan is the schedule as the look left it.
	lastPlan Plan
	// settled is when each stack's deployment ended, as this run saw it, for the decision-latency
	// metric.
	settled map[string]time.Time
	// rows are the relay deployments whose rows changed (answered or ended), written with the save.
	rows []*flight
	// rowIndex is, for the look, the running cascades in which each stack has not finished.
	rowIndex map[string][]int64
	// waitingForSlots is set when due stacks wait for --max-deployments, and settleUntil is when the
	// first stack waiting for --settle may start.
	waitingForSlots bool
	settleUntil     time.Time
}

// settledAt is when a ready stack's last changed parent settled, as this run saw it; zero when it did
// not see it.
func (rn *runner) settledAt(c Candidate) time.Time {
	var at time.Time
	for _, l := range c.Changed {
		if t := rn.settled[l.Parent]; t.After(at) {
			at = t
		}
	}
	return at
}

// change is a version of a stack that someone else's update made.
type change struct {
	ref     string
	version int
	cause   string
}

func (r *Relay) newRunner(o *org) *runner {
	return &runner{r: r, o: o, log: r.log.With("organization", o.name), compare: newOutputsComparer(r.cloud, o.name),
		settled: map[string]time.Time{}}
}

// look makes one look and says when the next is due without a wake.
func (rn *runner) look(ctx context.Context) (time.Duration, error) {
	now := time.Now()
	rn.changes, rn.consumed, rn.rowIndex = nil, nil, nil
	if err := rn.takeHints(ctx); err != nil {
		return 0, err
	}
	rn.probe(ctx, now)
	if !rn.o.baselined {
		if err := rn.baseline(ctx, now); err != nil {
			return 0, err
		}
		if !rn.o.baselined {
			return time.Second, rn.save(ctx)
		}
	} else if now.Sub(rn.polled) >= rn.r.cfg.PollInterval && rn.pollTrouble.due(now) {
		rn.poll(ctx, now)
	}
	rn.countUnannounced(now)
	rn.recheckUpdating(ctx, now)
	rn.walk(ctx, now)
	if err := rn.openCascades(ctx, now); err != nil {
		return 0, err
	}
	if err := rn.follow(ctx, now); err != nil {
		return 0, err
	}
	if err := rn.schedule(ctx, now); err != nil {
		return 0, err
	}
	rn.advanceCascades()
	if err := rn.save(ctx); err != nil {
		return 0, err
	}
	return rn.nextLook(time.Now()), nil
}

// nextLook is how long to wait for the next look when nothing wakes the job: a second while anything
// is in flight or waits for a retry (so a deployment's end is seen within two seconds), less while due
// stacks wait for a deployment slot (slotWait), otherwise until the next poll.
func (rn *runner) nextLook(now time.Time) time.Duration {
	next := rn.r.cfg.PollInterval - now.Sub(rn.polled)
	busy := rn.pollTrouble.failures > 0
	for _, s := range rn.o.stacks {
		if s.flight != nil || s.updating || s.trouble.failures > 0 {
			busy = true
			break
		}
	}
	switch {
	case rn.waitingForSlots:
		next = min(next, rn.slotWait(now))
	case busy || len(rn.lastPlan.Ready) > 0:
		next = min(next, time.Second)
	}
	if !rn.settleUntil.IsZero() {
		next = min(next, rn.settleUntil.Sub(now))
	}
	return max(next, 0)
}

// takeHints takes in what deliveries announced: a version of a stack whose update succeeded. The
// relay's own deployments are followed by reading them (follow), so their deliveries only wake the
// look; any other newer version is a change, and its stack's webhooks are listed again.
func (rn *runner) takeHints(ctx context.Context) error {
	hints, err := rn.r.store.hints(ctx, rn.r.db, rn.o.name)
	if err != nil {
		return err
	}
	rn.consumed = hints
	for _, h := range hints {
		s := rn.o.stackOf(h.ref)
		s.announced = max(s.announced, h.version)
		if s.flight != nil || h.version <= s.version || !rn.o.baselined {
			continue
		}
		rn.moved(s, h.version, "an update announced by a delivery")
	}
	return nil
}

// moved records a newer version of s that someone else's update made: a change for the schedule and
// the cascades, and a fix when the relay's last deployment of s had failed.
func (rn *runner) moved(s *stack, version int, cause string) {
	s.version, s.updating, s.changedAt = version, false, time.Now()
	if s.failed {
		s.failed = false
		rn.log.Info("stack fixed: a successful update followed the relay's failed deployment", "stack", s.ref,
			"version", version)
	}
	rn.o.touch(s)
	rn.changes = append(rn.changes, change{ref: s.ref, version: version, cause: cause})
	rn.log.Info("stack changed", "stack", s.ref, "version", version, "cause", cause)
}

// walk lists the webhooks of every stack below the stacks that changed, breadth first through the
// edges it finds, and of stacks never listed, before anything is scheduled: the graph below a change is
// the one Pulumi Cloud has when the change is taken in, so a stack never starts before a parent whose
// edge to it was made after the relay last looked. The changes a look takes in share one walk. A
// listing that fails leaves its stack unsure: nothing below it starts until a retry succeeds.
func (rn *runner) walk(ctx context.Context, now time.Time) {
	queued := map[string]bool{}
	var depth []string
	for _, ch := range rn.changes {
		if !queued[ch.ref] {
			queued[ch.ref] = true
			depth = append(depth, ch.ref)
		}
	}
	for ref, s := range rn.o.stacks {
		if s.edgesVersion < 0 && !s.deleted && !queued[ref] {
			queued[ref] = true
			depth = append(depth, ref)
		}
	}
	slices.Sort(depth)
	for len(depth) > 0 {
		depth = slices.DeleteFunc(depth, func(ref string) bool {
			s := rn.o.stacks[ref]
			return s.deleted || !s.trouble.due(now)
		})
		listed, errs := callEach(ctx, depth, rn.listEdges(ctx))
		var next []string
		for i, ref := range depth {
			s := rn.o.stacks[ref]
			switch {
			case isNotFound(errs[i]):
				rn.deleted(s, "its webhooks could not be listed: the stack no longer exists")
				continue
			case errs[i] != nil:
				// Listed again by the walk of the first look at which its retry is due, and what is
				// below it walked then.
				s.edgesVersion = -1
				rn.o.touch(s)
				rn.trouble(s, now, "listing its webhooks", errs[i])
				continue
			}
			s.trouble.clear()
			s.edgesVersion = s.version
			rn.o.touch(s)
			added, removed := rn.o.setEdges(ref, listed[i], !rn.o.baselined)
			if len(added)+len(removed) > 0 {
				rn.log.Info("edges changed", "stack", ref, "added", added, "removed", removed)
			}
			for _, l := range rn.o.kids(ref) {
				child := rn.o.stacks[l.child]
				if !queued[l.child] && !child.deleted {
					queued[l.child] = true
					next = append(next, l.child)
				}
			}
		}
		slices.Sort(next)
		depth = next
	}
}

// trouble marks s unsure after a failed read, with when to try again.
func (rn *runner) trouble(s *stack, now time.Time, what string, err error) {
	s.trouble.fail(now, what+": "+err.Error())
	rn.r.metrics.readFailed(rn.o.name)
	rn.log.Warn("a read failed; retried", "stack", s.ref, "what", what, "error", err.Error(),
		"failures", s.trouble.failures, "retry_in", s.trouble.retryAt.Sub(now).Round(time.Millisecond).String())
}

// succeeded notes that Pulumi Cloud answered: every stack waiting for a retry is tried at the next look,
// so an outage ends for the relay as soon as it ends for Pulumi Cloud.
func (rn *runner) succeeded(now time.Time) {
	if rn.pollTrouble.failures > 0 && rn.pollTrouble.retryAt.After(now) {
		rn.pollTrouble.retryAt = now
	}
	for _, s := range rn.o.stacks {
		if s.trouble.failures > 0 && s.trouble.retryAt.After(now) {
			s.trouble.retryAt = now
		}
	}
}

// probe asks Pulumi Cloud one cheap question while reads wait for a retry, at most once a second: as
// soon as it answers, every retry is due (succeeded), so an outage holds the schedule no longer than
// it lasts.
func (rn *runner) probe(ctx context.Context, now time.Time) {
	waiting := rn.pollTrouble.failures > 0
	for _, s := range rn.o.stacks {
		waiting = waiting || s.trouble.holds(now)
	}
	if !waiting || now.Sub(rn.probed) < time.Second {
		return
	}
	rn.probed = now
	if _, _, err := rn.r.cloud.ListOrgDeployments(ctx, rn.o.name, 1, 1); err == nil {
		rn.succeeded(now)
	}
}

// deleted takes a stack out of the graph: nothing waits on it, its children are judged on the parents
// that remain, and a deployment of it the relay followed ends failed.
func (rn *runner) deleted(s *stack, why string) {
	if s.deleted {
		return
	}
	s.deleted, s.updating = true, false
	s.trouble.clear()
	if s.flight != nil {
		rn.endFlight(s, outcomeFailed, "the stack was deleted while the relay deployed it", 0, time.Now())
	}
	rn.o.touch(s)
	rn.log.Warn("stack deleted: it leaves the graph", "stack", s.ref, "why", why)
}

// recheckUpdating reads again the stacks someone else is updating, where it matters: every few seconds
// while they hold a stack below them, at each poll otherwise.
func (rn *runner) recheckUpdating(ctx context.Context, now time.Time) {
	var refs []string
	for ref, s := range rn.o.stacks {
		if s.updating && !s.deleted && s.trouble.due(now) && len(rn.o.kids(ref)) > 0 {
			refs = append(refs, ref)
		}
	}
	rn.confirm(ctx, now, refs, false)
}

// save writes what the look changed, and forgets the hints it took in, in one fenced transaction.
func (rn *runner) save(ctx context.Context) error {
	err := inTx(ctx, rn.r.db, func(tx *sql.Tx) error {
		if err := rn.r.store.saveOrg(ctx, tx, rn.o); err != nil {
			return err
		}
		if err := rn.r.store.forgetHints(ctx, tx, rn.o.name, rn.consumed); err != nil {
			return err
		}
		for _, f := range rn.rows {
			if err := rn.r.store.saveDeploymentRow(ctx, tx, f); err != nil {
				return err
			}
		}
		for _, c := range rn.o.cascades {
			if err := rn.r.store.saveCascade(ctx, tx, rn.o.name, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	clear(rn.o.dirtyStacks)
	clear(rn.o.dirtyLinks)
	rn.consumed, rn.rows = nil, nil
	rn.o.cascades = slices.DeleteFunc(rn.o.cascades, func(c *cascade) bool { return c.state != cascadeRunning })
	return nil
}

// openCascades starts a cascade for each change that has stacks below it, recorded at once so that
// every log line about its stacks can name it.
func (rn *runner) openCascades(ctx context.Context, now time.Time) error {
	var opened []*cascade
	for _, ch := range rn.changes {
		c := newCascade(rn.o, ch.ref, ch.version, ch.cause, now)
		if len(c.rows) > 0 {
			opened = append(opened, c)
		}
	}
	if len(opened) == 0 {
		return nil
	}
	err := inTx(ctx, rn.r.db, func(tx *sql.Tx) error {
		if err := rn.r.store.fenceOrg(ctx, tx, rn.o.name, rn.o.epoch); err != nil {
			return err
		}
		for _, c := range opened {
			if err := rn.r.store.insertCascade(ctx, tx, rn.o.name, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rn.rowIndex = nil
	for _, c := range opened {
		rn.o.cascades = append(rn.o.cascades, c)
		rn.r.metrics.cascadesStarted.Inc()
		rn.log.Info("cascade started", "cascade", c.id, "root", c.root, "version", c.version, "stacks", len(c.rows),
			"cause", c.cause)
	}
	return nil
}

// cascadesOf are the running cascades in which ref had not finished when the look began (or that the
// look opened), for the log lines about it.
func (rn *runner) cascadesOf(ref string) []int64 {
	if rn.rowIndex == nil {
		rn.rowIndex = map[string][]int64{}
		for _, c := range rn.o.cascades {
			for _, r := range c.rows {
				if !r.state.Finished() {
					rn.rowIndex[r.stack] = append(rn.rowIndex[r.stack], c.id)
				}
			}
		}
	}
	return rn.rowIndex[ref]
}

// advanceCascades moves every running cascade on from the schedule as the look left it.
func (rn *runner) advanceCascades() {
	facts := func(ref string) rowFacts {
		s := rn.o.stacks[ref]
		if s == nil {
			return rowFacts{deleted: true}
		}
		ph, ok := rn.lastPlan.Phase[ref]
		if !ok {
			ph = PhaseIdle
		}
		return rowFacts{deleted: s.deleted, phase: ph, why: rn.lastPlan.Why[ref], flight: s.flight, last: s.last,
			version: s.version, skipReason: s.skipReason}
	}
	for _, c := range rn.o.cascades {
		if c.state != cascadeRunning {
			continue
		}
		if c.advance(facts) {
			for _, row := range c.rows {
				if row.state == StateFailed && strings.HasPrefix(row.reason, "the edges above it form a cycle") {
					c.state, c.err = cascadeFailed, row.reason
					break
				}
			}
			rn.r.metrics.cascadeFinished(c.state)
			rn.log.Info("cascade done", "cascade", c.id, "root", c.root, "version", c.version, "state", c.state)
		}
	}
}

// parallel calls fn for 0 ≤ i < n on at most stepParallelism goroutines at once; once ctx ends, calls
// not yet begun are not made.
func parallel(ctx context.Context, n int, fn func(i int)) {
	sem := make(chan struct{}, stepParallelism)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// slotWait is how soon to look again while due stacks wait for a deployment slot, so that a slot is
// given on soon after it frees without reading the organization's deployment list ten times a second
// for deployments of minutes. Each deployment in flight is looked at every twentieth of its stack's
// estimate (between a tenth of a second and a second) from one such interval before its expected end
// on, and at once as often while its stack has no estimate yet (or it is not answered yet); before that,
// once a second as any deployment in flight.
func (rn *runner) slotWait(now time.Time) time.Duration {
	const fastest, slowest = time.Second / 10, time.Second
	wait := slowest
	for _, s := range rn.o.stacks {
		f := s.flight
		switch {
		case f == nil:
			continue
		case f.StartedMS == 0 || s.estimateMS <= 0:
			return fastest
		}
		estimate := time.Duration(s.estimateMS) * time.Millisecond
		every := min(max(estimate/20, fastest), slowest)
		left := time.UnixMilli(f.StartedMS).Add(estimate - every).Sub(now)
		wait = min(wait, max(left, every))
	}
	return max(wait, fastest)
}

// callEach calls call for each item, at most stepParallelism at once, and answers what each gave, in
// the items' order.
func callEach[I, T any](ctx context.Context, items []I, call func(item I) (T, error)) ([]T, []error) {
	got := make([]T, len(items))
	errs := make([]error, len(items))
	parallel(ctx, len(items), func(i int) { got[i], errs[i] = call(items[i]) })
	return got, errs
}

// stepParallelism bounds the requests a look has in flight at once; the Cloud client bounds them
// again for the whole process.
const stepParallelism = 16

func isNotFound(err error) bool { return err != nil && errors.Is(err, cloud.ErrNotFound) }
