package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	// The pure-Go SQLite driver, registered as "sqlite": no cgo, one static binary.
	_ "modernc.org/sqlite"
)

// The relay's own tables sit beside River's in the same database, so that recording a cascade
// and enqueueing its job is one transaction. The SQL in this package is written to run on
// SQLite and PostgreSQL alike ($n placeholders, INTEGER 0/1 for booleans, Unix milliseconds for
// times, CASE instead of MAX/GREATEST, ON CONFLICT upserts); only the table definitions differ,
// and they live in the dialects below.

// dialect is what differs between databases: the relay's schema, River's driver, and whether
// one process owns the database.
type dialect struct {
	name string
	// migrations are the relay's schema changes in order: migrations[i] brings the database to
	// version i+1, recorded in relay_migration. Append only: a released migration never changes.
	migrations []string
	river      func(*sql.DB) riverdriver.Driver[*sql.Tx]
	// recoverOrphans makes jobs left running by a process that died available again. Only a
	// database that a single relay process owns can do it at start; a shared one (PostgreSQL
	// with replicas) leaves it empty, and its replicas hand on the jobs of one that died (handOn).
	recoverOrphans string
	// handOn (shared databases only) makes the jobs that replica $1 was running available again, as
	// its own snooze would have (the attempt does not count): River's rescuer would only take them
	// once they had run for RescueStuckJobsAfter (replicas.go).
	handOn string
	// wake (shared databases only) tells every replica that organization $1 has news (notify.go).
	wake string
	// snapshot is how a read of several queries sees the database at one moment (the status page, the
	// cascades): REPEATABLE READ on PostgreSQL, whose default READ COMMITTED lets each query see what
	// was committed before it, so that a look saved between two of them shows a cascade done beside a
	// stack still deploying. A SQLite transaction reads one moment as it is.
	snapshot *sql.TxOptions
}

// shared says whether several relay processes may work on the database at once.
func (d dialect) shared() bool { return d.recoverOrphans == "" }

// schemaVersion is the relay's schema version this binary brings databases to.
func (d dialect) schemaVersion() int { return len(d.migrations) }

// Version 2: children look up the edges recorded towards them (edgeVersions) by child, which
// the primary key (organization, parent, child) cannot serve.
const edgeChildIndex = `CREATE INDEX relay_edge_child ON relay_edge (organization, child)`

// Version 3: an update of a stack that arrives while the relay's own deployment of it runs is
// recorded on the deploying stack's row (held_version) instead of queued as a job; the end of
// the deployment consumes it (holdUpdate, takeHeld).
const heldVersionColumn = `ALTER TABLE relay_cascade_stack ADD COLUMN held_version INTEGER NOT NULL DEFAULT 0`

// schemaV1 is the relay's first schema, written once for both databases: $ID is the cascade's
// identity column and $BIGINT a 64-bit integer (ids, milliseconds), which SQLite's INTEGER is and
// PostgreSQL's INTEGER is not.
const schemaV1 = `
CREATE TABLE relay_cascade (
	id              $ID,
	organization    TEXT    NOT NULL,
	project         TEXT    NOT NULL,
	stack           TEXT    NOT NULL,
	root_version    INTEGER NOT NULL,
	pending_version INTEGER NOT NULL,
	generation      INTEGER NOT NULL,
	state           TEXT    NOT NULL,
	discovered      INTEGER NOT NULL DEFAULT 0,
	error           TEXT    NOT NULL DEFAULT '',
	created_ms      $BIGINT NOT NULL,
	updated_ms      $BIGINT NOT NULL
);
CREATE INDEX relay_cascade_root ON relay_cascade (organization, project, stack, state);
CREATE TABLE relay_cascade_stack (
	cascade_id    $BIGINT NOT NULL REFERENCES relay_cascade (id),
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
);`

func schemaV1For(id, bigint string) string {
	return strings.NewReplacer("$ID", id, "$BIGINT", bigint).Replace(schemaV1)
}

// Version 4: the relay becomes level-triggered, one schedule per organization (doc.go). A stack's row
// holds what the relay knows of it (seen_version is now its newest confirmed version), an edge's row
// whether it is in the graph and whether it always deploys its child; deliveries only leave hints;
// every relay deployment has a row of its own. Cascades of the per-root design that were still running
// are ended: the organization's schedule takes over what they had left to do. Replicas on PostgreSQL
// count their heartbeats in relay_replica (replicas.go).
const schemaV4 = `
ALTER TABLE relay_stack ADD COLUMN last_update $BIGINT NOT NULL DEFAULT 0;
ALTER TABLE relay_stack ADD COLUMN edges_version INTEGER NOT NULL DEFAULT -1;
ALTER TABLE relay_stack ADD COLUMN updating INTEGER NOT NULL DEFAULT 0;
ALTER TABLE relay_stack ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE relay_stack ADD COLUMN estimate_ms $BIGINT NOT NULL DEFAULT 0;
ALTER TABLE relay_stack ADD COLUMN flight TEXT NOT NULL DEFAULT '';
ALTER TABLE relay_stack ADD COLUMN last_deployment TEXT NOT NULL DEFAULT '';
ALTER TABLE relay_edge ADD COLUMN always_deploy INTEGER NOT NULL DEFAULT 0;
ALTER TABLE relay_edge ADD COLUMN live INTEGER NOT NULL DEFAULT 1;
ALTER TABLE relay_cascade ADD COLUMN cause TEXT NOT NULL DEFAULT '';
CREATE TABLE relay_org (
	organization TEXT    PRIMARY KEY,
	epoch        $BIGINT NOT NULL DEFAULT 0,
	baseline_ms  $BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE relay_hint (
	organization TEXT    NOT NULL,
	project      TEXT    NOT NULL,
	stack        TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	received_ms  $BIGINT NOT NULL,
	PRIMARY KEY (organization, project, stack)
);
CREATE TABLE relay_deployment (
	id            $ID,
	organization  TEXT    NOT NULL,
	project       TEXT    NOT NULL,
	stack         TEXT    NOT NULL,
	deployment_id TEXT    NOT NULL DEFAULT '',
	console_url   TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL DEFAULT '',
	covers        TEXT    NOT NULL DEFAULT '{}',
	intent_ms     $BIGINT NOT NULL,
	started_ms    $BIGINT NOT NULL DEFAULT 0,
	ended_ms      $BIGINT NOT NULL DEFAULT 0,
	outcome       TEXT    NOT NULL DEFAULT '',
	version       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX relay_deployment_stack ON relay_deployment (organization, project, stack, id);
CREATE INDEX relay_cascade_state ON relay_cascade (organization, state);
UPDATE relay_cascade SET state = 'done', error = 'ended by the upgrade to one schedule per organization'
WHERE state = 'running';
CREATE TABLE relay_replica (
	replica    TEXT    PRIMARY KEY,
	beats      $BIGINT NOT NULL,
	started_ms $BIGINT NOT NULL
);`

func schemaV4For(id, bigint string) string {
	return strings.NewReplacer("$ID", id, "$BIGINT", bigint).Replace(schemaV4)
}

var sqliteDialect = dialect{
	name: "sqlite",
	migrations: []string{schemaV1For("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"), edgeChildIndex, heldVersionColumn,
		schemaV4For("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER")},
	river:          func(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riversqlite.New(db) },
	recoverOrphans: `UPDATE river_job SET state = 'available' WHERE state = 'running'`,
}

// postgresDialect is SQLite's schema in PostgreSQL's types: BIGINT where SQLite's INTEGER holds
// 64 bits (ids, milliseconds), an identity column for AUTOINCREMENT.
var postgresDialect = dialect{
	name:     "postgres",
	snapshot: &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	migrations: []string{schemaV1For("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT"), edgeChildIndex,
		heldVersionColumn, schemaV4For("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT")},
	river: func(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riverdatabasesql.New(db) },
	handOn: `
UPDATE river_job SET state = 'available', scheduled_at = now(), attempt = GREATEST(attempt - 1, 0)
WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`,
	wake: `SELECT pg_notify('` + wakeChannel + `', $1)`,
}

// isPostgres tells a PostgreSQL URL given as --db from a SQLite file path.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// displayDB is --db as it may be logged: a URL without its password.
func displayDB(db string) string {
	if !isPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// store reads and writes the relay's tables through whichever querier (pool or transaction)
// it is given; it holds no connection of its own.
type store struct {
	now func() time.Time
}

// openDB opens the database --db names: a PostgreSQL URL, or else the path of a SQLite file.
func openDB(ctx context.Context, db string) (*sql.DB, dialect, error) {
	if !isPostgres(db) {
		conn, err := openSQLite(ctx, db)
		return conn, sqliteDialect, err
	}
	conn, err := openPostgres(ctx, db)
	return conn, postgresDialect, err
}

// openPostgres connects to the PostgreSQL database at url, which any number of relay replicas
// share: River's locking gives each job to one of them at a time.
func openPostgres(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("--db %s: %w", displayDB(url), err)
	}
	// The queue's workers, River's maintenance and the HTTP handlers share the pool. Its
	// connections stay open: database/sql keeps only 2 idle by default, and a burst of deliveries
	// would open and close a connection each, every one a new server process.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL at %s (is it running, and does the URL name an existing "+
			"database and a user allowed to create tables in it?): %w", displayDB(url), err)
	}
	return db, nil
}

// openSQLite opens (creating if needed) the SQLite file at path for this process alone.
// River needs a pool of one connection on SQLite; the exclusive lock that connection holds
// makes a second relay on the same file fail at start instead of both deploying.
func openSQLite(ctx context.Context, path string) (*sql.DB, error) {
	switch {
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

// ErrSchemaTooNew refuses a database that a newer relay migrated.
var ErrSchemaTooNew = errors.New("the database was migrated by a newer relay")

// migrationLock is the PostgreSQL advisory lock key that replicas starting together take, so
// that one of them migrates and the others find the work done ("relay" in ASCII).
const migrationLock = 0x72656c6179

// migrate brings River's tables and the relay's up to date. The relay's migrations are numbered
// from 1 and recorded in relay_migration, one row per version applied, each applied in a
// transaction of its own with its row; a database at a version above the binary's is refused,
// since this binary cannot know what the newer schema means.
func migrate(ctx context.Context, db *sql.DB, d dialect, logger *slog.Logger) error {
	if d.name == postgresDialect.name {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close() }()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("waiting for another relay's migrations: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
		}()
	}
	if _, err := db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS relay_migration (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating relay_migration: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM relay_migration`).Scan(&current); err != nil {
		return fmt.Errorf("reading the relay's schema version: %w", err)
	}
	if current > d.schemaVersion() {
		return fmt.Errorf("%w: its schema is at version %d, this relay knows versions up to %d; run the newer relay "+
			"(or restore a backup taken before the upgrade)", ErrSchemaTooNew, current, d.schemaVersion())
	}
	migrator, err := rivermigrate.New(d.river(db), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("preparing River's migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	for i, ddl := range d.migrations {
		version := i + 1
		if version <= current {
			continue
		}
		err := inTx(ctx, db, func(tx *sql.Tx) error {
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
		logger.Info("relay schema migrated", "version", version)
	}
	return nil
}

// inTx runs fn in a transaction, committed if fn returns nil, at the database's default isolation
// (READ COMMITTED on PostgreSQL). With one connection in the pool (SQLite), fn must use tx alone:
// anything else waits for the connection tx holds. What the relay relies on comes from the
// organization's epoch, whose row a look's transaction updates first (fenceOrg): two runs of one
// organization's schedule never write at once, and a stale one writes nothing. PostgreSQL may still
// abort a transaction as a deadlock; inTx then runs fn again, from the start, so fn must only write.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	return retryTx(ctx, db, nil, fn)
}

// retryTx runs fn in a transaction with opts, again after each conflict PostgreSQL aborts it
// for, up to 20 times.
func retryTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := runTx(ctx, db, opts, fn)
		if err == nil || !retryable(err) || attempt == 20 {
			return err
		}
		conflictRetries.Add(1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*(1+rand.IntN(10))) * time.Millisecond):
		}
	}
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// readAtOnce runs fn, which only reads, in one transaction that sees the database at one moment.
func (r *Relay) readAtOnce(ctx context.Context, fn func(q querier) error) error {
	return runTx(ctx, r.db, r.dialect.snapshot, func(tx *sql.Tx) error { return fn(tx) })
}

// conflictRetries counts the transactions of this process that PostgreSQL aborted as conflicting
// and inTx ran again (the metric transaction_retries_total).
var conflictRetries atomic.Uint64

// retryable says whether PostgreSQL aborted a transaction that conflicted with another, so
// that running it again can succeed.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) &&
		(pgErr.Code == "40001" /* serialization_failure */ || pgErr.Code == "40P01" /* deadlock_detected */)
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
