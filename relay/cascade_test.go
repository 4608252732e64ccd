package relay

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diamond is root → a, root → b, a → join, b → join.
func diamond() *fakeCloud {
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b", "p/join")
	fc.edge("p/root", "p/a")
	fc.edge("p/root", "p/b")
	fc.edge("p/a", "p/join")
	fc.edge("p/b", "p/join")
	return fc
}

func TestDiamondDeploysItsJoinOnceAfterBothParents(t *testing.T) {
	t.Parallel()
	fc := diamond()
	fc.setNext("p/a", map[string]any{"a": 1})
	fc.setNext("p/b", map[string]any{"b": 1})
	h := startRelay(t, fc, testDB(t))

	status, _ := h.deliver(fc.update("p/root", map[string]any{"url": "v1"}))
	require.Equal(t, http.StatusAccepted, status)
	c := h.waitDone(1)

	assert.Equal(t, "acme/p/root", c.Root)
	assert.Equal(t, 2, c.Version)
	assert.Equal(t, cascadeDone, c.State)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded, "p/join": StateSucceeded}, states(c))
	a, b, join := fc.deploymentsOf("p/a"), fc.deploymentsOf("p/b"), fc.deploymentsOf("p/join")
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	require.Len(t, join, 1, "the join deploys once, not once per path")
	assert.Greater(t, join[0].startSeq, a[0].endSeq, "the join starts after a finished")
	assert.Greater(t, join[0].startSeq, b[0].endSeq, "the join starts after b finished")
	assert.Equal(t, join[0].ID, stackView(t, c, "p/join").DeploymentID)
	assert.Contains(t, stackView(t, c, "p/join").Reason, "succeeded")
}

func TestUnchangedOutputsDeployNothing(t *testing.T) {
	t.Parallel()
	fc := diamond()
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"url": "v1"}))
	h.waitDone(1)

	// The root updates again with the same outputs: nothing below it reads anything new.
	h.deliver(fc.update("p/root", map[string]any{"url": "v1"}))
	c := h.waitDone(2)
	assert.Equal(t, map[string]State{
		"p/a": StateSkippedUnchanged, "p/b": StateSkippedUnchanged, "p/join": StateSkippedUnchanged,
	}, states(c))
	for _, ref := range []string{"p/a", "p/b", "p/join"} {
		assert.Len(t, fc.deploymentsOf(ref), 1, "%s deployed only in the first cascade", ref)
	}
	assert.Equal(t, "no parent's outputs changed: p/root version 2 to 3", stackView(t, c, "p/a").Reason)
}

func TestOnlyStacksWhoseParentsChangedDeploy(t *testing.T) {
	t.Parallel()
	// root → a → c, root → b; a's deployment writes the same outputs again.
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b", "p/c")
	fc.edge("p/root", "p/a")
	fc.edge("p/root", "p/b")
	fc.edge("p/a", "p/c")
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"url": "v1"}))
	h.waitDone(1)

	h.deliver(fc.update("p/root", map[string]any{"url": "v2"}))
	c := h.waitDone(2)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded, "p/c": StateSkippedUnchanged},
		states(c), "c reads a, whose outputs did not change")
	assert.Len(t, fc.deploymentsOf("p/c"), 1)
	assert.Regexp(t, `^deployment dep-\d+ succeeded \(stack version 3\): outputs of p/root changed \(version 2 to 3\)$`,
		stackView(t, c, "p/a").Reason)
}

func TestSecretOutputsAreComparedByValue(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud("acme", "p/root", "p/a")
	fc.edge("p/root", "p/a")
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"password": secretOf{"hunter2"}}))
	h.waitDone(1)

	// The same value encrypted again is no change.
	h.deliver(fc.update("p/root", map[string]any{"password": secretOf{"hunter2"}}))
	c := h.waitDone(2)
	assert.Equal(t, StateSkippedUnchanged, states(c)["p/a"])

	// A new value is.
	h.deliver(fc.update("p/root", map[string]any{"password": secretOf{"correct-horse"}}))
	c = h.waitDone(3)
	assert.Equal(t, StateSucceeded, states(c)["p/a"])
	assert.Len(t, fc.deploymentsOf("p/a"), 2)
	assert.NotContains(t, h.logs.String(), "hunter2", "a secret's value is never logged")
	assert.NotContains(t, h.logs.String(), "correct-horse", "a secret's value is never logged")
}

// joinBelowAFailure is a cloud holding root → a → a1 → join, root → b → join and root → s: a
// join with one parent below a and one beside it, and a sibling with nothing below.
func joinBelowAFailure() *fakeCloud {
	fc := newFakeCloud("acme", "p/root", "p/a", "p/a1", "p/b", "p/join", "p/s")
	for _, e := range [][2]string{{"p/root", "p/a"}, {"p/a", "p/a1"}, {"p/a1", "p/join"}, {"p/root", "p/b"},
		{"p/b", "p/join"}, {"p/root", "p/s"}} {
		fc.edge(e[0], e[1])
	}
	return fc
}

func TestFailureSkipsEverythingBelowAndSiblingsGoOn(t *testing.T) {
	t.Parallel()
	// root → a → a1 → join, root → b → join, root → s.
	fc := joinBelowAFailure()
	fc.setFail("p/a", true)
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{
		"p/a": StateFailed, "p/a1": StateSkippedUpstreamFailed, "p/join": StateSkippedUpstreamFailed,
		"p/b": StateSucceeded, "p/s": StateSucceeded,
	}, states(c))
	assert.Empty(t, fc.deploymentsOf("p/a1"))
	assert.Empty(t, fc.deploymentsOf("p/join"))
	assert.Equal(t, "its parent p/a failed", stackView(t, c, "p/a1").Reason)
	assert.Equal(t, "its parent p/a1 was skipped because a stack above it failed", stackView(t, c, "p/join").Reason)

	// The next update changes nothing, yet a, whose last deployment failed, deploys again.
	fc.setFail("p/a", false)
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c = h.waitDone(2)
	assert.Equal(t, StateSucceeded, states(c)["p/a"])
	assert.Regexp(t, `^deployment dep-\d+ succeeded \(stack version 2\): its last deployment failed$`,
		stackView(t, c, "p/a").Reason)
	assert.Equal(t, StateSkippedUnchanged, states(c)["p/b"])
	assert.Equal(t, StateSucceeded, states(c)["p/a1"], "a1 never deployed after its edge: it deploys")
}

func TestUpdateDuringCascadeCoalesces(t *testing.T) {
	t.Parallel()
	// root → a → c, root → b: a is held mid-deployment while the root updates again.
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b", "p/c")
	fc.edge("p/root", "p/a")
	fc.edge("p/root", "p/b")
	fc.edge("p/a", "p/c")
	fc.setNext("p/a", map[string]any{"a": "x"})
	fc.setHold("p/a", true)
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h.waitFor("a deploying and b done", func(cs []CascadeView) bool {
		return len(cs) == 1 && states(cs[0])["p/a"] == StateDeploying && states(cs[0])["p/b"] == StateSucceeded
	})

	second := fc.update("p/root", map[string]any{"v": 2})
	fc.mu.Lock()
	secondSeq := fc.seq
	fc.mu.Unlock()
	h.deliver(second)
	h.waitFor("the update merged", func(cs []CascadeView) bool { return len(cs) == 1 && cs[0].Generation == 2 })
	fc.setHold("p/a", false)
	c := h.waitDone(1)

	assert.Equal(t, second.Version, c.Version)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded, "p/c": StateSucceeded}, states(c))
	for ref, want := range map[string]int{"p/a": 2, "p/b": 2, "p/c": 1} {
		ds := fc.deploymentsOf(ref)
		require.Len(t, ds, want, "%s deploys at most once per generation", ref)
		assert.Greater(t, ds[len(ds)-1].startSeq, secondSeq, "%s's last deployment starts after the root's last update", ref)
	}
	assert.Equal(t, 2, stackView(t, c, "p/a").Deployments)
}

func TestTheRelaysOwnDeploymentsStartNoCascade(t *testing.T) {
	t.Parallel()
	fc, h := aDeployingInAChain(t)
	// The event of a's deployment (version 2) can arrive before the relay sees the deployment
	// end: it is held, then dropped.
	status, body := h.deliver(Event{Organization: "acme", Project: "p", Stack: "a", Version: 2})
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	h.waitForHeld()
	fc.setHold("p/a", false)
	h.waitDone(1)
	// b's deployment's event arrives after it ended.
	h.deliver(Event{Organization: "acme", Project: "p", Stack: "b", Version: 2})

	// An update of the root afterwards is the next cascade; no cascade ever started at a or b.
	h.deliver(fc.update("p/root", map[string]any{"v": 2}))
	h.waitDone(2)
	for _, c := range h.cascades() {
		assert.Equal(t, "acme/p/root", c.Root)
	}
	// a's held update is dropped when its deployment's end is recorded, as the deployment's own.
	assert.Regexp(t, `"msg":"update ignored: version 2 is at or below 2, which the relay already accounted for `+
		`\(its own deployment, or an update already cascading\)","cascade":1,[^\n]*"stack":"p/a","version":2}`,
		h.logs.String())
}

func TestACycleIsRefusedAndNothingDeploys(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b")
	fc.edge("p/root", "p/a")
	fc.edge("p/a", "p/b")
	fc.edge("p/b", "p/a")
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c := h.waitDone(1)
	assert.Equal(t, cascadeFailed, c.State)
	assert.Equal(t, "the graph has a cycle, so nothing deploys: p/a → p/b → p/a", c.Error)
	assert.Empty(t, c.Stacks)
	assert.Zero(t, fc.postsTo("p/a")+fc.postsTo("p/b"))
}

func TestDuplicateDeliveriesStartOneCascade(t *testing.T) {
	t.Parallel()
	fc := diamond()
	h := startRelay(t, fc, testDB(t))
	ev := fc.update("p/root", map[string]any{"v": 1})
	// The root has two edges, so the service delivers the event twice; a redelivery makes three.
	dups := []any{}
	for range 3 {
		status, body := h.deliver(ev)
		require.Equal(t, http.StatusAccepted, status)
		dups = append(dups, body["duplicate"])
	}
	assert.Equal(t, []any{false, true, true}, dups)
	h.waitDone(1)
	status, body := h.deliver(ev)
	require.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, true, body["duplicate"], "a redelivery after the cascade ended is still a duplicate")
	assert.Len(t, h.cascades(), 1)
	assert.Len(t, fc.deploymentsOf("p/join"), 1)
}

func TestTwoCascadesNeverDeployOneStackAtOnce(t *testing.T) {
	t.Parallel()
	// r1 → s and r2 → s: both roots update while s's first deployment runs.
	fc := newFakeCloud("acme", "p/r1", "p/r2", "p/s")
	fc.edge("p/r1", "p/s")
	fc.edge("p/r2", "p/s")
	fc.setHold("p/s", true)
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/r1", map[string]any{"v": 1}))
	h.waitFor("s deploying for r1", func(cs []CascadeView) bool {
		return len(cs) == 1 && states(cs[0])["p/s"] == StateDeploying
	})
	h.deliver(fc.update("p/r2", map[string]any{"v": 1}))
	// r2's cascade finds s ready but deploying for r1: it waits.
	cs := h.waitFor("r2's cascade waiting for s", func(cs []CascadeView) bool {
		return len(cs) == 2 && len(cs[0].Stacks) == 1 && cs[0].Stacks[0].Reason == reasonBusyElsewhere
	})
	assert.Equal(t, StateWaiting, states(cs[0])["p/s"])
	assert.Equal(t, 1, fc.postsTo("p/s"))
	fc.setHold("p/s", false)
	h.waitDone(2)
	ds := fc.deploymentsOf("p/s")
	require.Len(t, ds, 2, "once per cascade")
	assert.Greater(t, ds[1].startSeq, ds[0].endSeq, "the second starts after the first ended")
}

func TestAnEdgeToADeletedStackFailsIt(t *testing.T) {
	t.Parallel()
	fc := newFakeCloud("acme", "p/root", "p/a")
	fc.edge("p/root", "p/a")
	fc.edge("p/root", "p/gone")
	h := startRelay(t, fc, testDB(t))
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/gone": StateFailed}, states(c))
	assert.Equal(t, "the stack does not exist: first deployment after the edge from p/root",
		stackView(t, c, "p/gone").Reason)
	assert.Zero(t, fc.postsTo("p/gone"))
}

func TestADeploymentsUpdateWakesItsCascade(t *testing.T) {
	t.Parallel()
	// root → a → b, with a poll interval no test waits for: the cascade moves on only because the
	// update each of its deployments delivers wakes it.
	fc, h := aDeployingInAChain(t, func(c *Config) { c.PollInterval = time.Hour })
	fc.setHold("p/a", false)
	status, body := h.deliver(Event{Organization: "acme", Project: "p", Stack: "a", Version: 2})
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	h.waitFor("b deploying", func(cs []CascadeView) bool { return deploymentOf(cs[0], "p/b") != "" })
	h.deliver(Event{Organization: "acme", Project: "p", Stack: "b", Version: 2})
	c := h.waitDone(1)
	assert.Equal(t, map[string]State{"p/a": StateSucceeded, "p/b": StateSucceeded}, states(c))
	assert.Len(t, h.cascades(), 1, "the relay's own deployments start no cascade")
}

func TestAnUpdateNewerThanTheRelaysDeploymentCascades(t *testing.T) {
	t.Parallel()
	// root → a → b. While the relay deploys a (to version 2), someone updates a to version 7: the
	// update is held on a's row, and once a's deployment ended it is an update of its own, which
	// starts a cascade from a.
	fc, h := aDeployingInAChain(t)
	h.deliver(Event{Organization: "acme", Project: "p", Stack: "a", Version: 7})
	h.waitForHeld()
	fc.setHold("p/a", false)
	second := h.waitDone(2)
	assert.Equal(t, "acme/p/a", second.Root)
	assert.Equal(t, 7, second.Version)
	assert.Contains(t, h.logs.String(), "update held during the relay's deployment is newer than the deployment: "+
		"queued as an update")
}

// deploymentOf is the deployment the relay started for ref in c, if any yet.
func deploymentOf(c CascadeView, ref string) string {
	for _, s := range c.Stacks {
		if strings.HasSuffix(s.Stack, "/"+ref) {
			return s.DeploymentID
		}
	}
	return ""
}

func TestAStoppingRelayHandsItsCascadesBackAtOnce(t *testing.T) {
	t.Parallel()
	// root → a, a deploying: the cascade's job waits between two looks when the relay stops. It
	// must not hold the stop for the grace period (an hour here), and the next relay on the
	// database finishes the cascade.
	fc := newFakeCloud("acme", "p/root", "p/a")
	fc.edge("p/root", "p/a")
	fc.setHold("p/a", true)
	db := testDB(t)
	h := startRelay(t, fc, db, func(c *Config) { c.PollInterval, c.ShutdownGrace = time.Hour, time.Hour })
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h.waitFor("a deploying", func(cs []CascadeView) bool { return len(cs) == 1 && deploymentOf(cs[0], "p/a") != "" })
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(defaultWait):
		t.Fatal("the relay did not stop: a cascade waiting between two looks held it for the grace period")
	}

	fc.setHold("p/a", false)
	next := startRelay(t, fc, db)
	c := next.waitDone(1)
	assert.Equal(t, StateSucceeded, states(c)["p/a"])
	assert.Len(t, fc.deploymentsOf("p/a"), 1, "the next relay follows the deployment started, and starts no other")
}

// aDeployingInAChain starts a relay on root → a → b and an update of the root, and returns once the
// relay's deployment of a started, which runs until the test releases it (fc.setHold).
func aDeployingInAChain(t *testing.T, mods ...func(*Config)) (*fakeCloud, *harness) {
	t.Helper()
	fc := newFakeCloud("acme", "p/root", "p/a", "p/b")
	fc.edge("p/root", "p/a")
	fc.edge("p/a", "p/b")
	fc.setHold("p/a", true)
	h := startRelay(t, fc, testDB(t), mods...)
	h.deliver(fc.update("p/root", map[string]any{"v": 1}))
	h.waitFor("a deploying", func(cs []CascadeView) bool { return len(cs) == 1 && deploymentOf(cs[0], "p/a") != "" })
	return fc, h
}

// waitForHeld waits for the relay to say it held an update of a stack it is deploying.
func (h *harness) waitForHeld() {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		return strings.Contains(h.logs.String(), "update held: the relay's own deployment of this stack is in flight")
	}, defaultWait, pollEvery)
}
