//go:build e2e

package relay_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// The world the relay lives in, end to end: the relay binary against the emulator, where deliveries are
// lost, late or doubled, people update stacks by hand, stacks are deleted, Pulumi Cloud goes away for a
// while and deployments hang. Each scenario asserts what deployed (per stack), in what order (from the
// emulator's records: nothing deploys while a stack above it deploys or is being updated, whoever
// started that, and nothing deploys before what is above it ended), and, where the relay promises a
// bound, how soon.

// scenario is an e2e environment for one of these tests: stacks of project p in organization acme,
// timed deployments, and the relay scheduling acme from its start.
type scenario struct {
	*e2eEnv
	// graph is the edges as declared, parent → children, for the order checks.
	graph map[string][]string
}

func newScenario(t *testing.T, duration time.Duration, flags []string, stacks ...string) *scenario {
	t.Helper()
	emu := startEmulator(t, duration)
	emu.SeedDeployable(t, e2eOrg, e2eProject, stacks...)
	e := &e2eEnv{t: t, emu: emu, client: newClient(t, emu), db: t.TempDir() + "/relay.db"}
	e.relay = runRelay(t, emu, "127.0.0.1:0", e.db, flags...)
	s := &scenario{e2eEnv: e, graph: map[string][]string{}}
	s.waitLog("baseline adopted")
	return s
}

// edges creates relay edges "parent>child", alwaysDeploy when the child ends with "!".
func (s *scenario) edges(specs ...string) {
	s.t.Helper()
	for _, spec := range specs {
		parent, child, ok := strings.Cut(spec, ">")
		require.True(s.t, ok, spec)
		always := strings.HasSuffix(child, "!")
		child = strings.TrimSuffix(child, "!")
		target := e2eProject + "/" + child
		form := edge.Form{RelayURL: s.relay.base, AlwaysDeploy: always}
		hook := edge.Desired(target, form, true)
		hook.DisplayName, hook.Secret = "auto-deploy: "+target+" (owner: urn:pulumi:e2e::graph)", e2eSecret
		_, err := s.client.CreateWebhook(s.t.Context(),
			cloud.WebhookScope{Organization: e2eOrg, Project: e2eProject, Stack: parent}, hook)
		require.NoError(s.t, err)
		s.graph[parent] = append(s.graph[parent], child)
	}
}

// waitRunning waits until a deployment of stack runs.
func (s *scenario) waitRunning(stack string) {
	s.t.Helper()
	s.waitFor(stack+" deploying", func() bool {
		for _, d := range s.emu.Deployments() {
			if d.Stack == stack && d.Status == "running" {
				return true
			}
		}
		return false
	})
}

// waitLog waits for a relay log line containing text.
func (s *scenario) waitLog(text string) {
	s.t.Helper()
	s.waitFor("the relay to log "+text, func() bool { return strings.Contains(s.relay.logs.String(), text) })
}

// settle waits until the relay lists n cascades, none running, and the emulator is idle, and returns
// the cascades, newest first.
func (s *scenario) settle(n int) []cascadeSummary {
	s.t.Helper()
	var cs []cascadeSummary
	s.waitFor(fmt.Sprintf("%d settled cascades", n), func() bool {
		if !s.emu.Idle() {
			return false
		}
		cs = summarize(s.cascades())
		if len(cs) != n {
			return false
		}
		for _, c := range cs {
			if c.state == "running" {
				return false
			}
		}
		return s.emu.Idle()
	})
	return cs
}

type cascadeSummary struct {
	root   string
	state  string
	stacks map[string]string
}

func summarize(views []relayCascade) []cascadeSummary {
	var out []cascadeSummary
	for _, v := range views {
		c := cascadeSummary{root: strings.TrimPrefix(v.Root, e2eOrg+"/"+e2eProject+"/"), state: v.State,
			stacks: map[string]string{}}
		for _, st := range v.Stacks {
			c.stacks[strings.TrimPrefix(st.Stack, e2eOrg+"/"+e2eProject+"/")] = string(st.State)
		}
		out = append(out, c)
	}
	return out
}

// deployedCount is how many deployments of each stack the emulator ran, by anyone.
func (s *scenario) deployedCount() map[string]int {
	out := map[string]int{}
	for _, d := range s.emu.Deployments() {
		out[d.Stack]++
	}
	return out
}

// run is a deployment or a person's update of one stack, as the emulator recorded it.
type run struct {
	stack, what   string
	start, end    time.Time
	created       time.Time
	relayStarted  bool
	deploymentRun bool
}

func (s *scenario) runs() []run {
	var out []run
	for _, d := range s.emu.Deployments() {
		if d.Started.IsZero() {
			continue
		}
		out = append(out, run{stack: d.Stack, what: "deployment " + d.ID, start: d.Started, end: d.Finished,
			created: d.Created, relayStarted: d.Cause.Kind == emulator.CauseAPI, deploymentRun: true})
	}
	for _, u := range s.emu.Updates() {
		if u.ID == "" || u.Kind == "" {
			continue
		}
		out = append(out, run{stack: u.Stack, what: "update " + u.ID, start: u.Started, end: u.Finished})
	}
	return out
}

// ancestors of each stack in the declared graph.
func (s *scenario) ancestors() map[string]map[string]bool {
	parents := map[string][]string{}
	for p, kids := range s.graph {
		for _, c := range kids {
			parents[c] = append(parents[c], p)
		}
	}
	out := map[string]map[string]bool{}
	var up func(string, map[string]bool)
	up = func(x string, into map[string]bool) {
		for _, p := range parents[x] {
			if !into[p] {
				into[p] = true
				up(p, into)
			}
		}
	}
	for x := range parents {
		out[x] = map[string]bool{}
		up(x, out[x])
	}
	return out
}

// checkOrder asserts, from the emulator's records, that no relay deployment of a stack ran while a
// stack above it ran a deployment or an update, whoever started that.
func (s *scenario) checkOrder() {
	s.t.Helper()
	anc := s.ancestors()
	runs := s.runs()
	for _, d := range runs {
		if !d.relayStarted {
			continue
		}
		for _, a := range runs {
			if !anc[d.stack][a.stack] {
				continue
			}
			end := a.end
			if end.IsZero() {
				end = time.Now()
			}
			dEnd := d.end
			if dEnd.IsZero() {
				dEnd = time.Now()
			}
			overlap := d.start.Before(end) && a.start.Before(dEnd)
			assert.False(s.t, overlap, "%s of %s (%s to %s) ran while %s of %s above it ran (%s to %s)",
				d.what, d.stack, d.start.Format("15:04:05.000"), dEnd.Format("15:04:05.000"), a.what, a.stack,
				a.start.Format("15:04:05.000"), end.Format("15:04:05.000"))
		}
	}
}

// metric reads one counter or gauge from the relay's /metrics, 0 when absent.
func (s *scenario) metric(name string) float64 {
	s.t.Helper()
	resp, err := http.Get(s.relay.base + "/metrics")
	require.NoError(s.t, err)
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			var v float64
			_, err := fmt.Sscanf(strings.TrimPrefix(line, name+" "), "%g", &v)
			require.NoError(s.t, err)
			return v
		}
	}
	return 0
}

func changed(v int) map[string]any { return map[string]any{"v": v} }

func TestScenarioLostDeliveryIsFoundByPolling(t *testing.T) {
	s := newScenario(t, 150*time.Millisecond, []string{"--poll", "1s"}, "root", "a", "b")
	s.edges("root>a", "a>b")
	addr := strings.TrimPrefix(s.relay.base, "http://")
	require.NoError(t, s.relay.cmd.Process.Signal(sigterm))
	<-s.relay.done
	s.fire("root", changed(1), nil) // delivered to nobody: the relay is down
	s.emu.WaitIdle(t)
	require.Empty(t, s.emu.Deployments())
	s.relay = runRelay(t, s.emu, addr, s.db, "--poll", "1s")
	cs := s.settle(1)
	s.waitFor("the update counted as one without a delivery", func() bool {
		return s.metric("auto_deploy_relay_updates_without_delivery_total") >= 1
	})
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, s.deployedCount())
	require.Len(t, cs, 1)
	assert.Equal(t, map[string]string{"a": "succeeded", "b": "succeeded"}, cs[0].stacks)
	assert.Contains(t, s.relay.logs.String(), "update without delivery")
	s.checkOrder()
}

func TestScenarioTwoRootsDeployTheirSharedStacksOnce(t *testing.T) {
	s := newScenario(t, 200*time.Millisecond, []string{"--poll", "5s"}, "r1", "r2", "x", "y")
	s.edges("r1>x", "r2>x", "x>y")
	s.behave("x", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"x": 0}}})
	for round := 1; round <= 3; round++ {
		s.behave("x", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"x": round}}})
		before := s.deployedCount()
		s.fire("r1", changed(round), nil)
		s.fire("r2", changed(round), nil)
		s.settle(2 * round)
		after := s.deployedCount()
		assert.Equal(t, 1, after["x"]-before["x"], "round %d: x deploys once for both roots", round)
		assert.Equal(t, 1, after["y"]-before["y"], "round %d: y deploys once", round)
	}
	s.checkOrder()
}

func TestScenarioPersonsUpdateMidGraph(t *testing.T) {
	s := newScenario(t, 200*time.Millisecond, []string{"--poll", "5s"}, "root", "a", "b", "c")
	s.edges("root>a", "a>b", "b>c")
	for round := 1; round <= 3; round++ {
		s.behave("a", emulator.DeploymentBehaviour{Duration: time.Second,
			Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": round}}})
		s.behave("b", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"b": round}}})
		before := s.deployedCount()
		s.fire("root", changed(round), nil)
		s.waitRunning("a")
		// A person's `pulumi up` of b while a deploys, changing what c reads.
		_, err := s.emu.StartUpdate(e2eOrg, e2eProject, "b", emulator.Update{Duration: 600 * time.Millisecond,
			Outputs: &emulator.StackOutputs{Plain: map[string]any{"b": fmt.Sprintf("person-%d", round)}}})
		require.NoError(t, err)
		s.settle(2 * round)
		after := s.deployedCount()
		assert.Equal(t, 1, after["b"]-before["b"], "round %d: b deploys once, after a", round)
		assert.Equal(t, 1, after["c"]-before["c"], "round %d: c deploys once, covering b's two changes", round)
	}
	s.checkOrder()
}

func TestScenarioDeletedStackFreezesNothing(t *testing.T) {
	s := newScenario(t, 150*time.Millisecond, []string{"--poll", "2s"}, "root", "a", "b", "s", "t")
	s.edges("root>a", "a>b", "root>s", "s>t")
	s.behave("a", emulator.DeploymentBehaviour{Duration: time.Second})
	s.behave("s", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"s": 1}}})
	s.fire("root", changed(1), nil)
	s.waitRunning("a")
	require.NoError(t, s.client.DeleteStack(t.Context(), e2eOrg, e2eProject, "b", true))
	cs := s.settle(1)
	require.Len(t, cs, 1)
	assert.Equal(t, "succeeded", cs[0].stacks["t"], "t deploys although b was deleted")
	assert.Equal(t, "succeeded", cs[0].stacks["a"])
	assert.Equal(t, "failed", cs[0].stacks["b"])
	assert.Contains(t, s.stackReason(0, "b"), "deleted")

	// The root's next update deploys what is left, and nothing waits on b.
	s.behave("s", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"s": 2}}})
	before := s.deployedCount()
	s.fire("root", changed(2), nil)
	cs = s.settle(2)
	after := s.deployedCount()
	for _, stack := range []string{"a", "s", "t"} {
		assert.Equal(t, 1, after[stack]-before[stack], "%s deploys after the root's next update", stack)
	}
	require.Len(t, cs, 2)
	assert.Equal(t, "done", cs[0].state)
	s.checkOrder()
}

// stackReason is the reason of a stack in the i-th newest cascade.
func (s *scenario) stackReason(i int, stack string) string {
	cs := s.cascades()
	for _, st := range cs[i].Stacks {
		if strings.HasSuffix(st.Stack, "/"+stack) {
			return st.Reason
		}
	}
	return ""
}

func TestScenarioOutageOfThirtySeconds(t *testing.T) {
	s := newScenario(t, 200*time.Millisecond, []string{"--poll", "5s"}, "root", "a", "b")
	s.edges("root>a", "a>b")
	s.behave("a", emulator.DeploymentBehaviour{Duration: 500 * time.Millisecond})
	s.fire("root", changed(1), nil)
	s.waitFor("a deploying", func() bool { return s.deployedCount()["a"] == 1 })
	s.emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusServiceUnavailable, PathContains: "/api/"}}})
	// a ends during the outage; its delivery reaches the relay, which cannot read anything.
	s.waitFor("a deployment ended in the outage", func() bool {
		for _, d := range s.emu.Deployments() {
			if d.Stack == "a" && !d.Finished.IsZero() {
				return true
			}
		}
		return false
	})
	s.waitFor("30s of outage", func() bool { return s.emu.Stats().Faults > 0 })
	outageEnds := time.Now().Add(30 * time.Second)
	s.waitFor("the outage's end", func() bool { return time.Now().After(outageEnds) })
	s.emu.SetFaults(emulator.Faults{})
	back := time.Now()
	s.settle(1)
	var b *emulator.Deployment
	for _, d := range s.emu.Deployments() {
		if d.Stack == "b" {
			b = &d
		}
	}
	require.NotNil(t, b, "b deploys after the outage")
	t.Logf("b's deployment was asked for %s after Pulumi Cloud answered again", b.Created.Sub(back))
	assert.Less(t, b.Created.Sub(back), 10*time.Second, "the next deployment starts within 10s of the API answering")
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, s.deployedCount())
	s.checkOrder()
}

func TestScenarioStuckDeploymentIsCancelled(t *testing.T) {
	s := newScenario(t, 150*time.Millisecond, []string{"--poll", "5s", "--deployment-timeout", "2s"},
		"root", "hung", "below", "sibling")
	s.edges("root>hung", "hung>below", "root>sibling")
	s.behave("hung", emulator.DeploymentBehaviour{Hang: true})
	s.fire("root", changed(1), nil)
	cs := s.settle(1)
	require.Len(t, cs, 1)
	assert.Equal(t, map[string]string{"hung": "failed", "below": "skipped-upstream-failed", "sibling": "succeeded"},
		cs[0].stacks)
	var hung *emulator.Deployment
	for _, d := range s.emu.Deployments() {
		if d.Stack == "hung" {
			hung = &d
		}
	}
	require.NotNil(t, hung)
	assert.True(t, hung.Cancelled, "the relay cancelled it")
	assert.Contains(t, s.stackReason(0, "hung"), "--deployment-timeout")
	assert.Equal(t, 1.0, s.metric(`auto_deploy_relay_deployments_finished_total{outcome="cancelled"}`))
	assert.Zero(t, s.deployedCount()["below"])
	s.checkOrder()
}

func TestScenarioBudgetStartsTheLongChainFirst(t *testing.T) {
	const unit = 1500 * time.Millisecond
	chain := []string{"c1", "c2", "c3", "c4"}
	leaves := []string{"l1", "l2", "l3", "l4", "l5", "l6"}
	// --settle 0: the makespan is measured from the root's event.
	s := newScenario(t, unit, []string{"--poll", "5s", "--max-deployments", "2", "--settle", "0"},
		slices.Concat([]string{"root"}, chain, leaves)...)
	s.edges("root>c1", "c1>c2", "c2>c3", "c3>c4")
	for _, l := range leaves {
		s.edges("root>" + l)
	}
	for _, st := range chain {
		s.behave(st, emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{st: 1}}})
	}
	fired := time.Now()
	s.fire("root", changed(1), nil)
	s.settle(1)
	var last time.Time
	var starts []run
	for _, r := range s.runs() {
		if r.relayStarted {
			starts = append(starts, r)
			last = maxTime(last, r.end)
		}
	}
	makespan := last.Sub(fired)
	// The optimum: 10 units of work on 2 slots (5 units), the chain being 4.
	optimum := 5 * unit
	t.Logf("makespan %s, optimum %s (%.2f×)", makespan.Round(time.Millisecond), optimum,
		float64(makespan)/float64(optimum))
	assert.Less(t, makespan, optimum*115/100+2*time.Second, "near the optimum; leaves first would take 7 units")
	// Never more than two of the relay's deployments queued or running at once.
	slices.SortFunc(starts, func(a, b run) int { return a.created.Compare(b.created) })
	for _, r := range starts {
		inFlight := 0
		for _, o := range starts {
			if !o.created.After(r.created) && (o.end.IsZero() || o.end.After(r.created)) {
				inFlight++
			}
		}
		assert.LessOrEqual(t, inFlight, 2, "at %s", r.created.Format("15:04:05.000"))
	}
	require.GreaterOrEqual(t, len(starts), 2)
	assert.Contains(t, []string{starts[0].stack, starts[1].stack}, "c1", "the head of the chain is in the first pair")
	s.checkOrder()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestScenarioAlwaysDeploy(t *testing.T) {
	s := newScenario(t, 150*time.Millisecond, []string{"--poll", "5s"}, "root", "image", "plain")
	s.edges("root>image!", "root>plain")
	s.fire("root", changed(1), nil)
	s.settle(1)
	before := s.deployedCount()
	s.fire("root", changed(1), nil) // the same outputs
	cs := s.settle(2)
	after := s.deployedCount()
	assert.Equal(t, 1, after["image"]-before["image"], "an alwaysDeploy edge deploys whatever the outputs")
	assert.Zero(t, after["plain"]-before["plain"])
	assert.Equal(t, "succeeded", cs[0].stacks["image"])
	assert.Equal(t, "skipped-unchanged", cs[0].stacks["plain"])
	assert.Contains(t, s.stackReason(0, "image"), "alwaysDeploy")
}

func TestScenarioLeafsEndIsSeenAtOnce(t *testing.T) {
	s := newScenario(t, 300*time.Millisecond, []string{"--poll", "1h"}, "root", "leaf")
	s.edges("root>leaf")
	s.fire("root", changed(1), nil)
	s.settle(1)
	var leaf emulator.Deployment
	for _, d := range s.emu.Deployments() {
		if d.Stack == "leaf" {
			leaf = d
		}
	}
	require.False(t, leaf.Finished.IsZero())
	seen := s.logTime(`"msg":"deployment ended"`, `"stack":"p/leaf"`)
	t.Logf("the leaf's end was seen %s after it ended", seen.Sub(leaf.Finished))
	assert.Less(t, seen.Sub(leaf.Finished), 2*time.Second, "seen within 2s, with no delivery and no poll")
}

// logTime is the time of the first relay log line containing every part.
func (s *scenario) logTime(parts ...string) time.Time {
	s.t.Helper()
	for _, line := range strings.Split(s.relay.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if !all {
			continue
		}
		var rec struct{ Time time.Time }
		require.NoError(s.t, jsonUnmarshal(line, &rec))
		return rec.Time
	}
	s.t.Fatalf("no relay log line with %q", parts)
	return time.Time{}
}

func TestScenarioResumeBelowAFixedStack(t *testing.T) {
	s := newScenario(t, 150*time.Millisecond, []string{"--poll", "5s"}, "root", "f", "below")
	s.edges("root>f", "f>below")
	s.behave("f", emulator.DeploymentBehaviour{Outcome: "failed"})
	s.fire("root", changed(1), nil)
	cs := s.settle(1)
	assert.Equal(t, map[string]string{"f": "failed", "below": "skipped-upstream-failed"}, cs[0].stacks)
	// A person fixes f: its next successful update deploys what was skipped below it.
	s.behave("f", emulator.DeploymentBehaviour{})
	_, err := s.emu.FireUpdateWithOutputs(e2eOrg, e2eProject, "f", &emulator.StackOutputs{Plain: map[string]any{"fixed": true}})
	require.NoError(t, err)
	cs = s.settle(2)
	assert.Equal(t, map[string]int{"f": 1, "below": 1}, s.deployedCount())
	assert.Equal(t, "f", cs[0].root)
	assert.Equal(t, "succeeded", cs[0].stacks["below"])
	s.checkOrder()
}

func TestScenarioFirstStartAdoptsTheBaseline(t *testing.T) {
	emu := startEmulator(t, 100*time.Millisecond)
	emu.SeedDeployable(t, e2eOrg, e2eProject, "root", "a", "b")
	e := &e2eEnv{t: t, emu: emu, client: newClient(t, emu), db: t.TempDir() + "/relay.db"}
	s := &scenario{e2eEnv: e, graph: map[string][]string{}}
	// Edges to a relay that is not running yet, and updates it never heard of.
	s.relay = &relayProcess{base: "http://127.0.0.1:9"}
	s.edges("root>a", "a>b")
	s.behave("a", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": "new"}}})
	for v := 1; v <= 3; v++ {
		s.fire("root", changed(v), nil)
		s.fire("a", changed(v), nil)
	}
	emu.WaitIdle(t)
	e.relay = runRelay(t, emu, "127.0.0.1:0", e.db, "--poll", "200ms")
	s.waitLog("baseline adopted")
	polls := func() int {
		return emu.Stats().ByRoute["GET /api/user/stacks"]
	}
	first := polls()
	s.waitFor("two more polls", func() bool { return polls() >= first+2 })
	assert.Empty(t, emu.Deployments(), "no deployment storm at the first start")
	assert.Empty(t, s.cascades())
	// What changes from now on cascades as usual (the edges point at the old relay address, so the
	// poll finds the update).
	s.fire("root", changed(4), nil)
	s.settle(1)
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, s.deployedCount())
}

var _ = io.Discard

// A refresh that changes a parent's outputs writes a new version without an update event (the relay's
// edges deliver update_succeeded only): the poll finds it, and it is a change like any other.
func TestScenarioRefreshIsAChange(t *testing.T) {
	s := newScenario(t, 100*time.Millisecond, []string{"--poll", "1s"}, "root", "a")
	s.edges("root>a")
	s.fire("root", changed(1), nil)
	s.settle(1)
	_, err := s.emu.StartUpdate(e2eOrg, e2eProject, "root", emulator.Update{Kind: emulator.UpdateKindRefresh,
		Outputs: &emulator.StackOutputs{Plain: map[string]any{"v": "drifted"}}})
	require.NoError(t, err)
	cs := s.settle(2)
	assert.Equal(t, map[string]int{"a": 2}, s.deployedCount())
	assert.Contains(t, s.cascades()[0].Cause, "found by polling")
	assert.Equal(t, "succeeded", cs[0].stacks["a"])
	assert.Contains(t, s.stackReason(0, "a"), "outputs of p/root changed")
}
