package relay

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// Both databases the relay runs on, each test on an empty one: a SQLite file, or a throwaway
// PostgreSQL server (internal/pgtest).
var backends = []struct {
	name  string
	empty func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "relay.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.Start(t) }},
}

func openForTest(t *testing.T, dbArg string) (*sql.DB, dialect) {
	t.Helper()
	db, d, err := openDB(t.Context(), dbArg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, d
}

func schemaVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM relay_migration ORDER BY version`)
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func allVersions(d dialect) []int {
	var out []int
	for v := 1; v <= d.schemaVersion(); v++ {
		out = append(out, v)
	}
	return out
}

func TestMigrateAFreshDatabase(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db, d := openForTest(t, b.empty(t))
			require.NoError(t, migrate(t.Context(), db, d, quietLog))
			assert.Equal(t, allVersions(d), schemaVersions(t, db))
			require.NoError(t, migrate(t.Context(), db, d, quietLog), "migrating again changes nothing")
			assert.Equal(t, allVersions(d), schemaVersions(t, db))

			// The schema holds what the relay writes: an organization, its stacks and edges, a cascade.
			s := &store{now: time.Now}
			ctx := t.Context()
			epoch, baselined, err := s.claimOrg(ctx, db, "acme")
			require.NoError(t, err)
			assert.False(t, baselined)
			o, err := s.loadOrg(ctx, db, "acme", epoch, false)
			require.NoError(t, err)
			o.stackOf("p/root").version = 3
			o.setEdges("p/root", map[string]bool{"p/a": true}, true)
			o.stackOf("p/a").flight = &flight{Prior: 1, Covers: map[string]int{"p/root": 3}, Reason: "r", IntentMS: 1}
			c := newCascade(o, "p/root", 3, "test", time.UnixMilli(1000))
			require.NoError(t, inTx(ctx, db, func(tx *sql.Tx) error {
				if err := s.saveOrg(ctx, tx, o); err != nil {
					return err
				}
				return s.insertCascade(ctx, tx, "acme", c)
			}))
			back, err := s.loadOrg(ctx, db, "acme", epoch, false)
			require.NoError(t, err)
			assert.Equal(t, 3, back.stacks["p/root"].version)
			assert.Equal(t, &link{parent: "p/root", child: "p/a", recorded: 3, always: true, live: true},
				back.links["p/root"]["p/a"])
			assert.Equal(t, o.stacks["p/a"].flight, back.stacks["p/a"].flight)
			require.Len(t, back.cascades, 1)
			assert.Equal(t, "p/a", back.cascades[0].rows[0].stack)
			var jobs int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&jobs),
				"River's tables are there too")
		})
	}
}

func TestMigrateAVersion1DatabaseKeepsItsData(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db, d := openForTest(t, b.empty(t))
			fixture, err := os.ReadFile(filepath.Join("testdata", "v1-"+d.name+".sql"))
			require.NoError(t, err)
			_, err = db.ExecContext(t.Context(), string(fixture))
			require.NoError(t, err)
			require.Equal(t, []int{1}, schemaVersions(t, db))

			require.NoError(t, migrate(t.Context(), db, d, quietLog))
			assert.Equal(t, allVersions(d), schemaVersions(t, db))

			s := &store{now: time.Now}
			ctx := t.Context()
			recs, err := s.cascades(ctx, db, `WHERE id = $1`, 7)
			require.NoError(t, err)
			require.Len(t, recs, 1)
			assert.Equal(t, cascadeRecord{ID: 7, Organization: "acme", Root: "p/root", Version: 3, State: cascadeDone,
				Created: time.UnixMilli(1767225600000).UTC(), Updated: time.UnixMilli(1767225660000).UTC()}, recs[0])
			byCascade, err := s.rowsOf(ctx, db, recs)
			require.NoError(t, err)
			rows := byCascade[7]
			require.Len(t, rows, 2)
			assert.Equal(t, &cascadeRow{stack: "p/a", parents: []string{"p/root"}, state: StateSucceeded,
				reason: "deployment d-1 succeeded (stack version 5): the outputs of p/root changed", deploymentID: "d-1",
				covers: map[string]int{"p/root": 3}, deployments: 1, version: 5}, rows[0])
			assert.Equal(t, StateSkippedUnchanged, rows[1].state)

			// What the per-root relay learnt carries over: versions, what each stack deployed against,
			// a failed stack.
			o, err := s.loadOrg(ctx, db, "acme", 0, false)
			require.NoError(t, err)
			assert.Equal(t, 5, o.stacks["p/a"].version)
			assert.Equal(t, 4, o.links["p/a"]["p/b"].recorded)
			assert.True(t, o.links["p/a"]["p/b"].live)
			assert.True(t, o.stacks["p/b"].failed)
			assert.Equal(t, -1, o.stacks["p/b"].edgesVersion, "listed again at the first look")

			// New cascades are numbered after the old ones.
			c := newCascade(o, "p/root", 4, "test", time.Now())
			require.NoError(t, inTx(ctx, db, func(tx *sql.Tx) error { return s.insertCascade(ctx, tx, "acme", c) }))
			assert.Equal(t, int64(8), c.id)
		})
	}
}

func TestADatabaseNewerThanTheRelayIsRefused(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dbArg := b.empty(t)
			db, d := openForTest(t, dbArg)
			require.NoError(t, migrate(t.Context(), db, d, quietLog))
			newer := d.schemaVersion() + 1
			_, err := db.ExecContext(t.Context(), `INSERT INTO relay_migration (version, applied_ms) VALUES ($1, 0)`, newer)
			require.NoError(t, err)
			if d.name == sqliteDialect.name {
				// The file is this process's alone while open.
				require.NoError(t, db.Close())
			}

			r, err := New(Config{Addr: "127.0.0.1:0", DB: dbArg, Secret: testSecret, APIURL: "http://127.0.0.1:9", Token: "t"})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err = r.Run(ctx)
			require.ErrorIs(t, err, ErrSchemaTooNew)
			assert.EqualError(t, err, fmt.Sprintf("the database was migrated by a newer relay: its schema is at "+
				"version %d, this relay knows versions up to %d; run the newer relay (or restore a backup taken "+
				"before the upgrade)", newer, d.schemaVersion()))
		})
	}
}
