//go:build e2e

package examples

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
)

// The harness of the relay tests (relay_test.go, relay_delivery_test.go): an emulator with
// timed deployments, the relay binary `make build` made as a process of its own, and a
// workspace whose YAML program declares the graph as one DeploymentGraph, which the real
// CLI puts in place. The relay's secret reaches the program as a secret config value, the
// way a user would keep it. Everything the tests learn, they learn from the outside: the
// emulator's deployments and deliveries, and the relay's GET /v1/cascades.

const (
	// relayProject is the project of every stack of the relay tests, in organization org.
	relayProject = "rel"
	// relaySecret is the relay's AUTO_DEPLOY_RELAY_SECRET.
	relaySecret = "relay-e2e-secret-5c1f0a"
	// relayDeploymentTime is how long a deployment runs unless a stack's behaviour says
	// otherwise: long enough for two parents to overlap, short enough to keep tests fast.
	relayDeploymentTime = 100 * time.Millisecond
	// relayWait bounds every wait for the relay or the emulator.
	relayWait = 60 * time.Second
)

// relayProcess is one run of the relay binary.
type relayProcess struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	logs *syncbuf.Buffer
	done chan struct{}
}

// relayEnv is one test's emulator, relay and program.
type relayEnv struct {
	t     *testing.T
	c     *cloud
	db    string
	relay *relayProcess
	w     *workspace
	// keepRedundantEdges keeps, in the programs up writes, the edges a longer path implies.
	keepRedundantEdges bool
	// secret is what the first up puts in the stack's config as relaySecret: the relay's
	// unless a test says otherwise.
	secret string
}

// newRelayEnv starts an emulator with timed deployments and the deployable stacks
// org/rel/{stacks}, and a relay on a free loopback port with a database of its own.
func newRelayEnv(t *testing.T, stacks ...string) *relayEnv {
	t.Helper()
	c := &cloud{e2e.StartCloud(t, emulatortest.WithDeploymentDuration(relayDeploymentTime))}
	c.SeedDeployable(t, "org", relayProject, stacks...)
	e := &relayEnv{t: t, c: c, db: filepath.Join(t.TempDir(), "relay.db"), secret: relaySecret}
	e.startRelay("127.0.0.1:0")
	return e
}

// startRelay runs the relay binary on addr and waits for its "listening" line. When the
// test ends the relay gets SIGTERM, and a failed test shows its log.
func (e *relayEnv) startRelay(addr string) {
	t := e.t
	t.Helper()
	bin := filepath.Join(e2e.BinDir(t), "pulumi-auto-deploy-relay")
	_, err := os.Stat(bin)
	require.NoError(t, err, "missing %s: run `make build`", bin)
	cmd := exec.Command(bin, "--addr", addr, "--db", e.db, "--api-url", e.c.URL, "--organization", "org",
		"--poll", "1s")
	cmd.Env = append(os.Environ(), "PULUMI_ACCESS_TOKEN="+testToken, "AUTO_DEPLOY_RELAY_SECRET="+relaySecret)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &relayProcess{cmd: cmd, logs: &syncbuf.Buffer{}, done: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			line := scanner.Text()
			p.logs.WriteLine(line)
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				listening <- rec.Addr
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		if t.Failed() {
			t.Logf("relay log (%s):\n%s", addr, p.logs.String())
		}
	})
	select {
	case a := <-listening:
		p.base = "http://" + a
	case <-p.done:
		t.Fatalf("the relay exited before listening:\n%s", p.logs.String())
	case <-time.After(relayWait):
		t.Fatalf("the relay did not listen within %s:\n%s", relayWait, p.logs.String())
	}
	e.relay = p
}

// killRelay ends the relay with SIGKILL, as a crash or a power cut would, and starts it
// again on the same address and database.
func (e *relayEnv) killRelay() {
	e.t.Helper()
	require.NoError(e.t, e.relay.cmd.Process.Signal(syscall.SIGKILL))
	<-e.relay.done
	e.startRelay(strings.TrimPrefix(e.relay.base, "http://"))
}

// relayGraphProgram is a DeploymentGraph of edges ("stack" → "stack" in project rel),
// through the relay at relayURL when it is not empty, keeping the edges a longer path
// implies when keepRedundant is set. The secret comes from config.
func relayGraphProgram(edges [][2]string, relayURL string, keepRedundant bool) string {
	var b strings.Builder
	b.WriteString("name: relaygraph\nruntime: yaml\nconfig:\n  relaySecret:\n    type: string\n    secret: true\n" +
		"resources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n")
	if relayURL != "" {
		fmt.Fprintf(&b, "      relay:\n        url: %s\n        secret: ${relaySecret}\n", relayURL)
	}
	if keepRedundant {
		b.WriteString("      keepRedundantEdges: true\n")
	}
	b.WriteString("      edges:\n")
	var order []string
	downstreams := map[string][]string{}
	for _, edge := range edges {
		if downstreams[edge[0]] == nil {
			order = append(order, edge[0])
		}
		downstreams[edge[0]] = append(downstreams[edge[0]], relayProject+"/"+edge[1])
	}
	for _, up := range order {
		fmt.Fprintf(&b, "        %s/%s: [%s]\n", relayProject, up, strings.Join(downstreams[up], ", "))
	}
	return b.String()
}

// up writes the graph's program (through the relay or not) and runs `pulumi up`, creating
// the workspace, with the secret in its config, the first time. It returns the requests the
// up sent to Pulumi Cloud.
func (e *relayEnv) up(edges [][2]string, viaRelay bool) emulator.Stats {
	e.t.Helper()
	url := ""
	if viaRelay {
		url = e.relay.base
	}
	program := relayGraphProgram(edges, url, e.keepRedundantEdges)
	if e.w == nil {
		e.w = newProgramWorkspace(e.t, program, e.c)
		e.w.pulumi("config", "set", "--secret", "relaySecret", e.secret)
	} else {
		e.w.shared().WriteProgram(program)
	}
	e.c.WaitIdle(e.t) // so that the counts below are the up's alone
	e.c.ResetStats()
	e.w.pulumi("up", "--yes", "--skip-preview")
	return e.c.Stats()
}

// fire records a successful update of stack leaving these outputs (plain and secret), as
// a `pulumi up` of its program would, and lets its webhooks deliver.
func (e *relayEnv) fire(stack string, plain, secret map[string]any) {
	e.t.Helper()
	_, err := e.c.FireUpdateWithOutputs("org", relayProject, stack, &emulator.StackOutputs{Plain: plain, Secret: secret})
	require.NoError(e.t, err)
}

// behave sets how stack's deployments run and end from now on.
func (e *relayEnv) behave(stack string, b emulator.DeploymentBehaviour) {
	e.t.Helper()
	require.NoError(e.t, e.c.SetDeploymentBehaviour("org", relayProject, stack, b))
}

// deployments lists stack's deployments, oldest first.
func (e *relayEnv) deployments(stack string) []emulator.Deployment {
	e.t.Helper()
	ds, err := e.c.StackDeployments("org", relayProject, stack)
	require.NoError(e.t, err)
	return ds
}

// counts is how many deployments each of stacks has had so far.
func (e *relayEnv) counts(stacks ...string) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, s := range stacks {
		out[s] = len(e.deployments(s))
	}
	return out
}

// relayCascade is one cascade as GET /v1/cascades shows it (docs/relay.md).
type relayCascade struct {
	ID      int64  `json:"id"`
	Root    string `json:"root"`
	Version int    `json:"version"`
	Cause   string `json:"cause"`
	State   string `json:"state"`
	Error   string `json:"error"`
	Stacks  []struct {
		Stack        string   `json:"stack"`
		Parents      []string `json:"parents"`
		State        string   `json:"state"`
		Reason       string   `json:"reason"`
		DeploymentID string   `json:"deploymentId"`
		Deployments  int      `json:"deployments"`
	} `json:"stacks"`
}

// states maps each stack below the cascade's root, by its name in project rel, to its state.
func (c relayCascade) states() map[string]string {
	out := map[string]string{}
	for _, s := range c.Stacks {
		out[strings.TrimPrefix(s.Stack, "org/"+relayProject+"/")] = s.State
	}
	return out
}

// cascades lists the relay's cascades, newest first.
func (e *relayEnv) cascades() []relayCascade {
	e.t.Helper()
	resp, err := http.Get(e.relay.base + "/v1/cascades")
	require.NoError(e.t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	var out struct{ Cascades []relayCascade }
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Cascades
}

// waitCascades waits until the relay lists n cascades, none running, and the emulator has
// nothing running, waiting or on its way; it returns the newest cascade.
func (e *relayEnv) waitCascades(n int) relayCascade {
	e.t.Helper()
	var cs []relayCascade
	e.waitFor(fmt.Sprintf("%d finished cascades", n), func() bool {
		cs = e.cascades()
		return len(cs) == n && !slices.ContainsFunc(cs, func(c relayCascade) bool { return c.State == "running" }) &&
			e.c.Idle()
	})
	return cs[0]
}

// waitCascadesOf is waitCascades for the cascades of one root: it waits until the relay lists n
// of them, no cascade at all running, and the emulator idle; it returns root's newest. Other
// cascades may come with them: a stack that changed while the edges were direct, and whose version
// the relay had no reason to read until it gained an edge, is a change the relay finds then.
func (e *relayEnv) waitCascadesOf(root string, n int) relayCascade {
	e.t.Helper()
	var of []relayCascade
	e.waitFor(fmt.Sprintf("%d finished cascades of %s", n, root), func() bool {
		cs := e.cascades()
		of = slices.DeleteFunc(slices.Clone(cs), func(c relayCascade) bool { return c.Root != "org/"+relayProject+"/"+root })
		return len(of) == n && !slices.ContainsFunc(cs, func(c relayCascade) bool { return c.State == "running" }) &&
			e.c.Idle()
	})
	return of[0]
}

// waitFor polls cond until it holds, failing the test with what after relayWait.
func (e *relayEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(relayWait)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s; cascades: %+v", relayWait, what, e.cascades())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writesByMethod is stats' requests other than GET, by method.
func writesByMethod(stats emulator.Stats) map[string]int {
	out := map[string]int{}
	for method, n := range stats.ByMethod {
		if method != http.MethodGet && method != http.MethodHead {
			out[method] = n
		}
	}
	return out
}

// requireAfter checks that deployment later started after each of earlier ended.
func requireAfter(t *testing.T, later emulator.Deployment, earlier ...emulator.Deployment) {
	t.Helper()
	for _, d := range earlier {
		require.NotZero(t, d.EndOrder, "%s's deployment %d has not ended", d.Stack, d.Version)
		require.Greater(t, later.StartOrder, d.EndOrder, "%s's deployment %d started before %s's deployment %d ended",
			later.Stack, later.Version, d.Stack, d.Version)
	}
}

// last is a stack's newest deployment.
func last(t *testing.T, ds []emulator.Deployment) emulator.Deployment {
	t.Helper()
	require.NotEmpty(t, ds)
	return ds[len(ds)-1]
}
