package relay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

func TestPruneEvery(t *testing.T) {
	t.Parallel()
	for retain, want := range map[time.Duration]time.Duration{
		time.Second: time.Second, 20 * time.Second: 2 * time.Second, 5 * time.Hour: 30 * time.Minute,
		DefaultRetain: time.Hour,
	} {
		assert.Equal(t, want, pruneEvery(retain), "--retain %s", retain)
	}
}

// A relay with a short --retain prunes a finished cascade, its stacks' rows, its ended deployment and an
// old hint (of an organization it no longer schedules: its own it takes in at each look), and keeps a
// cascade that still runs, however old, with its deployment in flight.
func TestPruningKeepsOnlyWhatRunsOrIsRecent(t *testing.T) {
	t.Parallel()
	const retain = 2 * time.Second
	emu := newCloud(t, "root", "a", "other", "hung")
	h := startRelay(t, emu, testDB(t), func(c *Config) { c.Retain = retain })
	h.edge("p/root", "p/a")
	h.edge("p/other", "p/hung")
	h.behave("p/hung", emulator.DeploymentBehaviour{Hang: true})
	ctx := t.Context()
	_, err := h.r.db.ExecContext(ctx, `
INSERT INTO relay_hint (organization, project, stack, version, received_ms) VALUES ('elsewhere', 'p', 's', 3, 0)`)
	require.NoError(t, err)

	h.fire("p/other", map[string]any{"v": 1})
	running := h.waitFor("hung deploying", func(cs []CascadeView) bool {
		return len(cs) == 1 && cs[0].Stacks[0].DeploymentID != ""
	})[0]
	h.fire("p/root", map[string]any{"v": 1})
	done := h.waitFor("root's cascade done", func(cs []CascadeView) bool {
		return len(cs) == 2 && cs[0].State == cascadeDone
	})[0]
	count := func(query string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, h.r.db.QueryRowContext(ctx, query, args...).Scan(&n))
		return n
	}
	require.Equal(t, 1, count(`SELECT COUNT(*) FROM relay_cascade_stack WHERE cascade_id = $1`, done.ID))
	require.Equal(t, 2, count(`SELECT COUNT(*) FROM relay_deployment`))

	h.waitFor("root's cascade pruned", func(cs []CascadeView) bool { return len(cs) == 1 })
	t.Logf("pruned %s after it finished (--retain %s)", time.Since(done.Updated).Round(10*time.Millisecond), retain)
	cs := h.cascades()
	assert.Equal(t, running.ID, cs[0].ID, "the running cascade is kept")
	assert.Equal(t, cascadeRunning, cs[0].State)
	assert.Greater(t, time.Since(cs[0].Created), retain, "older than --retain, and kept")
	assert.Zero(t, count(`SELECT COUNT(*) FROM relay_cascade_stack WHERE cascade_id = $1`, done.ID))
	assert.Equal(t, 1, count(`SELECT COUNT(*) FROM relay_cascade_stack WHERE cascade_id = $1`, running.ID))
	assert.Equal(t, 1, count(`SELECT COUNT(*) FROM relay_deployment WHERE ended_ms = 0 AND stack = 'hung'`),
		"the deployment in flight is kept")
	assert.Equal(t, 1, count(`SELECT COUNT(*) FROM relay_deployment`), "a's ended deployment is pruned")
	assert.Zero(t, count(`SELECT COUNT(*) FROM relay_hint`), "the hint of an organization no one schedules is pruned")
	h.waitLog(`"msg":"pruned what --retain no longer keeps","retain":"2s","cascades":1,"deployments":1`)
}

// A backlog larger than a batch goes in batches, each cascade with its rows, and nothing running or
// recent goes with it.
func TestPruningABacklogInBatches(t *testing.T) {
	t.Parallel()
	db, d := openForTest(t, testDB(t))
	require.NoError(t, migrate(t.Context(), db, d, quietLog))
	const old, cutoff = 2*batchRows + 50, 1000
	for i := range old + 2 {
		state, updated := cascadeDone, int64(i)
		switch i {
		case old:
			state = cascadeRunning
		case old + 1:
			updated = cutoff
		}
		var id int64
		require.NoError(t, db.QueryRowContext(t.Context(), `
INSERT INTO relay_cascade (organization, project, stack, root_version, pending_version, generation, state, created_ms,
	updated_ms)
VALUES ('acme', 'p', 'root', 1, 1, 1, $1, 0, $2) RETURNING id`, state, updated).Scan(&id))
		_, err := db.ExecContext(t.Context(), `
INSERT INTO relay_cascade_stack (cascade_id, position, organization, project, stack, parents, state, generation)
VALUES ($1, 0, 'acme', 'p', 'a', '[]', 'succeeded', 1)`, id)
		require.NoError(t, err)
	}
	n, err := (&store{}).prune(t.Context(), db, cutoff)
	require.NoError(t, err)
	assert.Equal(t, pruned{cascades: old}, n)
	var cascades, rows int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM relay_cascade`).Scan(&cascades))
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM relay_cascade_stack`).Scan(&rows))
	assert.Equal(t, []int{2, 2}, []int{cascades, rows}, "the running cascade and the recent one stay, with their rows")
}
