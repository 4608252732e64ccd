//go:build e2e

package examples

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// The cascade relay end to end through the real CLI: a DeploymentGraph with
// `relay: {url, secret}` put in place by `pulumi up` against the emulator, the relay binary
// as a process, updates fired with the emulator's Go API, and the deployments each stack got
// read back from the emulator. relay_harness_test.go has the harness, relay_delivery_test.go
// the tests of deliveries (signatures, redeliveries, a crash).

// diamondEdges: root → a, root → b, a → j, b → j, and e below the join.
var diamondEdges = [][2]string{{"root", "a"}, {"root", "b"}, {"a", "j"}, {"b", "j"}, {"j", "e"}}

// TestRelayDiamondAndModeSwitch: the same diamond with direct pulumi_deployments edges
// deploys its join (and what is below it) once per path; switched into relay mode by one
// `pulumi up` that only PATCHes, an update deploys every stack below the root once, the
// join after both parents ended, and an update that changes no output deploys nothing;
// switched back, deployments are direct again.
func TestRelayDiamondAndModeSwitch(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "a", "b", "j", "e")
	below := []string{"a", "b", "j", "e"}

	stats := e.up(diamondEdges, false)
	require.Equal(t, 2*5, stats.ByMethod[http.MethodPost], "one webhook per edge, and its mark: %v", stats.ByRoute)
	before := withoutMarks(e.c.Webhooks())
	for _, h := range before {
		require.Equal(t, "pulumi_deployments", h.Format)
	}

	// Direct: the join deploys once per path, and so does what is below it.
	e.fire("root", map[string]any{"v": 1}, nil)
	e.c.WaitIdle(t)
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "j": 2, "e": 2}, e.counts(below...), "direct edges")
	assert.Empty(t, e.cascades(), "no delivery reached the relay")

	// Into relay mode: one PATCH per edge, nothing created or deleted.
	stats = e.up(diamondEdges, true)
	assert.Equal(t, map[string]int{http.MethodPatch: 5}, writesByMethod(stats), "%v", stats.ByRoute)
	after := withoutMarks(e.c.Webhooks())
	require.Len(t, after, len(before), "the webhook count stays")
	for i, h := range after {
		assert.Equal(t, before[i].Name, h.Name, "the same webhook, changed in place")
		assert.Equal(t, "raw", h.Format)
		assert.Contains(t, h.PayloadURL, e.relay.base+"/v1/hooks?target=rel%2F")
		assert.True(t, h.HasSecret)
		assert.Equal(t, relaySecret, h.Secret, "the secret from the stack's config reached the webhook")
	}

	// An update of the root: every stack below it deploys once (new edges always do), the
	// join after both parents ended, e after the join.
	e.fire("root", map[string]any{"v": 2}, nil)
	c := e.waitCascadesOf("root", 1)
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "j": 3, "e": 3}, e.counts(below...), "once each through the relay")
	a, b, j, ee := last(t, e.deployments("a")), last(t, e.deployments("b")), last(t, e.deployments("j")),
		last(t, e.deployments("e"))
	requireAfter(t, j, a, b)
	requireAfter(t, ee, j)
	for _, d := range []string{a.Status, b.Status, j.Status, ee.Status} {
		assert.Equal(t, "succeeded", d)
	}

	// GET /v1/cascades shows the cascade and each stack's state, parents and deployment.
	assert.Equal(t, "org/rel/root", c.Root)
	assert.Equal(t, "done", c.State)
	assert.Equal(t, 2, c.Version, "the root's version the cascade deployed after")
	assert.Equal(t, map[string]string{"a": "succeeded", "b": "succeeded", "j": "succeeded", "e": "succeeded"}, c.states())
	for _, s := range c.Stacks {
		assert.Equal(t, 1, s.Deployments, s.Stack)
		assert.NotEmpty(t, s.DeploymentID, s.Stack)
		assert.NotEmpty(t, s.Reason, s.Stack)
		if s.Stack == "org/rel/j" {
			assert.ElementsMatch(t, []string{"org/rel/a", "org/rel/b"}, s.Parents)
			assert.Equal(t, j.ID, s.DeploymentID, "the deployment the emulator ran")
		}
	}

	// The same outputs again: nothing below the root deploys.
	e.fire("root", map[string]any{"v": 2}, nil)
	c = e.waitCascadesOf("root", 2)
	assert.Equal(t, map[string]string{"a": "skipped-unchanged", "b": "skipped-unchanged", "j": "skipped-unchanged",
		"e": "skipped-unchanged"}, c.states())
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "j": 3, "e": 3}, e.counts(below...), "nothing deployed")

	// Out of relay mode: one PATCH per edge again, and deployments are direct again.
	inRelayMode := len(e.cascades())
	stats = e.up(diamondEdges, false)
	assert.Equal(t, map[string]int{http.MethodPatch: 5}, writesByMethod(stats), "%v", stats.ByRoute)
	require.Len(t, withoutMarks(e.c.Webhooks()), len(before))
	for i, h := range withoutMarks(e.c.Webhooks()) {
		assert.Equal(t, before[i].Name, h.Name)
		assert.Equal(t, "pulumi_deployments", h.Format)
		assert.False(t, h.HasSecret)
	}
	e.fire("root", map[string]any{"v": 3}, nil)
	e.c.WaitIdle(t)
	assert.Equal(t, map[string]int{"a": 3, "b": 3, "j": 5, "e": 5}, e.counts(below...), "direct edges again")
	assert.Len(t, e.cascades(), inRelayMode, "the relay got nothing")
	t.Logf("deployments per stack after direct, relay (changed, unchanged), direct: %v", e.counts(below...))
}

// reasonOf is the reason the cascade gives for stack's state.
func reasonOf(t *testing.T, c relayCascade, stack string) string {
	t.Helper()
	for _, s := range c.Stacks {
		if s.Stack == "org/"+relayProject+"/"+stack {
			return s.Reason
		}
	}
	t.Fatalf("stack %s is not in cascade %d", stack, c.ID)
	return ""
}

// TestRelaySkipsWhatDidNotChange: root → p → n → {j, k} and root → j. A stack is skipped
// when none of its parents' outputs changed; the root's secret output counts by value (the
// same value encrypted anew is no change, a new value is one); a skipped stack passes on
// (its children are judged on their other parents); and a new edge deploys its target once
// whatever changed.
func TestRelaySkipsWhatDidNotChange(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "p", "n", "j", "k", "z")
	edges := [][2]string{{"root", "p"}, {"p", "n"}, {"n", "j"}, {"root", "j"}, {"n", "k"}}
	below := []string{"p", "n", "j", "k", "z"}
	// p's and n's deployments always leave the same outputs.
	e.behave("p", emulatorOutputs(map[string]any{"p": "p1"}))
	e.behave("n", emulatorOutputs(map[string]any{"n": "n1"}))
	// j reads root's outputs as well as n's: root → j stays although root → p → n → j implies it.
	e.keepRedundantEdges = true
	stats := e.up(edges, true)
	require.Equal(t, 2*5, stats.ByMethod[http.MethodPost], "each edge and its mark: %v", stats.ByRoute)

	// First cascade: new edges, every stack deploys, each after its parents.
	e.fire("root", map[string]any{"v": 1}, map[string]any{"dbPassword": "first-secret-value"})
	c := e.waitCascades(1)
	assert.Equal(t, map[string]string{"p": "succeeded", "n": "succeeded", "j": "succeeded", "k": "succeeded"}, c.states())
	assert.Equal(t, map[string]int{"p": 1, "n": 1, "j": 1, "k": 1, "z": 0}, e.counts(below...))
	requireAfter(t, last(t, e.deployments("j")), last(t, e.deployments("n")))

	// The same outputs, the secret encrypted anew: nothing changed, nothing deploys.
	e.fire("root", map[string]any{"v": 1}, map[string]any{"dbPassword": "first-secret-value"})
	c = e.waitCascades(2)
	assert.Equal(t, map[string]string{"p": "skipped-unchanged", "n": "skipped-unchanged", "j": "skipped-unchanged",
		"k": "skipped-unchanged"}, c.states())
	assert.Contains(t, reasonOf(t, c, "p"), "no parent's outputs changed: rel/root version 1 to 2")
	assert.Equal(t, map[string]int{"p": 1, "n": 1, "j": 1, "k": 1, "z": 0}, e.counts(below...))

	// A new secret value: p deploys but leaves its outputs as they were, so n and k skip;
	// j, below the skipped n, deploys on its other parent, the root.
	e.fire("root", map[string]any{"v": 1}, map[string]any{"dbPassword": "second-secret-value"})
	c = e.waitCascades(3)
	assert.Equal(t, map[string]string{"p": "succeeded", "n": "skipped-unchanged", "j": "succeeded",
		"k": "skipped-unchanged"}, c.states())
	// (The second update's version counts as accounted for: its outputs were the first's.)
	assert.Contains(t, reasonOf(t, c, "p"), "outputs of rel/root changed (version 2 to 3)")
	assert.Contains(t, reasonOf(t, c, "j"), "outputs of rel/root changed (version 2 to 3)")
	assert.Equal(t, map[string]int{"p": 2, "n": 1, "j": 2, "k": 1, "z": 0}, e.counts(below...))

	// A new edge n → z (marked on z, written inactive, then made active once its read-back found
	// no race): z deploys in the next cascade although nothing changed and its parent n was
	// skipped.
	stats = e.up(append(edges, [2]string{"n", "z"}), true)
	assert.Equal(t, map[string]int{http.MethodPost: 2, http.MethodPatch: 1}, writesByMethod(stats), "%v", stats.ByRoute)
	e.fire("root", map[string]any{"v": 1}, map[string]any{"dbPassword": "second-secret-value"})
	c = e.waitCascades(4)
	assert.Equal(t, map[string]string{"p": "skipped-unchanged", "n": "skipped-unchanged", "j": "skipped-unchanged",
		"k": "skipped-unchanged", "z": "succeeded"}, c.states())
	assert.Contains(t, reasonOf(t, c, "z"), "first deployment after the edge from rel/n")
	assert.Equal(t, map[string]int{"p": 2, "n": 1, "j": 2, "k": 1, "z": 1}, e.counts(below...))

	logs := e.relay.logs.String()
	assert.NotContains(t, logs, "first-secret-value")
	assert.NotContains(t, logs, "second-secret-value")
	t.Logf("deployments per stack after 4 cascades: %v", e.counts(below...))
}

// emulatorOutputs is a deployment behaviour whose successful update leaves plain outputs.
func emulatorOutputs(plain map[string]any) emulator.DeploymentBehaviour {
	return emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: plain}}
}

// TestRelayFailureStopsWhatIsBelow: root → a → a1, root → b → b1. a's deployment fails:
// a1 is skipped-upstream-failed, b and b1 go on. The next update, which changes nothing,
// deploys a again (its last deployment failed) and a1 (never deployed over its edge), and
// skips b and b1.
func TestRelayFailureStopsWhatIsBelow(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "a", "a1", "b", "b1")
	below := []string{"a", "a1", "b", "b1"}
	e.behave("a", emulator.DeploymentBehaviour{FailTimes: 1})
	e.up([][2]string{{"root", "a"}, {"a", "a1"}, {"root", "b"}, {"b", "b1"}}, true)

	e.fire("root", map[string]any{"v": 1}, nil)
	c := e.waitCascades(1)
	assert.Equal(t, map[string]string{"a": "failed", "a1": "skipped-upstream-failed", "b": "succeeded",
		"b1": "succeeded"}, c.states())
	assert.Equal(t, "failed", last(t, e.deployments("a")).Status)
	assert.Equal(t, map[string]int{"a": 1, "a1": 0, "b": 1, "b1": 1}, e.counts(below...))

	e.fire("root", map[string]any{"v": 1}, nil)
	c = e.waitCascades(2)
	assert.Equal(t, map[string]string{"a": "succeeded", "a1": "succeeded", "b": "skipped-unchanged",
		"b1": "skipped-unchanged"}, c.states())
	assert.Contains(t, reasonOf(t, c, "a"), "its last deployment failed")
	assert.Contains(t, reasonOf(t, c, "a1"), "first deployment after the edge from rel/a")
	assert.Equal(t, map[string]int{"a": 2, "a1": 1, "b": 1, "b1": 1}, e.counts(below...))
	requireAfter(t, last(t, e.deployments("a1")), last(t, e.deployments("a")))
	t.Logf("deployments per stack after a failed cascade and one that changed nothing: %v", e.counts(below...))
}

// TestRelayCoalescesARootUpdate: root → a → c, root → b, a's deployment slow. The root is
// updated again (by a deployment of its own) while a deploys: one schedule covers both
// updates. No stack deploys more than twice, each stack's last deployment starts after the
// root's second update ended, a (running then) deploys once more and c (waiting then) once.
func TestRelayCoalescesARootUpdate(t *testing.T) {
	t.Parallel()
	e := newRelayEnv(t, "root", "a", "b", "c")
	below := []string{"a", "b", "c"}
	e.behave("a", emulator.DeploymentBehaviour{Duration: 1500 * time.Millisecond,
		Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": "x"}}})
	e.up([][2]string{{"root", "a"}, {"a", "c"}, {"root", "b"}}, true)

	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitFor("a's first deployment running", func() bool {
		ds := e.deployments("a")
		return len(ds) == 1 && ds[0].Status == "running"
	})
	// The root's second update: a deployment of root that leaves new outputs.
	e.behave("root", emulatorOutputs(map[string]any{"v": 2}))
	e.c.api(t, http.MethodPost, "/api/stacks/org/rel/root/deployments",
		map[string]any{"operation": "update", "inheritSettings": true}, http.StatusAccepted)
	c := e.waitCascades(2)
	rootUpdate := last(t, e.deployments("root"))
	require.Equal(t, "succeeded", rootUpdate.Status)

	assert.Equal(t, rootUpdate.StackVersion, c.Version, "the newest cascade is the root's second update")
	assert.Equal(t, map[string]string{"a": "succeeded", "b": "succeeded", "c": "succeeded"}, c.states())
	for _, stack := range below {
		ds := e.deployments(stack)
		assert.LessOrEqual(t, len(ds), 2, "%s deploys at most twice for two updates", stack)
		requireAfter(t, last(t, ds), rootUpdate)
	}
	assert.Equal(t, map[string]int{"a": 2, "b": 2, "c": 1}, e.counts(below...),
		"a was running: once more; b had finished: again; c was waiting: once")
	t.Logf("deployments per stack after two root updates in one cascade: %v", e.counts(below...))
}
