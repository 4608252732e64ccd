package relay

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// A relay runs for weeks; what it records of the past would grow without end. --retain D bounds it:
// a River job, enqueued periodically by the elected leader (so one replica prunes at a time), deletes
// the cascades that finished before D ago with their stacks' rows, the rows of relay deployments that
// ended before D ago, and the hints received before D ago (a stack deleted since, or an organization
// no longer scheduled, leaves its hints behind: a scheduled one takes them in at its next look). What
// the schedule decides with (stacks, edges, deployments in flight, running cascades) is never pruned,
// and nothing pruned is written again: a cascade's row no longer changes once it finished, nor a
// deployment's once it ended. River deletes its own finished jobs (pruneArgs' too) after the shorter
// of D and a day.

// DefaultRetain is how long the relay keeps finished cascades and ended deployments by default.
const DefaultRetain = 30 * 24 * time.Hour

type pruneArgs struct{}

func (pruneArgs) Kind() string { return "relay_prune" }

// InsertOpts keeps at most one pruning waiting or running.
func (pruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: maintenanceQueue, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled,
	}}}
}

// maintenanceQueue is the River queue of the pruning job, apart from the organizations' jobs.
const maintenanceQueue = "relay_maintenance"

// pruneEvery is how often the relay prunes: a tenth of the retention, between a second and an hour,
// so that nothing outlives it by more than a tenth.
func pruneEvery(retain time.Duration) time.Duration {
	return min(max(retain/10, time.Second), time.Hour)
}

// prunePeriodically is the River periodic job that prunes, once at start and then every pruneEvery.
func prunePeriodically(retain time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(pruneEvery(retain)),
		func() (river.JobArgs, *river.InsertOpts) { return pruneArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

type pruneWorker struct {
	river.WorkerDefaults[pruneArgs]
	r *Relay
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[pruneArgs]) error {
	r := w.r
	cutoff := r.store.now().Add(-r.cfg.Retain)
	n, err := r.store.prune(ctx, r.db, ms(cutoff))
	if err != nil {
		return fmt.Errorf("pruning what finished before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
	}
	if n != (pruned{}) {
		r.log.Info("pruned what --retain no longer keeps", "retain", r.cfg.Retain.String(), "cascades", n.cascades,
			"deployments", n.deployments, "hints", n.hints)
	}
	return nil
}

// pruned counts the rows one pruning deleted.
type pruned struct{ cascades, deployments, hints int64 }

// prune deletes the finished cascades (with their stacks' rows) last changed before cutoff, the relay
// deployments that ended before it and the hints received before it, in batches of batchRows, each
// batch a transaction of its own, so that no pruning holds locks for long.
func (s *store) prune(ctx context.Context, db *sql.DB, cutoff int64) (pruned, error) {
	var n pruned
	for {
		// Both statements pick the same cascades: a finished cascade's row never changes again, and one
		// that finishes meanwhile was changed after cutoff.
		var deleted int64
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM relay_cascade_stack WHERE cascade_id IN (`+oldCascades+`)`,
				cascadeRunning, cutoff, batchRows); err != nil {
				return err
			}
			var err error
			deleted, err = rowsDeleted(tx.ExecContext(ctx, `DELETE FROM relay_cascade WHERE id IN (`+oldCascades+`)`,
				cascadeRunning, cutoff, batchRows))
			return err
		})
		if err != nil {
			return n, err
		}
		n.cascades += deleted
		if deleted < batchRows {
			break
		}
	}
	for {
		deleted, err := rowsDeleted(db.ExecContext(ctx, `
DELETE FROM relay_deployment WHERE id IN (
	SELECT id FROM relay_deployment WHERE ended_ms <> 0 AND ended_ms < $1 ORDER BY id LIMIT $2)`, cutoff, batchRows))
		if err != nil {
			return n, err
		}
		n.deployments += deleted
		if deleted < batchRows {
			break
		}
	}
	var err error
	n.hints, err = rowsDeleted(db.ExecContext(ctx, `DELETE FROM relay_hint WHERE received_ms < $1`, cutoff))
	return n, err
}

// oldCascades selects the oldest batch of cascades ($3 at most) not in state $1 and last changed before $2.
const oldCascades = `SELECT id FROM relay_cascade WHERE state <> $1 AND updated_ms < $2 ORDER BY id LIMIT $3`

func rowsDeleted(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
