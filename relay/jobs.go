package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// Two kinds of River job carry the relay's work:
//
//   - relay_event, one per delivered update (organization, project, stack, version) that is
//     neither the update of a deployment the relay is running (held on that stack's row instead,
//     queueUpdate) nor one already accounted for; unique by those args, so the N deliveries of
//     one update (one per edge leaving the stack) and any redelivery insert nothing new. Its
//     worker starts a cascade, merges the update into the running cascade of the same root,
//     holds it while the relay itself deploys that stack, or drops it when the relay has
//     already accounted for that version.
//   - relay_cascade, one per cascade, unique by its id, inserted in the transaction that records
//     the cascade, in a queue of its own. A run looks at the cascade (walk the graph, follow
//     deployments in flight, decide and start what is ready) again and again, each poll interval
//     or when woken, for up to a minute, then snoozes, which River does not count as an attempt.

type eventArgs Event

func (eventArgs) Kind() string { return "relay_event" }

func (eventArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type cascadeArgs struct {
	CascadeID int64 `json:"cascade_id"`
}

func (cascadeArgs) Kind() string { return "relay_cascade" }

func (cascadeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: cascadeQueue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type eventWorker struct {
	river.WorkerDefaults[eventArgs]
	r *Relay
}

func (w *eventWorker) Work(ctx context.Context, job *river.Job[eventArgs]) error {
	held, err := w.r.handleEvent(ctx, Event(job.Args))
	switch {
	case ctx.Err() != nil:
		return river.JobSnooze(0)
	case err != nil:
		return err
	case held:
		return river.JobSnooze(w.r.cfg.PollInterval)
	}
	return nil
}

type cascadeWorker struct {
	river.WorkerDefaults[cascadeArgs]
	r *Relay
}

// Timeout bounds one step; walking a large graph is the longest.
func (w *cascadeWorker) Timeout(*river.Job[cascadeArgs]) time.Duration { return w.r.stepTimeout }

// Work advances the cascade one look at a time (advance) until it is over, or until the job has
// run for a quarter of its timeout or maxFollow, then snoozes. Between looks it waits for the
// poll interval, or less when one of the cascade's deployments ends in the meantime (wakeups):
// keeping the job between looks saves the queue a round of writes per look, and a cascade waits
// for no poll after a deployment's end.
func (w *cascadeWorker) Work(ctx context.Context, job *river.Job[cascadeArgs]) error {
	id := job.Args.CascadeID
	woken, forget := w.r.wakeups.register(id)
	defer forget()
	until := time.Now().Add(min(w.r.stepTimeout/4, maxFollow))
	for {
		done, err := w.r.advance(ctx, id)
		switch {
		case ctx.Err() != nil:
			// Shutting down: run the step again as soon as a relay starts on this database.
			return river.JobSnooze(0)
		case err != nil:
			return w.failed(ctx, job, err)
		case done:
			return nil
		case time.Now().After(until):
			return river.JobSnooze(w.r.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
			return river.JobSnooze(0)
		case <-w.r.stopping:
			// The next look is the next relay's (or another replica's), at once.
			return river.JobSnooze(0)
		case <-woken:
		case <-time.After(w.r.cfg.PollInterval):
		}
	}
}

// failed lets River retry a failed step, or after the last attempt fails the cascade and queues
// the updates held on its deploying stacks as the events they are.
func (w *cascadeWorker) failed(ctx context.Context, job *river.Job[cascadeArgs], err error) error {
	id := job.Args.CascadeID
	log := w.r.log.With("cascade", id)
	if job.Attempt < job.MaxAttempts {
		log.Warn("cascade step failed; River retries it", "error", err.Error(), "attempt", job.Attempt)
		return err
	}
	msg := fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err)
	log.Error("cascade failed", "error", msg)
	ferr := inTx(ctx, w.r.db, func(tx *sql.Tx) error {
		if err := w.r.store.failCascade(ctx, tx, id, msg); err != nil {
			return err
		}
		held, err := w.r.store.abandonDeploying(ctx, tx, id, "the relay gave up on this cascade and no longer follows "+
			"the deployment, which may still run: "+msg)
		if err != nil {
			return err
		}
		for _, ev := range held {
			if _, err := w.r.jobs.InsertTx(ctx, tx, eventArgs(ev), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	w.r.metrics.cascadeFinished(id, cascadeFailed)
	return err
}

// handleEvent records what an update means; held says it must wait (the relay's own deployment
// of that stack is in flight, and its outcome decides whether the update is the relay's).
func (r *Relay) handleEvent(ctx context.Context, ev Event) (held bool, err error) {
	ref := ev.Ref()
	log := r.log.With("organization", ev.Organization, "stack", ref, "version", ev.Version)
	var cascadeID int64
	var outcome string
	started := false
	err = inTx(ctx, r.db, func(tx *sql.Tx) error {
		// inTx may run this again after a conflict: nothing from an aborted run counts.
		held, cascadeID, outcome = false, 0, ""
		rec, err := r.store.stackRecord(ctx, tx, ev.Organization, ref)
		if err != nil {
			return err
		}
		if ev.Version <= rec.SeenVersion {
			outcome = ignoredOutcome(ev.Version, rec.SeenVersion)
			return nil
		}
		busy, err := r.store.deployingElsewhere(ctx, tx, ev.Organization, ref, 0)
		if err != nil || busy {
			held = busy
			return err
		}
		if err := r.store.raiseSeen(ctx, tx, ev.Organization, ref, ev.Version); err != nil {
			return err
		}
		id, active, err := r.store.activeCascade(ctx, tx, ev.Organization, ref)
		if err != nil {
			return err
		}
		if active {
			cascadeID, outcome = id, "merged into the running cascade of this root as its next generation"
			return r.store.raisePending(ctx, tx, id, ev.Version)
		}
		if cascadeID, err = r.store.createCascade(ctx, tx, ev.Organization, ref, ev.Version); err != nil {
			return err
		}
		outcome, started = "started a cascade", true
		_, err = r.jobs.InsertTx(ctx, tx, cascadeArgs{CascadeID: cascadeID}, nil)
		return err
	})
	if err == nil && cascadeID != 0 {
		r.metrics.rootArrived(cascadeID, ref, started)
		r.wakeups.wake(cascadeID)
	}
	switch {
	case err != nil:
		return false, fmt.Errorf("recording the update of %s/%s to version %d: %w", ev.Organization, ref, ev.Version, err)
	case held:
		log.Info("update held: the relay's own deployment of this stack is in flight")
	case cascadeID != 0:
		log.Info("update "+outcome, slog.Int64("cascade", cascadeID))
	default:
		log.Info("update " + outcome)
	}
	return held, nil
}

// ignoredOutcome says why an update of version v starts nothing when the relay accounted for
// the stack's updates up to seen.
func ignoredOutcome(v, seen int) string {
	return fmt.Sprintf("ignored: version %d is at or below %d, which the relay already accounted for "+
		"(its own deployment, or an update already cascading)", v, seen)
}

// queued is what receiving an update did with it (queueUpdate).
type queued struct {
	what    queuedAs
	cascade int64 // the cascade that holds it
	seen    int   // the version the relay accounted for, when ignored
}

type queuedAs int

const (
	queuedNew       queuedAs = iota // a relay_event job was queued for it
	queuedDuplicate                 // a job for it was already queued
	queuedHeld                      // held on the row of the relay's own deployment of the stack
	queuedIgnored                   // at or below the version the relay accounted for
)

// queueUpdate records a delivered update. Most deliveries a relay receives announce the updates
// of its own deployments, which arrive as each deployment ends, while the cascade still
// records it as running: those are held on the deploying stack's row, whose end consumes them,
// and wake the cascade's step, since a deployment of its just ended. An update already
// accounted for is dropped. Only the rest, an update nobody expected, is a job, whose worker
// (handleEvent) starts or merges a cascade; checking and queueing in one transaction keeps a
// deployment's end from slipping between them.
//
// On PostgreSQL the transaction is READ COMMITTED, not SERIALIZABLE like the relay's others:
// deliveries arrive by the hundred as a layer of deployments ends, and under SERIALIZABLE they
// and the step recording those ends aborted each other by the thousand (the cascade row they
// read is the one each step writes). What the relay relies on still holds through row locks:
// the hold updates the stack's row only while it is deploying, re-checked after any concurrent
// write to that row commits; a step that records the end (or a give-up, abandonDeploying) after
// a hold committed conflicts on that row and runs again, so it sees the held version.
func (r *Relay) queueUpdate(ctx context.Context, ev Event) (queued, error) {
	var q queued
	err := inTxReadCommitted(ctx, r.db, func(tx *sql.Tx) error {
		ref := ev.Ref()
		id, held, err := r.store.holdUpdate(ctx, tx, ev.Organization, ref, ev.Version)
		if err != nil {
			return err
		}
		if held {
			q = queued{what: queuedHeld, cascade: id}
			return nil
		}
		rec, err := r.store.stackRecord(ctx, tx, ev.Organization, ref)
		if err != nil {
			return err
		}
		if ev.Version <= rec.SeenVersion {
			q = queued{what: queuedIgnored, seen: rec.SeenVersion}
			return nil
		}
		res, err := r.jobs.InsertTx(ctx, tx, eventArgs(ev), nil)
		if err != nil {
			return err
		}
		q = queued{what: queuedNew}
		if res.UniqueSkippedAsDuplicate {
			q.what = queuedDuplicate
		}
		return nil
	})
	if err == nil && q.what == queuedHeld {
		r.wakeups.wake(q.cascade)
	}
	return q, err
}

// cascadeQueue is the River queue of the cascades' steps, apart from the updates' jobs: a step
// keeps its worker while its deployments run (cascadeWorker.Work), and updates must not wait
// for it. cascadeWorkers bounds the cascades a relay process follows at once; a worker mostly
// waits, and the Cloud client bounds the requests they make together. A job gives its cascade
// back to the queue after maxFollow at most, so that more cascades than workers take turns.
const (
	cascadeQueue   = "relay_cascade"
	cascadeWorkers = 100
	maxFollow      = time.Minute
)

// wakeups lets a cascade's step, waiting between two looks at its deployments, start the next
// look at once when one of its deployments ended (queueUpdate). Only the process running the
// step can wake it; on another replica the poll interval bounds the wait.
type wakeups struct {
	mu      sync.Mutex
	waiting map[int64]chan struct{}
}

// register returns the channel that wakes cascade id's step, and the func that forgets it.
func (w *wakeups) register(id int64) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = map[int64]chan struct{}{}
	}
	ch := make(chan struct{}, 1)
	w.waiting[id] = ch
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.waiting[id] == ch {
			delete(w.waiting, id)
		}
	}
}

// wake wakes cascade id's step if it waits in this process; wakes while it runs collapse into
// one look after it.
func (w *wakeups) wake(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.waiting[id] <- struct{}{}:
	default:
	}
}
