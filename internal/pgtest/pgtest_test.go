package pgtest_test

import (
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

func TestStartServesAFreshDatabase(t *testing.T) {
	db, err := sql.Open("pgx", pgtest.Start(t))
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	var version string
	require.NoError(t, db.QueryRowContext(t.Context(), `SHOW server_version`).Scan(&version))
	require.NotEmpty(t, version)
	var tables int
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables))
	require.Zero(t, tables, "a new cluster holds no tables")
}
