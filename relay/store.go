package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	// The pure-Go SQLite driver, registered as "sqlite": no cgo, one static binary.
	_ "modernc.org/sqlite"
)

// The relay's own tables sit beside River's in the same database, so that recording a cascade
// and enqueueing its job is one transaction. The SQL in this package is written to run on
// SQLite and PostgreSQL alike ($n placeholders, INTEGER 0/1 for booleans, Unix milliseconds for
// times, CASE instead of MAX/GREATEST, ON CONFLICT upserts); only the table definitions differ,
// and they live in the dialect below.

// dialect is what differs between databases: the relay's schema, and how to take back jobs a
// killed process left running.
type dialect struct {
	name       string
	migrations []string
	// recoverOrphans makes jobs left running by a process that died available again. Only a
	// database that a single relay process owns can do it at start; a shared one (PostgreSQL
	// with replicas) leaves it to River's rescuer.
	recoverOrphans string
}

var sqliteDialect = dialect{
	name: "sqlite",
	migrations: []string{`
CREATE TABLE relay_cascade (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	organization    TEXT    NOT NULL,
	project         TEXT    NOT NULL,
	stack           TEXT    NOT NULL,
	root_version    INTEGER NOT NULL,
	pending_version INTEGER NOT NULL,
	generation      INTEGER NOT NULL,
	state           TEXT    NOT NULL,
	discovered      INTEGER NOT NULL DEFAULT 0,
	error           TEXT    NOT NULL DEFAULT '',
	created_ms      INTEGER NOT NULL,
	updated_ms      INTEGER NOT NULL
);
CREATE INDEX relay_cascade_root ON relay_cascade (organization, project, stack, state);
CREATE TABLE relay_cascade_stack (
	cascade_id    INTEGER NOT NULL REFERENCES relay_cascade (id),
	position      INTEGER NOT NULL,
	organization  TEXT    NOT NULL,
	project       TEXT    NOT NULL,
	stack         TEXT    NOT NULL,
	parents       TEXT    NOT NULL,
	state         TEXT    NOT NULL,
	generation    INTEGER NOT NULL,
	reason        TEXT    NOT NULL DEFAULT '',
	cause         TEXT    NOT NULL DEFAULT '',
	deployment_id TEXT    NOT NULL DEFAULT '',
	deployments   INTEGER NOT NULL DEFAULT 0,
	prior_version INTEGER NOT NULL DEFAULT 0,
	against       TEXT    NOT NULL DEFAULT '{}',
	version       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (cascade_id, project, stack)
);
CREATE INDEX relay_cascade_stack_state ON relay_cascade_stack (organization, project, stack, state);
CREATE TABLE relay_edge (
	organization   TEXT    NOT NULL,
	parent         TEXT    NOT NULL,
	child          TEXT    NOT NULL,
	parent_version INTEGER NOT NULL,
	PRIMARY KEY (organization, parent, child)
);
CREATE TABLE relay_stack (
	organization TEXT    NOT NULL,
	project      TEXT    NOT NULL,
	stack        TEXT    NOT NULL,
	seen_version INTEGER NOT NULL DEFAULT 0,
	last_failed  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (organization, project, stack)
);`,
		// Judging a stack reads its edges by child; without this every judgment scanned all edges
		// (4,850 of them, for each of 2,000 stacks, in the 2,000-stack bench).
		`CREATE INDEX relay_edge_child ON relay_edge (organization, child);`},
	recoverOrphans: `UPDATE river_job SET state = 'available' WHERE state = 'running'`,
}

// ErrPostgresNotYet refuses a PostgreSQL URL given as the database.
var ErrPostgresNotYet = errors.New("--db: PostgreSQL is not supported yet; give the path of a SQLite file " +
	"(it is created if missing), such as relay.db")

// store reads and writes the relay's tables through whichever querier (pool or transaction)
// it is given; it holds no connection of its own.
type store struct {
	now func() time.Time
}

// openSQLite opens (creating if needed) the SQLite file at path for this process alone.
// River needs a pool of one connection on SQLite; the exclusive lock that connection holds
// makes a second relay on the same file fail at start instead of both deploying.
func openSQLite(ctx context.Context, path string) (*sql.DB, error) {
	switch {
	case strings.HasPrefix(path, "postgres://"), strings.HasPrefix(path, "postgresql://"):
		return nil, ErrPostgresNotYet
	case path == "":
		return nil, errors.New("--db: the path of the SQLite file is empty")
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("--db: %q: a SQLite file path cannot contain '?' or '#'", path)
	}
	dsn := path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)&_pragma=locking_mode(EXCLUSIVE)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the SQLite file %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	// Taking a write lock now makes a file another relay holds fail here, with a clear error.
	if _, err := db.ExecContext(ctx, "BEGIN IMMEDIATE; COMMIT"); err != nil {
		_ = db.Close()
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			return nil, fmt.Errorf("the SQLite file %s is in use by another process (is another relay running "+
				"on it?): %w", path, err)
		}
		return nil, fmt.Errorf("opening the SQLite file %s: %w", path, err)
	}
	return db, nil
}

// migrate brings River's tables and the relay's up to date.
func migrate(ctx context.Context, db *sql.DB, d dialect, logger *slog.Logger) error {
	migrator, err := rivermigrate.New(riversqlite.New(db), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("preparing River's migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	if _, err := db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS relay_migration (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("creating relay_migration: %w", err)
	}
	for i, ddl := range d.migrations {
		version := i + 1
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM relay_migration WHERE version = $1`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, ddl); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO relay_migration (version, applied_ms) VALUES ($1, $2)`,
				version, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("applying the relay's migration %d: %w", version, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction, committed if fn returns nil. With one connection in the pool,
// fn must use tx alone: anything else waits for the connection tx holds.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
