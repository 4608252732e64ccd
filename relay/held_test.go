package relay

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An update delivered while the relay deploys its stack is held on the deploying stack's row of
// a running cascade, the newest version kept, and taken once by the end of that deployment.
func TestUpdatesHeldOnTheDeployingStack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, d := openForTest(t, testDB(t))
	require.NoError(t, migrate(ctx, db, d, quietLog))
	s := &store{now: time.Now}

	id, err := s.createCascade(ctx, db, "acme", "p/root", 1)
	require.NoError(t, err)
	c := cascadeRow{ID: id, Organization: "acme", Root: "p/root"}
	nodes := []nodeRow{
		{Node: Node{Stack: "p/a", Parents: []string{"p/root"}, State: StateWaiting, Generation: 1}},
		{Node: Node{Stack: "p/b", Parents: []string{"p/a"}, State: StateWaiting, Generation: 1}},
	}
	require.NoError(t, inTx(ctx, db, func(tx *sql.Tx) error { return s.saveGraph(ctx, tx, c, nodes) }))
	nodes[0].State = StateDeploying
	require.NoError(t, s.saveNode(ctx, db, id, nodes[0]))

	hold := func(ref string, version int) (int64, bool) {
		got, held, err := s.holdUpdate(ctx, db, "acme", ref, version)
		require.NoError(t, err)
		return got, held
	}
	got, held := hold("p/a", 5)
	assert.True(t, held, "a deploys")
	assert.Equal(t, id, got)
	_, held = hold("p/a", 3)
	assert.True(t, held, "an older delivery is held too")
	_, held = hold("p/b", 4)
	assert.False(t, held, "b waits: its update is not the relay's")
	_, held = hold("p/x", 4)
	assert.False(t, held, "a stack of no cascade")

	v, err := s.takeHeld(ctx, db, id, "p/a")
	require.NoError(t, err)
	assert.Equal(t, 5, v, "the newest version is kept")
	v, err = s.takeHeld(ctx, db, id, "p/a")
	require.NoError(t, err)
	assert.Zero(t, v, "taken once")

	// A cascade that gives up hands back what is held on its deploying stacks, which stop
	// deploying, so nothing more is held on them.
	_, held = hold("p/a", 6)
	require.True(t, held)
	abandoned, err := s.abandonDeploying(ctx, db, id, "gave up")
	require.NoError(t, err)
	assert.Equal(t, []Event{{Organization: "acme", Project: "p", Stack: "a", Version: 6}}, abandoned)
	_, held = hold("p/a", 7)
	assert.False(t, held, "a stack the relay no longer follows")

	require.NoError(t, s.failCascade(ctx, db, id, "gave up"))
	require.NoError(t, s.saveNode(ctx, db, id, nodes[0]))
	_, held = hold("p/a", 8)
	assert.False(t, held, "a cascade that ended holds nothing, even on a row left deploying")
}
