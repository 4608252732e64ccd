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

			// The schema holds what the relay writes: a cascade and its job in one transaction.
			s := &store{now: time.Now}
			var id int64
			require.NoError(t, inTx(t.Context(), db, func(tx *sql.Tx) error {
				var err error
				id, err = s.createCascade(t.Context(), tx, "acme", "p/root", 1)
				return err
			}))
			c, _, err := s.loadCascade(t.Context(), db, id)
			require.NoError(t, err)
			assert.Equal(t, "p/root", c.Root)
			var jobs int
			require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM river_job`).Scan(&jobs),
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
			c, nodes, err := s.loadCascade(ctx, db, 7)
			require.NoError(t, err)
			assert.Equal(t, cascadeRow{ID: 7, Organization: "acme", Root: "p/root", RootVersion: 3, PendingVersion: 3,
				Generation: 1, State: cascadeDone, Discovered: true,
				Created: time.UnixMilli(1767225600000).UTC(), Updated: time.UnixMilli(1767225660000).UTC()}, c)
			require.Len(t, nodes, 2)
			assert.Equal(t, nodeRow{
				Node:   Node{Stack: "p/a", Parents: []string{"p/root"}, State: StateSucceeded, Generation: 1},
				Reason: "deployment d-1 succeeded (stack version 5): the outputs of p/root changed",
				Cause:  "the outputs of p/root changed", DeploymentID: "d-1", Deployments: 1, PriorVersion: 4,
				Against: map[string]int{"p/root": 3}, Version: 5,
			}, nodes[0])
			assert.Equal(t, StateSkippedUnchanged, nodes[1].State)
			edges, err := s.edgeVersions(ctx, db, "acme", "p/b")
			require.NoError(t, err)
			assert.Equal(t, map[string]int{"p/a": 4}, edges)
			rec, err := s.stackRecord(ctx, db, "acme", "p/b")
			require.NoError(t, err)
			assert.Equal(t, stackRecord{SeenVersion: 2, LastFailed: true}, rec)

			// New cascades are numbered after the old ones.
			id, err := s.createCascade(ctx, db, "acme", "p/root", 4)
			require.NoError(t, err)
			assert.Equal(t, int64(8), id)
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

			r, err := New(Config{Addr: "127.0.0.1:0", DB: dbArg, Secret: testSecret, Cloud: newFakeCloud("acme")})
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
