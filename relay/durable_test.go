package relay

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
)

// chain is root → a → b.
func chain() *fakeCloud {
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b")
	fc.edge("p/root", "p/a")
	fc.edge("p/a", "p/b")
	return fc
}

func TestRestartFindsTheDeploymentStartedButNotRecorded(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	fc := chain()
	db := testDB(t)
	h1 := startRelay(t, fc, db)
	// The relay dies right after its POST for a landed, before it recorded the answer.
	var died atomic.Bool
	fc.onCreate = func(ctx context.Context, ref string) error {
		if ref != "p/a" || !died.CompareAndSwap(false, true) {
			return nil
		}
		go func() { _ = h1.stop() }()
		<-ctx.Done()
		return ctx.Err()
	}
	h1.deliver(fc.update("p/root", map[string]any{"v": 1}))
	require.Eventually(t, died.Load, defaultWait, pollEvery)
	require.NoError(t, h1.stop())
	// What SIGKILL leaves: the step's job still marked running.
	markJobsRunning(t, db)

	fc.mu.Lock()
	fc.onCreate = nil
	fc.mu.Unlock()
	h2 := startRelay(t, fc, db)
	c := h2.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Equal(t, 1, fc.postsTo("p/a"), "the deployment started before the restart is found, not started again")
	assert.Len(t, fc.deploymentsOf("p/a"), 1)
	assert.Len(t, fc.deploymentsOf("p/b"), 1)
	assert.Contains(t, h2.logs.String(), "found the deployment started before an interruption; not starting another")
}

// markJobsRunning sets the relay's jobs back to running, as a process killed mid-step leaves them.
func markJobsRunning(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	res, err := db.Exec(`UPDATE river_job SET state = 'running' WHERE kind = 'relay_cascade' AND state <> 'completed'`)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), n, "the cascade's job is unfinished")
}

func TestRestartMidCascadeFinishesIt(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	fc := chain()
	fc.setHold("p/a", true)
	db := testDB(t)
	h1 := startRelay(t, fc, db)
	h1.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h1.waitFor("a deploying", func(cs []CascadeView) bool {
		return len(cs) == 1 && states(cs[0])["p/a"] == StateDeploying && cs[0].Stacks[0].DeploymentID != ""
	})
	require.NoError(t, h1.stop())
	markJobsRunning(t, db)

	fc.setHold("p/a", false)
	h2 := startRelay(t, fc, db)
	c := h2.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Equal(t, 1, fc.postsTo("p/a"))
	assert.Equal(t, 1, fc.postsTo("p/b"))
}

func TestAnAmbiguousStartIsLookedUpNotRepeated(t *testing.T) {
	t.Parallel()
	fc := chain()
	var once atomic.Bool
	fc.onCreate = func(_ context.Context, ref string) error {
		if ref == "p/a" && once.CompareAndSwap(false, true) {
			return fmt.Errorf("POST /api/stacks/acme/p/a/deployments: 503 Service Unavailable: %w", cloud.ErrAmbiguous)
		}
		return nil
	}
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Equal(t, 1, fc.postsTo("p/a"), "the deployment that landed is found")
	assert.Len(t, fc.deploymentsOf("p/a"), 1)
}

func TestAnAmbiguousStartThatDidNotLandIsAskedAgain(t *testing.T) {
	t.Parallel()
	fc := chain()
	var once atomic.Bool
	fc.dropCreate = func(ref string) error {
		if ref == "p/a" && once.CompareAndSwap(false, true) {
			return fmt.Errorf("POST /api/stacks/acme/p/a/deployments: connection reset: %w", cloud.ErrAmbiguous)
		}
		return nil
	}
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c := h.waitDone(1)
	assert.Equal(t, StateSucceeded, states(c)["p/a"])
	assert.Equal(t, 2, fc.postsTo("p/a"), "nothing landed, so the relay asked again")
	assert.Len(t, fc.deploymentsOf("p/a"), 1)
}

func TestAStartRefusedFailsTheStack(t *testing.T) {
	t.Parallel()
	fc := chain()
	fc.dropCreate = func(ref string) error {
		if ref == "p/a" {
			return &cloud.APIError{Method: "POST", Path: "/api/stacks/acme/p/a/deployments", StatusCode: 400,
				Message: "Stack 'acme/p/a' has no deployment settings to inherit"}
		}
		return nil
	}
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateFailed, "p/b": StateSkippedUpstreamFailed}, states(c))
	assert.Equal(t, 1, fc.postsTo("p/a"), "a definite refusal is not retried")
	assert.Equal(t, "the deployment could not be started: POST /api/stacks/acme/p/a/deployments: 400 Bad Request: "+
		"Stack 'acme/p/a' has no deployment settings to inherit (stack version 1): first deployment after the edge from p/root",
		stackView(t, c, "p/a").Reason)
}

func TestASecondRelayOnTheSameFileRefusesToStart(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	db := testDB(t)
	startRelay(t, newFakeCloud("acme"), db)
	r, err := New(Config{Addr: "127.0.0.1:0", DB: db, Secret: testSecret, Cloud: newFakeCloud("acme")})
	require.NoError(t, err)
	err = r.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is in use by another process (is another relay running on it?)")
}

func TestAnUnreachablePostgresSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	// A socket directory that does not exist: the connection fails at once.
	db := "postgres://relay:hunter2@/relay?host=" + t.TempDir() + "/none"
	r, err := New(Config{Addr: "127.0.0.1:0", DB: db, Secret: testSecret, Cloud: newFakeCloud("acme")})
	require.NoError(t, err)
	err = r.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connecting to PostgreSQL at postgres://relay:xxxxx@/relay?host=")
	assert.Contains(t, err.Error(), "(is it running, and does the URL name an existing database and a user allowed to "+
		"create tables in it?)")
	assert.NotContains(t, err.Error(), "hunter2", "the password stays out of the error")
}
