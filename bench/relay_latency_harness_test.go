//go:build e2e

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The relay's added latency: the tree of e2e.TreeEdges as one DeploymentGraph, first with
// direct pulumi_deployments edges (the emulator starts a child the moment its parent's
// deployment ends, as the service does), then switched into relay mode by one `pulumi up`
// and measured with the relay binary at each --poll setting. Every deployment takes the
// same fixed time, and every update of the tree starts with a deployment of its root, so
// each edge parent → child gives one sample: the child's deployment start minus the
// parent's deployment end. Every deployment leaves new outputs, so the relay deploys every
// stack (none is skipped as unchanged). TestBenchRelayLatency (make bench) reports it;
// TestRelayLatencySmoke (make test-e2e) checks the harness on a small tree.

const relayLatencySecret = "bench-relay-secret"

// relayLatencyScenario is one tree measured both ways.
type relayLatencyScenario struct {
	Stacks, Fanout int
	Deployment     time.Duration   // how long every deployment runs
	Latency        time.Duration   // added by the emulator to every /api request during the cascades
	Polls          []time.Duration // the relay's --poll settings, each measured in turn
	Rounds         int             // measured updates per mode (the first after the switch apart)
}

// relayLatencyRun is what the cascades of one mode measured.
type relayLatencyRun struct {
	Mode string
	// ByLevel holds the samples by the child's depth in the tree (1 for the root's children).
	ByLevel map[int][]time.Duration
	// Cascades is, per round, the time from the end of the root's deployment to the end of
	// the last deployment of the tree.
	Cascades []time.Duration
}

// relayLatencyResult is a scenario's runs and the up that switched the graph into relay mode.
type relayLatencyResult struct {
	Scenario     relayLatencyScenario
	Runs         []relayLatencyRun
	SwitchWall   time.Duration
	SwitchWrites map[string]int
}

// relayLatencyBench is one scenario set up: the emulator, the relay process, the workspace.
type relayLatencyBench struct {
	t        *testing.T
	sc       relayLatencyScenario
	say      func(format string, args ...any)
	c        *e2e.Cloud
	w        *e2e.Workspace
	db       string
	relay    *relayProcess
	relayURL string
	edges    [][2]int
	cascades int // the relay's cascades so far
	round    int // tells each cascade's outputs apart
}

func runRelayLatency(t *testing.T, sc relayLatencyScenario, progress func(string)) relayLatencyResult {
	t.Helper()
	b := &relayLatencyBench{t: t, sc: sc, edges: e2e.TreeEdges(sc.Stacks, sc.Fanout),
		db: filepath.Join(t.TempDir(), "relay.db")}
	b.say = func(format string, args ...any) { progress(fmt.Sprintf("[relay latency] "+format, args...)) }
	b.c = e2e.StartCloud(t, emulatortest.WithDeploymentDuration(sc.Deployment))
	var stacks []string
	for i := range sc.Stacks {
		stacks = append(stacks, fmt.Sprintf("s%d", i))
	}
	b.c.SeedDeployable(t, "org", "tree", stacks...)
	b.startRelay("127.0.0.1:0", sc.Polls[0])

	b.say("pulumi up: the %d-stack tree as one DeploymentGraph of %d direct edges", sc.Stacks, len(b.edges))
	b.w = e2e.NewProgramWorkspace(t, b.program(false), b.c)
	b.w.Pulumi("config", "set", "--secret", "relaySecret", relayLatencySecret)
	b.w.Pulumi("up", "--yes", "--skip-preview")
	res := relayLatencyResult{Scenario: sc}
	res.Runs = append(res.Runs, b.measure("direct", false, sc.Rounds))

	b.say("pulumi up: into relay mode")
	b.w.WriteProgram(b.program(true))
	b.c.ResetStats()
	started := time.Now()
	b.w.Pulumi("up", "--yes", "--skip-preview")
	res.SwitchWall = time.Since(started)
	res.SwitchWrites = map[string]int{}
	for method, n := range b.c.Stats().ByMethod {
		if method != http.MethodGet {
			res.SwitchWrites[method] = n
		}
	}
	require.Equal(t, map[string]int{http.MethodPatch: len(b.edges)}, res.SwitchWrites, "one PATCH per edge")

	// The first update after the switch deploys over new edges, without comparing outputs:
	// measured apart.
	res.Runs = append(res.Runs, b.measure(fmt.Sprintf("relay --poll %s, first update", sc.Polls[0]), true, 1))
	for i, poll := range sc.Polls {
		if i > 0 {
			b.relay.stop()
			b.startRelay(strings.TrimPrefix(b.relayURL, "http://"), poll)
		}
		res.Runs = append(res.Runs, b.measure("relay --poll "+poll.String(), true, sc.Rounds))
	}
	b.relay.stop()
	return res
}

// program is the tree as one DeploymentGraph, through the relay or not; the relay's secret
// comes from the stack's config.
func (b *relayLatencyBench) program(viaRelay bool) string {
	program := benchGraphProgram(b.edges, false)
	program = strings.Replace(program, "runtime: yaml\n",
		"runtime: yaml\nconfig:\n  relaySecret:\n    type: string\n    secret: true\n", 1)
	if viaRelay {
		program = strings.Replace(program, "      edges:\n", "      relay:\n        url: "+b.relayURL+
			"\n        secret: ${relaySecret}\n      edges:\n", 1)
	}
	return program
}

// measure runs rounds updates of the tree in one mode.
func (b *relayLatencyBench) measure(mode string, viaRelay bool, rounds int) relayLatencyRun {
	run := relayLatencyRun{Mode: mode, ByLevel: map[int][]time.Duration{}}
	for round := range rounds {
		b.say("%s: update %d of %d", mode, round+1, rounds)
		deployments := b.cascade(viaRelay)
		rootEnd := deployments[0].Finished
		var lastEnd time.Time
		for _, d := range deployments {
			lastEnd = later(lastEnd, d.Finished)
		}
		run.Cascades = append(run.Cascades, lastEnd.Sub(rootEnd))
		for _, e := range b.edges {
			parent, child := deployments[e[0]], deployments[e[1]]
			level := treeDepth(e[1], b.sc.Fanout)
			run.ByLevel[level] = append(run.ByLevel[level], child.Started.Sub(parent.Finished))
		}
	}
	return run
}

// cascade updates the tree's root by a deployment and waits until every stack has deployed
// once more (and the relay's cascade is done); it returns each stack's new deployment, by
// index. Each stack's deployments leave outputs new to this cascade.
func (b *relayLatencyBench) cascade(viaRelay bool) []emulator.Deployment {
	t := b.t
	b.round++
	for i := range b.sc.Stacks {
		require.NoError(t, b.c.SetDeploymentBehaviour("org", "tree", fmt.Sprintf("s%d", i), emulator.DeploymentBehaviour{
			Outputs: &emulator.StackOutputs{Plain: map[string]any{"round": b.round}}}))
	}
	mark := b.c.DeploymentCount()
	b.c.SetFaults(emulator.Faults{Latency: b.sc.Latency})
	defer b.c.SetFaults(emulator.Faults{})
	b.api(http.MethodPost, "/api/stacks/org/tree/s0/deployments", `{"operation":"update","inheritSettings":true}`)
	if viaRelay {
		b.cascades++
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	err := b.c.Server.WaitFor(ctx, func() bool {
		return b.c.DeploymentCount()-mark >= b.sc.Stacks && b.c.Idle() && (!viaRelay || b.relayDone())
	})
	require.NoError(t, err, "the cascade did not end")
	byStack := make([]emulator.Deployment, b.sc.Stacks)
	for _, d := range b.c.Deployments()[mark:] {
		var i int
		_, err := fmt.Sscanf(d.Stack, "s%d", &i)
		require.NoError(t, err)
		require.Empty(t, byStack[i].ID, "s%d deployed twice in one cascade", i)
		require.Equal(t, emulator.StatusSucceeded, d.Status, "s%d", i)
		byStack[i] = d
	}
	return byStack
}

// relayDone reports whether the relay lists the cascades started so far, the newest done.
func (b *relayLatencyBench) relayDone() bool {
	resp, err := http.Get(b.relayURL + "/v1/cascades?limit=1")
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Cascades []struct {
			ID    int    `json:"id"`
			State string `json:"state"`
		} `json:"cascades"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Cascades) == 0 {
		return false
	}
	return out.Cascades[0].ID == b.cascades && out.Cascades[0].State == "done"
}

func (b *relayLatencyBench) api(method, path, body string) {
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.c.URL+path, strings.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "token "+e2e.TestToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	_ = resp.Body.Close()
	require.Less(b.t, resp.StatusCode, 300, "%s %s", method, path)
}

// startRelay runs the relay binary on addr with --poll poll and waits for it to listen.
func (b *relayLatencyBench) startRelay(addr string, poll time.Duration) {
	b.relay = startRelayProcess(b.t, filepath.Join(e2e.BinDir(b.t), "pulumi-auto-deploy-relay"), relayLatencySecret,
		nil, "--addr", addr, "--db", b.db, "--api-url", b.c.URL, "--poll", poll.String())
	b.relayURL = b.relay.url
}

// treeDepth is stack i's depth in a tree of the given fan-out (e2e.TreeChildren).
func treeDepth(i, fanout int) int {
	depth := 0
	for i > 0 {
		i, depth = (i-1)/fanout, depth+1
	}
	return depth
}

// percentile is the nearest-rank p-th percentile of ds (p in 0..100).
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}
