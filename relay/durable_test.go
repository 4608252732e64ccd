package relay

import (
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// A relay that recorded its intent to deploy a stack and asked, then died before it recorded the
// answer: the next relay finds the deployment that landed and asks for no other.
func TestRestartFindsTheDeploymentStartedButNotRecorded(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	emu := newCloud(t, "root", "a", "b")
	db := testDB(t)
	h1 := startRelay(t, emu, db)
	h1.chain()
	h1.behave("p/a", emulator.DeploymentBehaviour{Hang: true})
	h1.fire("p/root", map[string]any{"v": 1})
	require.Eventually(t, func() bool { return len(h1.deployments("p/a")) == 1 }, defaultWait, pollEvery)
	require.NoError(t, h1.stop())
	// What a relay killed between its POST and recording the answer leaves: the intent alone.
	forgetDeploymentID(t, db, "a")
	h1.behave("p/a", emulator.DeploymentBehaviour{})
	_, err := emu.CancelDeployment(testOrg, "p", "a", h1.deployments("p/a")[0].ID)
	require.NoError(t, err)

	h2 := startRelay(t, emu, db)
	h2.waitLog("found the deployment started before an interruption; not starting another")
	assert.Len(t, h2.deployments("p/a"), 1, "the deployment that landed is found, not started again")
}

// forgetDeploymentID removes the deployment id from the relay's record of its deployment of stack.
func forgetDeploymentID(t *testing.T, path, stack string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	var raw string
	require.NoError(t, db.QueryRow(`SELECT flight FROM relay_stack WHERE stack = $1`, stack).Scan(&raw))
	f, err := decodeFlight(raw)
	require.NoError(t, err)
	require.NotNil(t, f, "the relay records the deployment in flight")
	require.NotEmpty(t, f.ID)
	f.ID = ""
	raw, err = encodeFlight(f)
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE relay_stack SET flight = $1 WHERE stack = $2`, raw, stack)
	require.NoError(t, err)
}

func TestAnAmbiguousStartIsLookedUpNotRepeated(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	h.chain()
	// The start lands, but its answer is lost.
	h.emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusBadGateway, Method: "POST",
		PathContains: "/a/deployments", AfterApply: true, Limit: 1}}})
	h.fire("p/root", map[string]any{"v": 1})
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Len(t, h.deployments("p/a"), 1, "the deployment that landed is found")
	assert.Contains(t, h.logs.String(), "found the deployment started before an interruption; not starting another")
}

func TestAnAmbiguousStartThatDidNotLandIsAskedAgain(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	h.chain()
	h.emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Method: "POST", PathContains: "/a/deployments",
		DropConnection: true, Limit: 1}}})
	h.fire("p/root", map[string]any{"v": 1})
	c := h.waitDone(1)
	assert.Equal(t, StateSucceeded, states(c)["p/a"])
	assert.Len(t, h.deployments("p/a"), 1, "nothing landed, so the relay asked again, once")
	assert.Contains(t, h.logs.String(), "no deployment was started for the recorded intent; asking for it now")
}

func TestAStartRefusedFailsTheStack(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "b")
	require.NoError(t, emu.CreateStack(testOrg, "p", "a")) // no deployment settings
	h := startRelay(t, emu, testDB(t))
	h.chain()
	h.fire("p/root", map[string]any{"v": 1})
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateFailed, "p/b": StateSkippedUpstreamFailed}, states(c))
	assert.Contains(t, stackView(t, c, "p/a").Reason, "the deployment could not be started: POST /api/stacks/acme/p/a/"+
		"deployments: 400 Bad Request")
	assert.Empty(t, h.deployments("p/a"))
}

func TestASecondRelayOnTheSameFileRefusesToStart(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	db := testDB(t)
	emu := newCloud(t)
	startRelay(t, emu, db)
	r, err := New(Config{Addr: "127.0.0.1:0", DB: db, Secret: testSecret, APIURL: emu.URL, Token: emu.Token})
	require.NoError(t, err)
	err = r.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is in use by another process (is another relay running on it?)")
}

func TestAnUnreachablePostgresSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	// A socket directory that does not exist: the connection fails at once.
	db := "postgres://relay:hunter2@/relay?host=" + t.TempDir() + "/none"
	r, err := New(Config{Addr: "127.0.0.1:0", DB: db, Secret: testSecret, APIURL: "http://127.0.0.1:9", Token: "t"})
	require.NoError(t, err)
	err = r.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connecting to PostgreSQL at postgres://relay:xxxxx@/relay?host=")
	assert.Contains(t, err.Error(), "(is it running, and does the URL name an existing database and a user allowed to "+
		"create tables in it?)")
	assert.NotContains(t, err.Error(), "hunter2", "the password stays out of the error")
}

// A read that fails belongs to its stack: x, whose parent's outputs cannot be read for a while, waits
// and is judged again on the relay's backoff, while y, beside it, deploys at once.
func TestAReadErrorHoldsOnlyItsStack(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "r1", "r2", "x", "y"), testDB(t))
	h.edge("p/r1", "p/x")
	h.edge("p/r2", "p/y")
	h.fire("p/r1", map[string]any{"v": 1})
	h.fire("p/r2", map[string]any{"v": 1})
	h.waitDone(2)
	// r1's outputs cannot be exported three times in a row.
	h.emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusServiceUnavailable,
		PathContains: "/r1/export/", Limit: 9}}})
	h.fire("p/r1", map[string]any{"v": 2})
	h.fire("p/r2", map[string]any{"v": 2})
	h.waitDone(4)
	assert.Len(t, h.deployments("p/x"), 2)
	assert.Len(t, h.deployments("p/y"), 2)
	assert.Contains(t, h.logs.String(), `"msg":"a read failed; retried","organization":"acme","stack":"p/x"`)
	assert.NotContains(t, h.logs.String(), `"msg":"a read failed; retried","organization":"acme","stack":"p/y"`)
	x, y := h.deployments("p/x")[1], h.deployments("p/y")[1]
	assert.True(t, y.Created.Before(x.Created), "y did not wait for x's trouble")
}

// Two roots updated a moment apart: with --settle, the stack below both deploys once, covering both;
// without, it deploys for the first and again for the second.
func TestSettleCoversChangesThatComeTogether(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		settle      time.Duration
		deployments int
	}{{time.Second, 1}, {0, 2}} {
		h := startRelay(t, newCloud(t, "r1", "r2", "x"), testDB(t), func(c *Config) { c.Settle = tt.settle })
		h.edge("p/r1", "p/x")
		h.edge("p/r2", "p/x")
		h.behave("p/x", emulator.DeploymentBehaviour{Duration: time.Second})
		h.fire("p/r1", map[string]any{"v": 1})
		h.waitLog(`"msg":"stack changed","organization":"acme","stack":"p/r1"`)
		require.Eventually(t, func() bool { return tt.settle > 0 || len(h.deployments("p/x")) == 1 }, defaultWait, pollEvery)
		h.fire("p/r2", map[string]any{"v": 1})
		h.waitDone(2)
		assert.Len(t, h.deployments("p/x"), tt.deployments, "--settle %s", tt.settle)
		if tt.settle > 0 {
			assert.Equal(t, map[string]int{"acme/p/r1": 1, "acme/p/r2": 1}, h.cascades()[0].Stacks[0].Covers,
				"one deployment covers both")
		}
	}
}
