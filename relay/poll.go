package relay

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// Looking on its own. Deliveries may come late, twice, out of order or never (Pulumi documents no
// order and no retry), and a refresh or a drift remediation writes a version without announcing an
// update. So every --poll the relay reads the organization's stack list, whose lastUpdate says when
// each stack's last update started, and reads the stacks it moved for: their version once the update
// ended. A version found this way that no delivery announced is counted and logged.

// baseline adopts what the organization is now, the first time the relay schedules it: every stack,
// its relay edges, and each parent's version as what its children last deployed against, so that a
// relay started on an empty database deploys nothing until something changes. It is resumable: a run
// cut short goes on where it stopped, and only a complete one counts.
func (rn *runner) baseline(ctx context.Context, now time.Time) error {
	summaries, err := rn.r.cloud.ListStacks(ctx, cloud.StackFilter{Organization: rn.o.name})
	if err != nil {
		rn.log.Warn("baseline: listing the organization's stacks failed; retried", "error", err.Error())
		return nil
	}
	for _, sum := range summaries {
		s := rn.o.stackOf(sum.ProjectName + "/" + sum.StackName)
		s.lastUpdate, s.readAt = sum.LastUpdate, now.Unix()
		rn.o.touch(s)
	}
	rn.polled = now
	rn.walk(ctx, now)
	var parents []string
	for ref, s := range rn.o.stacks {
		if s.edgesVersion < 0 && !s.deleted {
			return nil // a listing failed: the next look goes on
		}
		if len(rn.o.kids(ref)) > 0 && s.version == 0 && !s.deleted {
			parents = append(parents, ref)
		}
	}
	slices.Sort(parents)
	rn.confirm(ctx, now, parents, false)
	for _, ref := range parents {
		if s := rn.o.stacks[ref]; s.trouble.failures > 0 {
			return nil
		}
	}
	// Updates delivered while the baseline was read still cascade: take in the hints again.
	hints, err := rn.r.store.hints(ctx, rn.r.db, rn.o.name)
	if err != nil {
		return err
	}
	for _, h := range hints {
		if s := rn.o.stacks[h.ref]; s != nil {
			s.announced = max(s.announced, h.version)
		}
	}
	adopted := 0
	for ref := range rn.o.stacks {
		for _, l := range rn.o.kids(ref) {
			if l.recorded == 0 {
				l.recorded = rn.o.stacks[ref].version
				// An update a delivery announced before the baseline ended still cascades.
				if a := rn.o.stacks[ref].announced; a > 0 && a >= l.recorded {
					l.recorded = a - 1
				}
				rn.o.touchLink(l)
				adopted++
			}
		}
	}
	err = inTx(ctx, rn.r.db, func(tx *sql.Tx) error {
		if err := rn.r.store.saveOrg(ctx, tx, rn.o); err != nil {
			return err
		}
		return rn.r.store.markBaselined(ctx, tx, rn.o.name)
	})
	if err != nil {
		return err
	}
	clear(rn.o.dirtyStacks)
	clear(rn.o.dirtyLinks)
	rn.o.baselined = true
	rn.log.Info("baseline adopted: the organization's current versions count as deployed", "stacks",
		len(rn.o.stacks), "edges", adopted)
	// Announced versions above the baseline's are changes like any other.
	for _, s := range rn.o.stacks {
		if s.announced > 0 && s.announced >= s.version && s.flight == nil && len(rn.o.kids(s.ref)) > 0 {
			rn.changes = append(rn.changes, change{ref: s.ref, version: s.version,
				cause: "an update announced by a delivery"})
		}
	}
	return nil
}

// poll reads the stack list and follows up on what moved: a stack whose lastUpdate moved is read
// (confirm), a new stack has its webhooks listed, a stack gone from the list is confirmed deleted.
func (rn *runner) poll(ctx context.Context, now time.Time) {
	summaries, err := rn.r.cloud.ListStacks(ctx, cloud.StackFilter{Organization: rn.o.name})
	if err != nil {
		rn.pollTrouble.fail(now, err.Error())
		rn.r.metrics.readFailed(rn.o.name)
		rn.log.Warn("polling the stack list failed; retried", "error", err.Error(),
			"retry_in", rn.pollTrouble.retryAt.Sub(now).Round(time.Millisecond).String())
		return
	}
	rn.pollTrouble.clear()
	rn.succeeded(now)
	rn.polled = now
	inList := map[string]bool{}
	lastUpdates := map[string]int64{}
	var moved, probe, reread []string
	for _, sum := range summaries {
		ref := sum.ProjectName + "/" + sum.StackName
		inList[ref], lastUpdates[ref] = true, sum.LastUpdate
		s, known := rn.o.stacks[ref]
		switch {
		case !known:
			s = rn.o.stackOf(ref)
			s.lastUpdate, s.readAt = sum.LastUpdate, now.Unix()
			rn.log.Info("new stack", "stack", ref)
		case s.deleted:
			// Created again under the same name: a new stack, whose versions start again.
			rn.recreated(s, sum.LastUpdate)
		case (sum.LastUpdate != s.lastUpdate || sum.LastUpdate >= s.readAt) && s.flight == nil:
			if len(rn.o.kids(ref)) > 0 {
				moved = append(moved, ref)
			} else {
				probe = append(probe, ref)
			}
		}
	}
	// Only a parent's versions matter to the schedule. A stack with no edges out that moved may have
	// gained some (a delivery of its update lost): a listing of its webhooks tells, and only then is
	// it read.
	slices.Sort(probe)
	listed, errs := callEach(ctx, probe, rn.listEdges(ctx))
	for i, ref := range probe {
		s := rn.o.stacks[ref]
		if errs[i] != nil {
			rn.trouble(s, now, "listing its webhooks", errs[i])
			continue
		}
		s.trouble.clear()
		rn.o.setEdges(ref, listed[i], false)
		s.edgesVersion = s.version
		if len(rn.o.kids(ref)) > 0 {
			moved = append(moved, ref)
		} else {
			// Its version matters to no one: only edges it gained would, and those come without an
			// update at any time, so the second of its update needs no second look.
			s.lastUpdate, s.readAt = lastUpdates[ref], lastUpdates[ref]+1
		}
		rn.o.touch(s)
	}
	for ref, s := range rn.o.stacks {
		if !inList[ref] && !s.deleted {
			reread = append(reread, ref)
		}
	}
	slices.Sort(moved)
	slices.Sort(reread)
	rn.confirm(ctx, now, moved, true)
	rn.confirm(ctx, now, reread, false)
	for _, ref := range moved {
		if s := rn.o.stacks[ref]; s.trouble.failures == 0 {
			s.lastUpdate = lastUpdates[ref]
			rn.o.touch(s)
		}
	}
}

// recreated makes a stack deleted and created again under its name a new one: its versions start
// again, so what its children deployed against is forgotten.
func (rn *runner) recreated(s *stack, lastUpdate int64) {
	s.deleted, s.version, s.edgesVersion, s.lastUpdate, s.failed = false, 0, -1, lastUpdate, false
	for _, l := range rn.o.kids(s.ref) {
		l.recorded = 0
		rn.o.touchLink(l)
	}
	rn.o.touch(s)
	rn.log.Info("stack created again under the name of a deleted one", "stack", s.ref)
}

// confirm reads stacks: one being updated by someone else is marked so (nothing below it starts until
// its update ended), one whose update ended takes its version, one that no longer exists leaves the
// graph. A newer version no delivery announced is acted on at once; polled says the poll found it, and
// if no delivery announces it within unannouncedGrace either, it is counted as an update without one.
func (rn *runner) confirm(ctx context.Context, now time.Time, refs []string, polled bool) {
	refs = slices.DeleteFunc(slices.Clone(refs), func(ref string) bool { return !rn.o.stacks[ref].trouble.due(now) })
	if len(refs) == 0 {
		return
	}
	read, errs := callEach(ctx, refs, func(ref string) (cloud.Stack, error) {
		project, name := splitRef(ref)
		return rn.r.cloud.GetStack(ctx, rn.o.name, project, name)
	})
	for i, ref := range refs {
		s := rn.o.stacks[ref]
		switch {
		case isNotFound(errs[i]):
			rn.deleted(s, "reading it answered 404")
			continue
		case errs[i] != nil:
			rn.trouble(s, now, "reading the stack", errs[i])
			continue
		}
		rn.succeeded(now)
		s.trouble.clear()
		s.readAt = now.Unix()
		st := read[i]
		if st.Updating() {
			if !s.updating {
				rn.log.Info("someone else is updating the stack: nothing below it starts until that ends",
					"stack", ref, "operation", st.CurrentOperation.Kind)
			}
			s.updating = true
			rn.o.touch(s)
			continue
		}
		s.updating = false
		rn.o.touch(s)
		if st.Version <= s.version {
			continue
		}
		if !rn.o.baselined {
			s.version = st.Version
			continue
		}
		why := "a new version found by reading the stack"
		switch {
		case s.announced >= st.Version:
			why = "an update announced by a delivery"
		case polled:
			why = "found by polling: no delivery announced it (yet)"
			s.unannounced, s.unannouncedAt = st.Version, now
		}
		rn.moved(s, st.Version, why)
	}
}

// unannouncedGrace is how long a version the poll found may wait for its delivery before it counts as
// an update without one: a delivery can trail the end of its update by a moment.
const unannouncedGrace = 10 * time.Second

// countUnannounced counts and logs the versions the poll found that no delivery announced since.
func (rn *runner) countUnannounced(now time.Time) {
	for _, s := range rn.o.stacks {
		switch {
		case s.unannounced == 0:
		case s.announced >= s.unannounced:
			s.unannounced = 0
		case now.Sub(s.unannouncedAt) >= unannouncedGrace:
			rn.r.metrics.updatesWithoutDelivery.Inc()
			rn.log.Warn("update without delivery: the poll found it and no delivery announced it", "stack", s.ref,
				"version", s.unannounced)
			s.unannounced = 0
		}
	}
}
