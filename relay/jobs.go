package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Two kinds of River job carry the relay's work:
//
//   - relay_event, one per delivered update (organization, project, stack, version), unique by
//     those args: the N deliveries of one update (one per edge leaving the stack) and any
//     redelivery insert nothing new. Its worker starts a cascade, merges the update into the
//     running cascade of the same root, holds it while the relay itself deploys that stack, or
//     drops it when the relay has already accounted for that version.
//   - relay_cascade, one per cascade, unique by its id, inserted in the transaction that records
//     the cascade. Each run is one step (walk the graph, follow deployments in flight, decide
//     and start what is ready); while the cascade is not done the job snoozes for the poll
//     interval, which River does not count as an attempt.

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
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
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

func (w *cascadeWorker) Work(ctx context.Context, job *river.Job[cascadeArgs]) error {
	id := job.Args.CascadeID
	done, err := w.r.advance(ctx, id)
	switch {
	case ctx.Err() != nil:
		// Shutting down: run the step again as soon as a relay starts on this database.
		return river.JobSnooze(0)
	case err != nil:
		log := w.r.log.With("cascade", id)
		if job.Attempt >= job.MaxAttempts {
			msg := fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err)
			log.Error("cascade failed", "error", msg)
			if ferr := w.r.store.failCascade(ctx, w.r.db, id, msg); ferr != nil {
				return errors.Join(err, ferr)
			}
			w.r.metrics.cascadeFinished(id, cascadeFailed)
			return err
		}
		log.Warn("cascade step failed; River retries it", "error", err.Error(), "attempt", job.Attempt)
		return err
	case done:
		return nil
	}
	return river.JobSnooze(w.r.cfg.PollInterval)
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
			outcome = fmt.Sprintf("ignored: version %d is at or below %d, which the relay already accounted for "+
				"(its own deployment, or an update already cascading)", ev.Version, rec.SeenVersion)
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
