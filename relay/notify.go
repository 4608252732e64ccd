package relay

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// A delivery records a hint, then wakes its organization's job so that the next look takes it in at
// once (jobs.go). The job may run in another replica, so on PostgreSQL the wake also goes through the
// database: a NOTIFY on wakeChannel, sent after the hint is committed, reaches every replica that
// LISTENs, and each wakes the job if it runs there. River's database/sql driver has no listener, so
// each replica holds one pgx connection of its own for it. On SQLite, one process owns the file and
// the wake stays in process.

// wakeChannel is the PostgreSQL notification channel of wakes; the payload is the organization.
const wakeChannel = "relay_wake"

// wake wakes the organization's job here and, on PostgreSQL, in every replica. A wake that cannot be
// sent is only logged: the hint is recorded, and the job's own clock finds it at its next look.
func (r *Relay) wake(ctx context.Context, name string) {
	r.wakeups.wake(name)
	if r.dialect.wake == "" {
		return
	}
	if _, err := r.db.ExecContext(ctx, r.dialect.wake, name); err != nil {
		r.log.Warn("waking the organization's job in the other replicas failed; it finds the delivery at its "+
			"next look", "organization", name, "error", err.Error())
	}
}

// listenForWakes LISTENs on wakeChannel until ctx ends, waking the job of each organization notified
// if it runs in this process. A lost connection is opened again after a pause.
func (r *Relay) listenForWakes(ctx context.Context) {
	for {
		err := r.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("listening for other replicas' wakes failed; listening again", "error", err.Error(),
			"retry_in", listenRetry.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
	}
}

// listenRetry is the pause before a lost listening connection is opened again.
const listenRetry = time.Second

func (r *Relay) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, r.cfg.DB)
	if err != nil {
		return err
	}
	defer func() {
		closing, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closing)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
		return err
	}
	// A wake sent while this replica was not listening is lost: every job waiting here looks again.
	r.wakeups.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		r.wakeups.wake(n.Payload)
	}
}
