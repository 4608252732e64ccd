package relay

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// Replicas on one PostgreSQL database, in this process; relay/replicas_e2e_test.go kills one of
// two relay processes mid-cascade.

func TestPostgresReplicasDeployEachStackOnce(t *testing.T) {
	t.Parallel()
	// The diamond below root, and r1 → s, r2 → s: both roots update at once.
	emu := newCloud(t, "root", "a", "b", "join", "r1", "r2", "s")
	db := pgtest.Start(t)
	// Both roots' updates are one change for s: their deliveries may reach the replicas a moment apart.
	settle := func(c *Config) { c.Settle = time.Second }
	replicas := []*harness{startRelay(t, emu, db, settle), startRelay(t, emu, db, settle),
		startRelay(t, emu, db, settle)}
	h := replicas[1]
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/root", "p/b"}, {"p/a", "p/join"}, {"p/b", "p/join"},
		{"p/r1", "p/s"}, {"p/r2", "p/s"}} {
		h.edge(e[0], e[1])
	}
	h.behave("p/a", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": 1}}})
	h.behave("p/b", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"b": 1}}})
	for _, root := range []string{"p/root", "p/r1", "p/r2"} {
		h.fire(root, map[string]any{"v": 1})
	}
	h.waitDone(3)
	for _, ref := range []string{"p/a", "p/b", "p/join", "p/s"} {
		assert.Len(t, h.deployments(ref), 1, "%s deploys once", ref)
	}
	for _, r := range replicas {
		assert.Len(t, r.cascades(), 3, "every replica lists every cascade")
	}
}

func TestPostgresRelayGoesOnWhereAStoppedReplicaLeft(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	db := pgtest.Start(t)
	h1 := startRelay(t, emu, db)
	h1.chain()
	h1.behave("p/a", emulator.DeploymentBehaviour{Duration: time.Second})
	h1.fire("p/root", map[string]any{"v": 1})
	h1.waitFor("a deploying", func(cs []CascadeView) bool {
		return len(cs) == 1 && states(cs[0])["p/a"] == StateDeploying && cs[0].Stacks[0].DeploymentID != ""
	})
	require.NoError(t, h1.stop())
	h2 := startRelay(t, emu, db)
	c := h2.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Len(t, h2.deployments("p/a"), 1)
	assert.Len(t, h2.deployments("p/b"), 1)
}

// A run of an organization's schedule that River handed on while it still ran (a replica taken for
// dead) is fenced: once another run took the organization over, it records nothing, so it asks for
// nothing either.
func TestAStaleRunRecordsNothing(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	h := startRelay(t, emu, testDB(t))
	ctx := t.Context()
	stale, err := h.r.store.loadOrg(ctx, h.r.db, testOrg, 0, true)
	require.NoError(t, err)
	_, _, err = h.r.store.claimOrg(ctx, h.r.db, testOrg) // the running job's
	require.NoError(t, err)
	stale.stackOf("p/a").version = 7
	err = inTx(ctx, h.r.db, func(tx *sql.Tx) error { return h.r.store.saveOrg(ctx, tx, stale) })
	require.ErrorIs(t, err, errFenced)
	fresh, err := h.r.store.loadOrg(ctx, h.r.db, testOrg, 0, true)
	require.NoError(t, err)
	assert.NotEqual(t, 7, fresh.stackOf("p/a").version, "nothing of the stale run was written")
}
