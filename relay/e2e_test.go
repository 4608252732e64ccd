//go:build e2e

package relay_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

// The relay end to end: the emulator in process, the relay binary `make build` made as a
// process of its own, and the graph's edges created through the cloud client exactly as the
// provider's relay mode creates them. Deployments are timed, so cascades unfold over time as
// on the service, and the emulator really POSTs every delivery to the relay.

const (
	e2eOrg     = "acme"
	e2eProject = "p"
	e2eSecret  = "e2e-relay-secret"
	e2eWait    = 60 * time.Second
)

type e2eEnv struct {
	t      *testing.T
	emu    *emulatortest.Cloud
	client *cloud.Client
	db     string
	relay  *relayProcess
}

type relayProcess struct {
	cmd  *exec.Cmd
	base string
	// replica is the process's River client ID, which river_job.attempted_by records.
	replica string
	logs    *syncbuf.Buffer
	done    chan struct{}
}

func relayBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AUTO_DEPLOY_BIN")
	require.NotEmpty(t, dir, "AUTO_DEPLOY_BIN is not set: run these tests with `make test-e2e`, which builds bin/")
	bin := filepath.Join(dir, "pulumi-auto-deploy-relay")
	_, err := os.Stat(bin)
	require.NoError(t, err, "missing %s: run `make build`", bin)
	return bin
}

// newEnv starts an emulator with the stacks (all deployable) and timed deployments, and the relay,
// which adopts the organization as it is before the test makes its edges.
func newEnv(t *testing.T, stacks ...string) *e2eEnv {
	t.Helper()
	emu := startEmulator(t, 150*time.Millisecond)
	emu.SeedDeployable(t, e2eOrg, e2eProject, stacks...)
	e := &e2eEnv{t: t, emu: emu, client: newClient(t, emu), db: filepath.Join(t.TempDir(), "relay.db")}
	e.startRelay("127.0.0.1:0")
	e.waitFor("the relay's baseline", func() bool { return strings.Contains(e.relay.logs.String(), "baseline adopted") })
	return e
}

// startEmulator starts the emulator with timed deployments of the given default duration.
func startEmulator(t *testing.T, duration time.Duration) *emulatortest.Cloud {
	t.Helper()
	return emulatortest.Start(t, emulatortest.WithDeploymentDuration(duration))
}

func newClient(t *testing.T, emu *emulatortest.Cloud) *cloud.Client {
	t.Helper()
	client, err := cloud.New(nil, emu.URL, emu.Token)
	require.NoError(t, err)
	return client
}

const sigterm = syscall.SIGTERM

type relayCascade = relay.CascadeView

func jsonUnmarshal(line string, v any) error { return json.Unmarshal([]byte(line), v) }

// startRelay runs the relay binary on addr and waits for its "listening" line.
func (e *e2eEnv) startRelay(addr string) {
	e.relay = runRelay(e.t, e.emu, addr, e.db)
}

// runRelay runs the relay binary against emu on addr and database db, with extra flags, and
// waits for its "listening" line.
func runRelay(t *testing.T, emu *emulatortest.Cloud, addr, db string, flags ...string) *relayProcess {
	t.Helper()
	args := append([]string{"--addr", addr, "--db", db, "--api-url", emu.URL, "--organization", e2eOrg,
		"--poll", "1s"}, flags...)
	cmd := exec.Command(relayBinary(t), args...)
	cmd.Env = append(os.Environ(), "PULUMI_ACCESS_TOKEN="+emu.Token, "AUTO_DEPLOY_RELAY_SECRET="+e2eSecret)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &relayProcess{cmd: cmd, logs: &syncbuf.Buffer{}, done: make(chan struct{})}
	type started struct{ Addr, Replica string }
	listening := make(chan started, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			p.logs.WriteLine(line)
			var rec struct{ Msg, Addr, Replica string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				listening <- started{rec.Addr, rec.Replica}
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
		if t.Failed() {
			t.Logf("relay logs (%s):\n%s", p.base, p.logs.String())
		}
	})
	select {
	case s := <-listening:
		p.base, p.replica = "http://"+s.Addr, s.Replica
	case <-p.done:
		t.Fatalf("the relay exited before listening:\n%s", p.logs.String())
	case <-time.After(e2eWait):
		t.Fatalf("the relay did not listen within %s:\n%s", e2eWait, p.logs.String())
	}
	return p
}

// kill ends the relay with SIGKILL, as a crash would.
func (e *e2eEnv) kill() {
	require.NoError(e.t, e.relay.cmd.Process.Signal(syscall.SIGKILL))
	<-e.relay.done
}

// edge creates the relay webhook for from → to exactly as the provider's relay mode does.
func (e *e2eEnv) edge(from, to string, secret string) {
	e.t.Helper()
	target := e2eProject + "/" + to
	hook := edge.Desired(target, edge.Form{RelayURL: e.relay.base}, true)
	hook.DisplayName = "auto-deploy: " + target + " (owner: urn:pulumi:e2e::graph::auto-deploy:index:DeploymentGraph::g)"
	hook.Secret = secret
	_, err := e.client.CreateWebhook(e.t.Context(),
		cloud.WebhookScope{Organization: e2eOrg, Project: e2eProject, Stack: from}, hook)
	require.NoError(e.t, err)
}

func (e *e2eEnv) fire(stack string, outputs, secrets map[string]any) {
	e.t.Helper()
	var out *emulator.StackOutputs
	if outputs != nil || secrets != nil {
		out = &emulator.StackOutputs{Plain: outputs, Secret: secrets}
	}
	_, err := e.emu.FireUpdateWithOutputs(e2eOrg, e2eProject, stack, out)
	require.NoError(e.t, err)
}

func (e *e2eEnv) behave(stack string, b emulator.DeploymentBehaviour) {
	e.t.Helper()
	require.NoError(e.t, e.emu.SetDeploymentBehaviour(e2eOrg, e2eProject, stack, b))
}

func (e *e2eEnv) deployments(stack string) []emulator.Deployment {
	e.t.Helper()
	ds, err := e.emu.StackDeployments(e2eOrg, e2eProject, stack)
	require.NoError(e.t, err)
	return ds
}

func (e *e2eEnv) cascades() []relay.CascadeView {
	e.t.Helper()
	resp, err := http.Get(e.relay.base + "/v1/cascades")
	require.NoError(e.t, err)
	defer func() { _ = resp.Body.Close() }()
	var out struct{ Cascades []relay.CascadeView }
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Cascades
}

// waitDone waits until the relay lists n cascades, none running, and the emulator is idle.
func (e *e2eEnv) waitDone(n int) relay.CascadeView {
	e.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		cs := e.cascades()
		finished := len(cs) == n
		for _, c := range cs {
			finished = finished && c.State != "running"
		}
		if finished && e.emu.Idle() {
			return cs[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %d finished cascades: %+v", n, cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *e2eEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func states(c relay.CascadeView) map[string]relay.State {
	out := map[string]relay.State{}
	for _, s := range c.Stacks {
		out[strings.TrimPrefix(s.Stack, e2eOrg+"/"+e2eProject+"/")] = s.State
	}
	return out
}

func TestRelayDiamondDeploysTheJoinOnceAndUnchangedUpdatesNothing(t *testing.T) {
	e := newEnv(t, "root", "a", "b", "join")
	for _, edge := range [][2]string{{"root", "a"}, {"root", "b"}, {"a", "join"}, {"b", "join"}} {
		e.edge(edge[0], edge[1], e2eSecret)
	}
	e.behave("a", emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": 1}}})
	e.emu.ResetStats()
	e.fire("root", map[string]any{"url": "v1"}, nil)
	c := e.waitDone(1)
	assert.Equal(t, "acme/p/root", c.Root)
	// The change walks the graph below it (a webhook listing per stack); each deployed stack costs a
	// listing of its deployments and the POST, and their ends are read from the organization's
	// deployment list, with their versions.
	routes := e.emu.Stats().ByRoute
	const stackRoute = "/api/stacks/{org}/{project}/{stack}"
	assert.Equal(t, 4, routes["GET "+stackRoute+"/hooks"])
	assert.Equal(t, 3, routes["GET "+stackRoute+"/deployments"])
	assert.Equal(t, 3, routes["POST "+stackRoute+"/deployments"])
	assert.Positive(t, routes["GET /api/orgs/{org}/deployments"])
	assert.Zero(t, routes["GET "+stackRoute+"/deployments/{id}"], "every end is read from the organization's list")
	assert.Zero(t, routes["GET "+stackRoute+"/export/{version}"], "new edges deploy without comparing")
	assert.Equal(t, map[string]relay.State{"a": "succeeded", "b": "succeeded", "join": "succeeded"}, states(c))
	a, b, join := e.deployments("a"), e.deployments("b"), e.deployments("join")
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	require.Len(t, join, 1, "the join deploys once, not once per path")
	assert.Greater(t, join[0].StartOrder, a[0].EndOrder, "the join starts after a ended")
	assert.Greater(t, join[0].StartOrder, b[0].EndOrder, "the join starts after b ended")

	// The same outputs again: nothing below the root deploys. What that costs in requests
	// (docs/relay.md): the walk below the root, and the root's two versions exported once for both
	// its children.
	e.emu.ResetStats()
	e.fire("root", map[string]any{"url": "v1"}, nil)
	c = e.waitDone(2)
	routes = e.emu.Stats().ByRoute
	assert.Equal(t, 4, routes["GET "+stackRoute+"/hooks"])
	assert.Equal(t, 2, routes["GET "+stackRoute+"/export/{version}"])
	assert.Zero(t, routes["POST "+stackRoute+"/deployments"]+routes["GET "+stackRoute+"/deployments"])
	assert.Equal(t, map[string]relay.State{
		"a": "skipped-unchanged", "b": "skipped-unchanged", "join": "skipped-unchanged",
	}, states(c))
	assert.Len(t, e.deployments("a"), 1)
	assert.Len(t, e.deployments("join"), 1)
}

func TestRelayDetectsASecretOutputChange(t *testing.T) {
	e := newEnv(t, "root", "a")
	e.edge("root", "a", e2eSecret)
	e.fire("root", nil, map[string]any{"dbPassword": "first-secret-value"})
	e.waitDone(1)
	e.fire("root", nil, map[string]any{"dbPassword": "first-secret-value"})
	c := e.waitDone(2)
	assert.Equal(t, relay.State("skipped-unchanged"), states(c)["a"], "the same value, encrypted anew, is no change")
	e.fire("root", nil, map[string]any{"dbPassword": "second-secret-value"})
	c = e.waitDone(3)
	assert.Equal(t, relay.State("succeeded"), states(c)["a"])
	assert.Len(t, e.deployments("a"), 2)
	logs := e.relay.logs.String()
	assert.NotContains(t, logs, "first-secret-value")
	assert.NotContains(t, logs, "second-secret-value")
}

func TestRelayFailureSkipsBelowAndSiblingsGoOn(t *testing.T) {
	e := newEnv(t, "root", "a", "a1", "b")
	for _, edge := range [][2]string{{"root", "a"}, {"a", "a1"}, {"root", "b"}} {
		e.edge(edge[0], edge[1], e2eSecret)
	}
	e.behave("a", emulator.DeploymentBehaviour{Outcome: "failed"})
	e.fire("root", map[string]any{"v": 1}, nil)
	c := e.waitDone(1)
	assert.Equal(t, map[string]relay.State{"a": "failed", "a1": "skipped-upstream-failed", "b": "succeeded"}, states(c))
	assert.Empty(t, e.deployments("a1"))
	assert.Len(t, e.deployments("b"), 1)
}

func TestRelayCoalescesAnUpdateDuringTheCascade(t *testing.T) {
	e := newEnv(t, "root", "a", "c")
	e.edge("root", "a", e2eSecret)
	e.edge("a", "c", e2eSecret)
	e.behave("a", emulator.DeploymentBehaviour{Duration: time.Second,
		Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": "x"}}})
	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitFor("a's first deployment running", func() bool {
		ds := e.deployments("a")
		return len(ds) == 1 && ds[0].Status == "running"
	})
	beforeSecond := time.Now()
	e.fire("root", map[string]any{"v": 2}, nil)
	c := e.waitDone(2)
	assert.Equal(t, 2, c.Version, "the newest cascade is the root's second update")
	assert.Equal(t, map[string]relay.State{"a": "succeeded", "c": "succeeded"}, states(c))
	for _, stack := range []string{"a", "c"} {
		ds := e.deployments(stack)
		require.NotEmpty(t, ds)
		assert.LessOrEqual(t, len(ds), 2, "%s deploys at most twice", stack)
		assert.True(t, ds[len(ds)-1].Created.After(beforeSecond), "%s's last deployment starts after the root's last update", stack)
	}
	assert.Len(t, e.deployments("a"), 2, "a was running: it deploys once more")
	assert.Len(t, e.deployments("c"), 1, "c was waiting: it deploys once, covering both updates")
}

func TestRelayKilledMidCascadeFinishesItAfterRestart(t *testing.T) {
	e := newEnv(t, "root", "a", "b")
	e.edge("root", "a", e2eSecret)
	e.edge("a", "b", e2eSecret)
	e.behave("a", emulator.DeploymentBehaviour{Duration: time.Second})
	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitFor("a deploying", func() bool {
		cs := e.cascades()
		return len(cs) == 1 && len(cs[0].Stacks) == 2 && cs[0].Stacks[0].DeploymentID != ""
	})
	addr := strings.TrimPrefix(e.relay.base, "http://")
	e.kill()
	e.startRelay(addr)
	c := e.waitDone(1)
	assert.Equal(t, map[string]relay.State{"a": "succeeded", "b": "succeeded"}, states(c))
	assert.Len(t, e.deployments("a"), 1, "nothing deployed twice")
	assert.Len(t, e.deployments("b"), 1, "nothing missed")
}

func TestRelayRefusesAForgedDeliveryAndIgnoresARedelivery(t *testing.T) {
	e := newEnv(t, "root", "a")
	e.edge("root", "a", e2eSecret)

	// A delivery signed with another secret is refused and starts nothing: it claims a version of root
	// that does not exist, and the relay takes nothing from it.
	body := []byte(`{"organization":{"githubLogin":"acme"},"projectName":"p","stackName":"root",` +
		`"updateUrl":"https://app.pulumi.com/acme/p/root/updates/99","kind":"update","result":"succeeded"}`)
	req, err := http.NewRequest(http.MethodPost, e.relay.base+"/v1/hooks?target=p%2Fa", bytes.NewReader(body))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, []byte("not-the-relay-secret"))
	mac.Write(body)
	req.Header.Set("Pulumi-Webhook-Signature", hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Pulumi-Webhook-Kind", "stack_update")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, e.cascades())
	assert.Empty(t, e.deployments("a"))

	// A redelivery of an update already handled starts nothing new.
	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitDone(1)
	name := edge.Name(e2eProject + "/a")
	deliveries, err := e.client.ListWebhookDeliveries(t.Context(),
		cloud.WebhookScope{Organization: e2eOrg, Project: e2eProject, Stack: "root"}, name)
	require.NoError(t, err)
	require.NotEmpty(t, deliveries)
	req, err = http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/stacks/%s/%s/root/hooks/%s/deliveries/%s/redeliver",
		e.emu.URL, e2eOrg, e2eProject, name, deliveries[0].ID), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "token "+e.emu.Token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var redelivered cloud.WebhookDelivery
	require.NoError(t, json.Unmarshal(body, &redelivered))
	assert.Equal(t, http.StatusAccepted, redelivered.ResponseCode)
	assert.Contains(t, redelivered.ResponseBody, `"duplicate":true`)
	e.waitDone(1)
	assert.Len(t, e.deployments("a"), 1)
}

func TestRelayRetriesReadsAndNeverRepeatsADeploymentStart(t *testing.T) {
	e := newEnv(t, "root", "a")
	e.edge("root", "a", e2eSecret)
	// The first webhook listing fails with 503; the first deployment start lands, but its
	// answer is lost (502 after the write).
	e.emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
		{Status: http.StatusServiceUnavailable, Method: "GET", PathContains: "/hooks", Limit: 1},
		{Status: http.StatusBadGateway, Method: "POST", PathContains: "/deployments", AfterApply: true, Limit: 1},
	}})
	e.fire("root", map[string]any{"v": 1}, nil)
	c := e.waitDone(1)
	assert.Equal(t, relay.State("succeeded"), states(c)["a"])
	assert.Equal(t, 2, e.emu.Stats().Faults, "both faults fired")
	assert.Len(t, e.deployments("a"), 1, "the start whose answer was lost is found, not repeated")
	assert.Contains(t, e.relay.logs.String(), "found the deployment started before an interruption; not starting another")
}
