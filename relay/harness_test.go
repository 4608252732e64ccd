package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
)

const (
	testSecret = "relay-test-secret"
	testOrg    = "acme"
	// defaultWait bounds every wait for a condition; pollEvery is how often it is checked.
	defaultWait = 30 * time.Second
	pollEvery   = 10 * time.Millisecond
)

// harness runs a real relay (Run, HTTP, River on its database) in process against the Pulumi Cloud
// emulator, whose timed deployments run on their own and whose deliveries really reach the relay.
type harness struct {
	t      *testing.T
	emu    *emulatortest.Cloud
	client *cloud.Client
	db     string
	r      *Relay
	base   string
	logs   *syncbuf.Buffer
	stop   func() error
}

// testDB is an empty database for one test: a SQLite file, or with RELAY_TEST_DB=postgres a
// PostgreSQL server of its own (internal/pgtest); `make test-unit` runs the package both ways.
func testDB(t *testing.T) string {
	if onPostgres() {
		return pgtest.Start(t)
	}
	return filepath.Join(t.TempDir(), "relay.db")
}

func onPostgres() bool { return os.Getenv("RELAY_TEST_DB") == "postgres" }

// sqliteOnly skips a test of what only a SQLite file does in the PostgreSQL run; the SQLite run
// of the package runs it.
func sqliteOnly(t *testing.T) {
	t.Helper()
	if onPostgres() {
		t.Skip("SQLite only (the SQLite run of this package covers it)")
	}
}

// newCloud starts an emulator with timed deployments and the stacks of project p, all deployable.
func newCloud(t *testing.T, stacks ...string) *emulatortest.Cloud {
	t.Helper()
	emu := emulatortest.Start(t, emulatortest.WithDeploymentDuration(50*time.Millisecond))
	emu.SeedDeployable(t, testOrg, "p", stacks...)
	return emu
}

// startRelay runs a relay on db against emu, scheduling acme from its start, and waits for its
// baseline.
func startRelay(t *testing.T, emu *emulatortest.Cloud, db string, mods ...func(*Config)) *harness {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg := Config{
		Addr: "127.0.0.1:0", DB: db, Secret: testSecret, APIURL: emu.URL, Token: emu.Token,
		Organizations: []string{testOrg}, PollInterval: time.Second, ShutdownGrace: 200 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	r, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.listening:
	case err := <-done:
		cancel()
		t.Fatalf("the relay did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("the relay did not start listening within 20s")
	}
	client, err := cloud.New(nil, emu.URL, emu.Token)
	require.NoError(t, err)
	h := &harness{t: t, emu: emu, client: client, db: db, r: r, base: "http://" + r.Addr(), logs: logs}
	h.stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() {
		_ = h.stop()
		if t.Failed() {
			t.Logf("relay logs:\n%s", logs.String())
		}
	})
	if len(cfg.Organizations) > 0 {
		h.waitBaseline()
	}
	return h
}

// waitBaseline waits until the relay (or a replica beside it) adopted the organization's baseline.
func (h *harness) waitBaseline() {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		var ms int64
		err := h.r.db.QueryRow(`SELECT baseline_ms FROM relay_org WHERE organization = $1`, testOrg).Scan(&ms)
		return err == nil && ms > 0
	}, defaultWait, pollEvery, "the relay never adopted the organization's baseline")
}

// edge makes the relay edge from → to ("project/stack") exactly as the provider's relay mode does.
func (h *harness) edge(from, to string) {
	h.t.Helper()
	project, stack := splitRef(from)
	hook := edge.Desired(to, edge.Form{RelayURL: h.base}, true)
	hook.DisplayName, hook.Secret = "auto-deploy: "+to+" (owner: urn:pulumi:test::graph)", testSecret
	_, err := h.client.CreateWebhook(h.t.Context(), cloud.WebhookScope{Organization: testOrg, Project: project, Stack: stack},
		hook)
	require.NoError(h.t, err)
}

// chain makes root → a → b.
func (h *harness) chain() {
	h.edge("p/root", "p/a")
	h.edge("p/a", "p/b")
}

// fire is a successful update of stack ("project/stack") setting its outputs.
func (h *harness) fire(ref string, outputs map[string]any) {
	h.t.Helper()
	project, stack := splitRef(ref)
	_, err := h.emu.FireUpdateWithOutputs(testOrg, project, stack, &emulator.StackOutputs{Plain: outputs})
	require.NoError(h.t, err)
}

func (h *harness) behave(ref string, b emulator.DeploymentBehaviour) {
	h.t.Helper()
	project, stack := splitRef(ref)
	require.NoError(h.t, h.emu.SetDeploymentBehaviour(testOrg, project, stack, b))
}

// deployments are the deployments of stack ref, oldest first.
func (h *harness) deployments(ref string) []emulator.Deployment {
	h.t.Helper()
	project, stack := splitRef(ref)
	ds, err := h.emu.StackDeployments(testOrg, project, stack)
	require.NoError(h.t, err)
	return ds
}

func (h *harness) waitLog(text string) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return strings.Contains(h.logs.String(), text) }, defaultWait, pollEvery,
		"the relay never logged %q", text)
}

// payload is a stack_update delivery body in the service's shape.
func payload(ev Event) []byte {
	body, err := json.Marshal(map[string]any{
		"user":         map[string]string{"name": "Test", "githubLogin": "test"},
		"organization": map[string]string{"name": ev.Organization, "githubLogin": ev.Organization},
		"projectName":  ev.Project, "stackName": ev.Stack,
		"updateUrl": fmt.Sprintf("https://app.pulumi.com/%s/%s/%s/updates/%d",
			ev.Organization, ev.Project, ev.Stack, ev.Version),
		"kind": "update", "result": "succeeded", "isPreview": false,
		"resourceChanges": map[string]int{"update": 1},
	})
	if err != nil {
		panic(err)
	}
	return body
}

func sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// post sends a delivery with the given headers and returns the status and decoded body.
func (h *harness) post(body []byte, header map[string]string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+"/v1/hooks?target=p%2Fchild", bytes.NewReader(body))
	require.NoError(h.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer func() { _ = resp.Body.Close() }()
	var out map[string]any
	data, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	require.NoError(h.t, json.Unmarshal(data, &out), "body %s", data)
	return resp.StatusCode, out
}

// deliver posts ev signed with the relay's secret, as a stack_update delivery.
func (h *harness) deliver(ev Event) (int, map[string]any) {
	h.t.Helper()
	body := payload(ev)
	return h.post(body, map[string]string{
		headerSignature: sign(body, testSecret), headerKind: "stack_update", headerID: "delivery-1",
	})
}

func (h *harness) cascades() []CascadeView {
	h.t.Helper()
	resp, err := http.Get(h.base + "/v1/cascades")
	require.NoError(h.t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	var out struct {
		Cascades []CascadeView `json:"cascades"`
	}
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Cascades
}

// waitFor polls the cascade listing until cond holds, failing after a deadline.
func (h *harness) waitFor(what string, cond func([]CascadeView) bool) []CascadeView {
	h.t.Helper()
	deadline := time.Now().Add(defaultWait)
	for {
		cs := h.cascades()
		if cond(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; cascades: %+v", what, cs)
		}
		time.Sleep(pollEvery)
	}
}

// waitDone waits until n cascades exist, none running, and the emulator is idle, and returns the
// newest.
func (h *harness) waitDone(n int) CascadeView {
	h.t.Helper()
	cs := h.waitFor(fmt.Sprintf("%d finished cascades", n), func(cs []CascadeView) bool {
		if len(cs) != n || !h.emu.Idle() {
			return false
		}
		for _, c := range cs {
			if c.State == cascadeRunning {
				return false
			}
		}
		return true
	})
	return cs[0]
}

// states maps each stack below the root ("project/stack") to its state.
func states(c CascadeView) map[string]State {
	out := map[string]State{}
	for _, s := range c.Stacks {
		out[s.Stack[len(c.Organization)+1:]] = s.State
	}
	return out
}

func stackView(t *testing.T, c CascadeView, ref string) StackView {
	t.Helper()
	for _, s := range c.Stacks {
		if s.Stack == c.Organization+"/"+ref {
			return s
		}
	}
	t.Fatalf("stack %s is not in cascade %d", ref, c.ID)
	return StackView{}
}
