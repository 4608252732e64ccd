package relay

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Replicas on PostgreSQL watch each other, so that the organizations a replica killed outright was
// scheduling go on elsewhere within seconds. River alone takes a dead client's running jobs back only
// once they have run for RescueStuckJobsAfter, and its rescuer looks every 30 s: it cannot tell a dead
// replica from a long run (riverqueue/river#773).
//
// Each replica counts its heartbeats in relay_replica, one every heartbeatEvery, from before its job
// queue starts until it stops. Each reads the others' counts, and one whose count has not moved for
// --rescue-after by the reader's own clock (so clocks that disagree between machines do not matter) is
// taken for dead: in one transaction, the reader forgets it, unless it counted meanwhile, and makes the
// jobs it was running available again (dialect.handOn), which a replica's queue then fetches within its
// fetch interval. A replica taken for dead that was only slow loses nothing but time: the next run of
// each of its organizations takes it over with a new epoch, which fences whatever the slow one still
// tries to write (store_org.go).

// heartbeatEvery is how often a replica counts a heartbeat and looks at the others': a silent replica
// is noticed at most this late after --rescue-after.
const heartbeatEvery = 500 * time.Millisecond

// replicaWatch is one replica's view of the others: each one's last count and when it last moved.
type replicaWatch struct {
	r    *Relay
	seen map[string]beats
}

type beats struct {
	count int64
	moved time.Time
}

// beat counts one heartbeat of this replica.
func (s *store) beat(ctx context.Context, q querier, replica string) error {
	_, err := q.ExecContext(ctx, `
INSERT INTO relay_replica (replica, beats, started_ms) VALUES ($1, 1, $2)
ON CONFLICT (replica) DO UPDATE SET beats = relay_replica.beats + 1`, replica, ms(s.now()))
	return err
}

// replicas reads every replica's heartbeat count.
func (s *store) replicas(ctx context.Context, q querier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT replica, beats FROM relay_replica`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[string]int64{}
	for rows.Next() {
		var replica string
		var count int64
		if err := rows.Scan(&replica, &count); err != nil {
			return nil, err
		}
		out[replica] = count
	}
	return out, rows.Err()
}

// forgetReplica forgets a replica if its count is still count, and says whether it did.
func (s *store) forgetReplica(ctx context.Context, q querier, replica string, count int64) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM relay_replica WHERE replica = $1 AND beats = $2`, replica, count)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// watchReplicas counts this replica's heartbeats and hands on the jobs of the replicas that died,
// until ctx ends; then it forgets this replica, whose jobs the stop handed back already.
func (r *Relay) watchReplicas(ctx context.Context) {
	w := &replicaWatch{r: r, seen: map[string]beats{}}
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, err := r.db.ExecContext(stop, `DELETE FROM relay_replica WHERE replica = $1`, r.jobs.ID()); err != nil {
				r.log.Warn("forgetting this replica failed", "error", err.Error())
			}
			return
		case <-tick.C:
		}
		if err := r.store.beat(ctx, r.db, r.jobs.ID()); err != nil && ctx.Err() == nil {
			r.log.Warn("a heartbeat failed; other replicas take this one for dead after --rescue-after without one",
				"error", err.Error())
		}
		if err := w.look(ctx, time.Now()); err != nil && ctx.Err() == nil {
			r.log.Warn("looking at the other replicas' heartbeats failed; tried again", "error", err.Error())
		}
	}
}

// look hands on the jobs of every replica whose count has not moved for RescueAfter.
func (w *replicaWatch) look(ctx context.Context, now time.Time) error {
	r := w.r
	counts, err := r.store.replicas(ctx, r.db)
	if err != nil {
		return err
	}
	for replica, count := range counts {
		seen, known := w.seen[replica]
		if !known || seen.count != count {
			w.seen[replica] = beats{count: count, moved: now}
			continue
		}
		if replica == r.jobs.ID() || now.Sub(seen.moved) < r.cfg.RescueAfter {
			continue
		}
		var handedOn int64
		err := inTx(ctx, r.db, func(tx *sql.Tx) error {
			handedOn = 0
			forgotten, err := r.store.forgetReplica(ctx, tx, replica, count)
			if err != nil || !forgotten {
				return err
			}
			res, err := tx.ExecContext(ctx, r.dialect.handOn, replica)
			if err != nil {
				return err
			}
			handedOn, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("handing on the jobs of replica %s: %w", replica, err)
		}
		delete(w.seen, replica)
		r.log.Warn("a replica stopped counting heartbeats: its jobs are handed on", "dead_replica", replica,
			"silent_for", now.Sub(seen.moved).Round(time.Millisecond).String(), "jobs", handedOn)
		r.metrics.replicaTakenOver()
	}
	for replica := range w.seen {
		if _, ok := counts[replica]; !ok {
			delete(w.seen, replica)
		}
	}
	return nil
}
