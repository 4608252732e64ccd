package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Starting a deployment is the one request the relay can neither repeat nor undo: a second POST
// queues a second run. So the relay first records its intent, with the stack's newest deployment
// number at that moment, in a transaction fenced by the organization's epoch, and only then asks. If it
// never learns the answer (it was killed, or the service answered ambiguously), the deployment it asked
// for, if any, is the next update deployment the stack got: it is looked up by number before anything
// is asked again.

// maxLookahead bounds the deployments after the intent that are searched for the relay's own (others
// may be queued on the stack meanwhile, by people or other tools).
const maxLookahead = 20

// Outcomes of a relay deployment.
const (
	outcomeSucceeded = "succeeded"
	outcomeFailed    = "failed"
	outcomeCancelled = "cancelled"
)

// orgPageSize is the page of the organization's deployment list a look reads (the service's most).
const orgPageSize = 100

// schedule judges what is ready and starts what is due, the most work below first, within the budget.
// A skip records the parents' versions as accounted for, which can make stacks below ready; it runs
// until nothing more settles.
func (rn *runner) schedule(ctx context.Context, now time.Time) error {
	var due []Candidate
	reasons := map[string]string{}
	for range 100 {
		plan := Schedule(rn.o.world(now, rn.o.defaultEstimate()))
		rn.lastPlan = plan
		if len(plan.Ready) == 0 {
			break
		}
		verdicts := make([]Verdict, len(plan.Ready))
		errs := make([]error, len(plan.Ready))
		parallel(ctx, len(plan.Ready), func(i int) {
			verdicts[i], errs[i] = Judge(plan.Ready[i], func(parent string, from, to int) (bool, error) {
				return rn.compare.changed(ctx, parent, from, to)
			})
		})
		if err := ctx.Err(); err != nil {
			return err
		}
		skipped := 0
		due = due[:0]
		for i, c := range plan.Ready {
			s := rn.o.stacks[c.Stack]
			switch {
			case errs[i] != nil && transient(errs[i]):
				// A parent's outputs could not be read: the stack cannot be judged, and is unsure (what
				// is below it waits) until a retry succeeds; its siblings go on.
				rn.trouble(s, now, "judging it", errs[i])
			case errs[i] != nil:
				// An answer, not an outage (a version that cannot be exported): deploying once too
				// often is safer than missing a change.
				due = append(due, c)
				reasons[c.Stack] = "its parents' outputs could not be compared, so it deploys: " + errs[i].Error()
			case verdicts[i].Deploy:
				s.trouble.clear()
				due = append(due, c)
				reasons[c.Stack] = verdicts[i].Reason
			default:
				s.trouble.clear()
				rn.skip(s, c, verdicts[i].Reason)
				skipped++
			}
			if errs[i] == nil {
				rn.r.metrics.decided(rn.settledAt(c), verdicts[i].Deploy, now)
			}
		}
		if skipped == 0 {
			break
		}
	}
	// A change someone else made may come with others (two roots updated together, whose deliveries
	// arrive a moment apart): a stack due because of one waits until it is --settle old, so that one
	// deployment covers them all. The relay's own deployments' ends settle nothing.
	held := map[string]string{}
	rn.settleUntil = time.Time{}
	if settle := rn.r.cfg.Settle; settle > 0 {
		due = slices.DeleteFunc(due, func(c Candidate) bool {
			var until time.Time
			for _, l := range c.Changed {
				if at := rn.o.stacks[l.Parent].changedAt; at.Add(settle).After(until) {
					until = at.Add(settle)
				}
			}
			if !until.After(now) {
				return false
			}
			held[c.Stack] = fmt.Sprintf("due, waits until the changes above it settle (--settle %s)", settle)
			if rn.settleUntil.IsZero() || until.Before(rn.settleUntil) {
				rn.settleUntil = until
			}
			return true
		})
	}
	budget := len(due)
	if rn.r.cfg.MaxDeployments > 0 {
		budget = max(0, rn.r.cfg.MaxDeployments-rn.o.inFlight())
	}
	rn.waitingForSlots = len(due) > budget
	if len(due) > budget {
		for _, c := range due[budget:] {
			held[c.Stack] = fmt.Sprintf("due, waits for one of the %d deployment slots (--max-deployments)",
				rn.r.cfg.MaxDeployments)
		}
		due = due[:budget]
	}
	if len(due) > 0 {
		if err := rn.start(ctx, now, due, reasons); err != nil {
			return err
		}
		rn.lastPlan = Schedule(rn.o.world(now, rn.o.defaultEstimate()))
	}
	for stack, why := range held {
		rn.lastPlan.Why[stack] = why
	}
	return nil
}

// skip records that a ready stack needs no deployment: the parents' versions it was judged against
// count as accounted for.
func (rn *runner) skip(s *stack, c Candidate, reason string) {
	for parent, v := range c.Covers {
		if l := rn.o.links[parent][c.Stack]; l != nil && l.recorded != v {
			l.recorded = v
			rn.o.touchLink(l)
		}
	}
	s.skipReason = reason
	rn.r.metrics.stacksSkipped.WithLabelValues("unchanged").Inc()
	rn.log.Info("stack skipped", "stack", c.Stack, "reason", reason, "cascades", rn.cascadesOf(c.Stack))
}

// start asks for the deployments of due stacks: their newest deployment numbers first, then the
// intents, recorded together with everything the look changed so far, then the requests.
func (rn *runner) start(ctx context.Context, now time.Time, due []Candidate, reasons map[string]string) error {
	priors := make([]int, len(due))
	errs := make([]error, len(due))
	parallel(ctx, len(due), func(i int) {
		project, name := splitRef(due[i].Stack)
		latest, total, err := rn.r.cloud.ListDeployments(ctx, rn.o.name, project, name, 1, 1)
		priors[i], errs[i] = total, err
		for _, d := range latest {
			priors[i] = max(priors[i], d.Version)
		}
	})
	var asking []*stack
	for i, c := range due {
		s := rn.o.stacks[c.Stack]
		switch {
		case isNotFound(errs[i]):
			rn.deleted(s, "listing its deployments answered 404")
		case errs[i] != nil:
			rn.trouble(s, now, "listing its deployments", errs[i])
		default:
			s.flight = &flight{Prior: priors[i], Covers: maps.Clone(c.Covers), Reason: reasons[c.Stack],
				IntentMS: time.Now().UnixMilli()}
			s.skipReason = ""
			rn.o.touch(s)
			asking = append(asking, s)
		}
	}
	err := inTx(ctx, rn.r.db, func(tx *sql.Tx) error {
		for _, s := range asking {
			row, err := rn.r.store.newDeploymentRow(ctx, tx, rn.o.name, s.ref, s.flight)
			if err != nil {
				return err
			}
			s.flight.Row = row
		}
		return rn.r.store.saveOrg(ctx, tx, rn.o)
	})
	if err != nil {
		for _, s := range asking {
			s.flight = nil
		}
		return err
	}
	clear(rn.o.dirtyStacks)
	clear(rn.o.dirtyLinks)
	rn.post(ctx, asking)
	return nil
}

// post asks for the deployments whose intents are recorded, once each.
func (rn *runner) post(ctx context.Context, asking []*stack) {
	refs, errs := callEach(ctx, asking, func(s *stack) (cloud.DeploymentRef, error) {
		project, name := splitRef(s.ref)
		return rn.r.cloud.CreateDeployment(ctx, rn.o.name, project, name, "update")
	})
	now := time.Now()
	for i, s := range asking {
		switch {
		case errs[i] == nil:
			s.flight.ID, s.flight.ConsoleURL, s.flight.StartedMS = refs[i].ID, refs[i].ConsoleURL, now.UnixMilli()
			rn.o.touch(s)
			rn.rows = append(rn.rows, s.flight)
			rn.r.metrics.deploymentsStarted.Inc()
			rn.log.Info("deployment started", "stack", s.ref, "deployment", refs[i].ID, "reason", s.flight.Reason,
				"covers", s.flight.Covers, "cascades", rn.cascadesOf(s.ref))
		case ctx.Err() != nil:
		case errors.Is(errs[i], cloud.ErrAmbiguous) || transient(errs[i]):
			// Perhaps asked for: the next look looks for it before asking again.
			rn.log.Warn("the deployment request's outcome is unknown; the next look looks for it before asking again",
				"stack", s.ref, "error", errs[i].Error())
		case isNotFound(errs[i]):
			rn.deleted(s, "starting its deployment answered 404")
		default:
			rn.endFlight(s, outcomeFailed, "the deployment could not be started: "+errs[i].Error(), 0, now)
		}
	}
}

// follow moves the relay's deployments in flight on: an intent is looked up (or asked for, when it
// never landed), a running deployment read, from one page of the organization's deployment list when
// it is there, and a deployment older than --deployment-timeout cancelled.
func (rn *runner) follow(ctx context.Context, now time.Time) error {
	var intents, running []*stack
	for _, ref := range slices.Sorted(maps.Keys(rn.o.stacks)) {
		s := rn.o.stacks[ref]
		switch {
		case s.flight == nil || !s.trouble.due(now):
		case s.flight.ID == "":
			intents = append(intents, s)
		default:
			running = append(running, s)
		}
	}
	if len(intents) > 0 {
		rn.recoverIntents(ctx, now, intents)
	}
	if len(running) == 0 {
		return nil
	}
	seen := rn.readOrgDeployments(ctx, running)
	missing := slices.DeleteFunc(slices.Clone(running), func(s *stack) bool { _, ok := seen[s.flight.ID]; return ok })
	read, errs := callEach(ctx, missing, func(s *stack) (cloud.Deployment, error) {
		project, name := splitRef(s.ref)
		return rn.r.cloud.GetDeployment(ctx, rn.o.name, project, name, s.flight.ID)
	})
	for i, s := range missing {
		switch {
		case isNotFound(errs[i]):
			rn.confirm(ctx, now, []string{s.ref}, false) // a deleted stack takes its deployments with it
			if !s.deleted {
				rn.trouble(s, now, "reading its deployment", errs[i])
			}
		case errs[i] != nil:
			rn.trouble(s, now, "reading its deployment", errs[i])
		default:
			seen[s.flight.ID] = read[i]
		}
	}
	for _, s := range running {
		d, ok := seen[s.flight.ID]
		if !ok || s.flight == nil {
			continue
		}
		rn.succeeded(now)
		s.trouble.clear()
		rn.observe(ctx, now, s, d)
	}
	return nil
}

// readOrgDeployments reads the organization's newest deployments, a page at a time while one of
// running may be on the next page, and returns them by id.
func (rn *runner) readOrgDeployments(ctx context.Context, running []*stack) map[string]cloud.Deployment {
	want := map[string]bool{}
	for _, s := range running {
		want[s.flight.ID] = true
	}
	out := map[string]cloud.Deployment{}
	pages := len(running)/orgPageSize + 1
	for page := 1; page <= pages && len(want) > 0; page++ {
		list, _, err := rn.r.cloud.ListOrgDeployments(ctx, rn.o.name, page, orgPageSize)
		if err != nil {
			rn.log.Warn("listing the organization's deployments failed; reading them one by one", "error", err.Error())
			break
		}
		for _, d := range list {
			if want[d.ID] {
				out[d.ID] = d
				delete(want, d.ID)
			}
		}
		if len(list) < orgPageSize {
			break
		}
	}
	return out
}

// observe acts on what a deployment of the relay's reads now: its end, or its time running out.
func (rn *runner) observe(ctx context.Context, now time.Time, s *stack, d cloud.Deployment) {
	// The update the deployment ran moved the stack list's lastUpdate; it is the relay's own, not a
	// change for the poll to read the stack for.
	for _, u := range d.Updates {
		if u.StartTime > s.lastUpdate {
			s.lastUpdate = u.StartTime
			// An update of the stack can start only after this one ended: the poll need not read the
			// stack again for a lastUpdate in this update's second.
			s.readAt = max(s.readAt, u.StartTime+1)
			rn.o.touch(s)
		}
	}
	switch d.Status {
	case "succeeded":
		version := d.StackVersion()
		if version == 0 {
			project, name := splitRef(s.ref)
			st, err := rn.r.cloud.GetStack(ctx, rn.o.name, project, name)
			if err != nil {
				rn.trouble(s, now, "reading the stack after its deployment", err)
				return
			}
			version = st.Version
		}
		rn.endFlight(s, outcomeSucceeded, fmt.Sprintf("deployment %s succeeded", d.ID), version, now)
	case "failed":
		rn.endFlight(s, outcomeFailed, fmt.Sprintf("deployment %s failed", d.ID), 0, now)
	case "skipped":
		// The service skipped it for a newer deployment in the stack's queue, which someone else
		// asked for: that one deploys the stack, and its update is a change like any other.
		rn.endFlight(s, outcomeSucceeded, fmt.Sprintf("deployment %s was skipped by the service for a newer one "+
			"in the stack's queue", d.ID), 0, now)
	default:
		limit := rn.r.cfg.DeploymentTimeout
		if limit <= 0 || now.Sub(time.UnixMilli(s.flight.IntentMS)) < limit {
			return
		}
		project, name := splitRef(s.ref)
		err := rn.r.cloud.CancelDeployment(ctx, rn.o.name, project, name, d.ID)
		if err != nil && !errors.Is(err, cloud.ErrConflict) {
			rn.trouble(s, now, "cancelling its deployment after --deployment-timeout", err)
			return
		}
		rn.endFlight(s, outcomeCancelled, fmt.Sprintf("deployment %s ran longer than --deployment-timeout (%s) and "+
			"was cancelled", d.ID, limit), 0, now)
	}
}

// endFlight records how the relay's deployment of s ended: the parents' versions it covered count as
// deployed against (a failure too: the stack is due again only when a parent moves again), the stack
// is failed until fixed unless it succeeded.
func (rn *runner) endFlight(s *stack, outcome, why string, version int, now time.Time) {
	f := s.flight
	f.Outcome, f.Why, f.EndedMS = outcome, why, now.UnixMilli()
	s.version = max(s.version, version)
	s.readAt = max(s.readAt, now.Unix())
	f.Version = s.version
	if outcome == outcomeSucceeded && f.StartedMS > 0 {
		took := f.EndedMS - f.StartedMS
		if s.estimateMS <= 0 {
			s.estimateMS = took
		} else {
			s.estimateMS = (s.estimateMS*7 + took*3) / 10
		}
	}
	for parent, v := range f.Covers {
		if l := rn.o.links[parent][s.ref]; l != nil && l.recorded < v {
			l.recorded = v
			rn.o.touchLink(l)
		}
	}
	s.failed = outcome != outcomeSucceeded
	s.last, s.flight = f, nil
	rn.o.touch(s)
	rn.rows = append(rn.rows, f)
	rn.settled[s.ref] = now
	rn.r.metrics.deploymentEnded(outcome)
	level := slog.LevelInfo
	if s.failed {
		level = slog.LevelError
	}
	rn.log.Log(context.Background(), level, "deployment ended", "stack", s.ref, "deployment", f.ID, "outcome", outcome,
		"why", why, "version", s.version, "cascades", rn.cascadesOf(s.ref))
}

// recoverIntents finds the deployments of intents whose answer the relay never recorded, and asks for
// those that never landed.
func (rn *runner) recoverIntents(ctx context.Context, now time.Time, intents []*stack) {
	found, errs := callEach(ctx, intents, func(s *stack) (cloud.Deployment, error) { return rn.findStarted(ctx, s) })
	var ask []*stack
	for i, s := range intents {
		switch {
		case errors.Is(errs[i], errNotStarted):
			rn.log.Info("no deployment was started for the recorded intent; asking for it now", "stack", s.ref)
			ask = append(ask, s)
		case errs[i] != nil:
			rn.trouble(s, now, "looking for its deployment after an interruption", errs[i])
		default:
			s.flight.ID, s.flight.StartedMS = found[i].ID, now.UnixMilli()
			rn.o.touch(s)
			rn.rows = append(rn.rows, s.flight)
			rn.r.metrics.deploymentsStarted.Inc()
			rn.log.Info("found the deployment started before an interruption; not starting another",
				"stack", s.ref, "deployment", found[i].ID)
		}
	}
	if len(ask) > 0 {
		rn.post(ctx, ask)
	}
}

var errNotStarted = errors.New("no deployment was started")

// findStarted looks for the update deployment an intent asked for: the first one numbered after the
// stack's newest deployment at the intent.
func (rn *runner) findStarted(ctx context.Context, s *stack) (cloud.Deployment, error) {
	project, name := splitRef(s.ref)
	for v := s.flight.Prior + 1; v <= s.flight.Prior+maxLookahead; v++ {
		d, err := rn.r.cloud.GetDeploymentByVersion(ctx, rn.o.name, project, name, v)
		if errors.Is(err, cloud.ErrNotFound) {
			return cloud.Deployment{}, errNotStarted
		}
		if err != nil {
			return cloud.Deployment{}, err
		}
		if d.Operation == "" || d.Operation == "update" {
			return d, nil
		}
	}
	return cloud.Deployment{}, errNotStarted
}
