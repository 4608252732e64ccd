package relay

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// Replicas on one PostgreSQL database, in this process; relay/replicas_e2e_test.go kills one of
// two relay processes mid-cascade.

func TestPostgresReplicasDeployEachStackOnce(t *testing.T) {
	t.Parallel()
	// The diamond below root, and r1 → s, r2 → s: both roots update at once.
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b", "p/join", "p/r1", "p/r2", "p/s")
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/root", "p/b"}, {"p/a", "p/join"}, {"p/b", "p/join"},
		{"p/r1", "p/s"}, {"p/r2", "p/s"}} {
		fc.edge(e[0], e[1])
	}
	fc.setNext("p/a", map[string]any{"a": 1})
	fc.setNext("p/b", map[string]any{"b": 1})
	db := pgtest.Start(t)
	replicas := []*harness{startRelay(t, fc, db), startRelay(t, fc, db), startRelay(t, fc, db)}

	// Every delivery of each update reaches every replica, as behind a load balancer with retries.
	for _, ev := range []Event{fc.update("p/root", map[string]any{"v": 1}), fc.update("p/r1", map[string]any{"v": 1}),
		fc.update("p/r2", map[string]any{"v": 1})} {
		for _, h := range replicas {
			status, _ := h.deliver(ev)
			require.Equal(t, http.StatusAccepted, status)
		}
	}
	replicas[1].waitDone(3)
	for _, ref := range []string{"p/a", "p/b", "p/join"} {
		assert.Len(t, fc.deploymentsOf(ref), 1, "%s deploys once", ref)
	}
	ds := fc.deploymentsOf("p/s")
	require.Len(t, ds, 2, "once per cascade")
	assert.Greater(t, ds[1].startSeq, ds[0].endSeq, "never twice at once")
	for _, h := range replicas {
		assert.Len(t, h.cascades(), 3, "every replica lists every cascade")
	}
}

func TestPostgresRelayFinishesACascadeAStoppedReplicaLeft(t *testing.T) {
	t.Parallel()
	fc := chain()
	fc.setHold("p/a", true)
	db := pgtest.Start(t)
	h1 := startRelay(t, fc, db)
	h1.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h1.waitFor("a deploying", func(cs []CascadeView) bool {
		return len(cs) == 1 && states(cs[0])["p/a"] == StateDeploying && cs[0].Stacks[0].DeploymentID != ""
	})
	require.NoError(t, h1.stop())

	fc.setHold("p/a", false)
	h2 := startRelay(t, fc, db)
	c := h2.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Equal(t, 1, fc.postsTo("p/a"))
	assert.Equal(t, 1, fc.postsTo("p/b"))
}

// A step that River took for abandoned may still be running when another replica runs the same
// cascade's step: whichever records its intent second must not ask for a second deployment.
func TestAStaleStepDoesNotStartADeploymentTwice(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fc := chain()
			fc.setHold("p/a", true)
			h := startRelay(t, fc, b.empty(t))
			h.deliver(fc.update("p/root", map[string]any{"v": 1}))
			h.waitFor("a deploying", func(cs []CascadeView) bool {
				return len(cs) == 1 && states(cs[0])["p/a"] == StateDeploying && cs[0].Stacks[0].DeploymentID != ""
			})
			c, nodes, err := h.r.store.loadCascade(t.Context(), h.r.db, h.cascades()[0].ID)
			require.NoError(t, err)
			// What the other step saw when it judged a: waiting, ready to deploy.
			stale := nodes[0]
			stale.State, stale.DeploymentID = StateWaiting, ""
			require.NoError(t, h.r.startDeployments(t.Context(), h.r.log, c, []toStart{{n: &stale,
				why: "a stale judgement", against: map[string]int{"p/root": c.RootVersion}}}))
			assert.Equal(t, StateWaiting, stale.State, "the stale step records no intent")
			assert.Equal(t, 1, fc.postsTo("p/a"), "and asks for nothing")
			fc.setHold("p/a", false)
			h.waitDone(1)
			assert.Len(t, fc.deploymentsOf("p/a"), 1)
		})
	}
}
