//go:build unix

package statustest

import (
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/cdp"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

const (
	org    = "acme"
	secret = "status-test-secret"
	// waitTimeout bounds every wait; generous for a loaded machine running the race detector, and free
	// when things are quick, since the waits poll.
	waitTimeout = 30 * time.Second
)

// The graph of docs/relay.md's impact plan: network → database, cache → app → web, and network → dns
// always. database deploys slowly, so the cascade holds app and web while cache and dns are done.
var edges = []string{
	"network/prod>database/prod", "network/prod>cache/prod", "database/prod>app/prod", "cache/prod>app/prod",
	"app/prod>web/prod", "network/prod>dns/prod!",
}

// statesJS reads, in one go, each stack's state in the running cascade's timeline (in its order) and in
// the graph.
const statesJS = `(() => ({
	lanes: [...document.querySelectorAll('details.cascade[data-state="running"] g.lane')]
		.map(g => [g.dataset.stack, g.dataset.state]),
	nodes: Object.fromEntries([...document.querySelectorAll("#graph g.node")].map(g => [g.dataset.stack, g.dataset.state])),
}))()`

type pageStates struct {
	Lanes [][2]string       `json:"lanes"`
	Nodes map[string]string `json:"nodes"`
}

// TestStatusPageInBrowser runs the relay against the emulator, changes network/prod, and reads the
// page while the cascade runs: every stack below network/prod in the running cascade's timeline with
// its state, the graph drawn in the same states, links to the deployments in Pulumi Cloud; then, without
// a reload, the cascade's end. A screenshot of the running cascade goes to $RELAY_STATUS_SCREENSHOT, by
// default bin/relay-status.png.
func TestStatusPageInBrowser(t *testing.T) {
	b := cdp.Start(t)
	emu := emulatortest.Start(t, emulatortest.WithDeploymentDuration(300*time.Millisecond))
	for _, ref := range []string{"network", "database", "cache", "app", "web", "dns"} {
		emu.SeedDeployable(t, org, ref, "prod")
	}
	base := startRelay(t, emu)
	// The edges are made after the relay adopted the organization, so each stack's first deployment over
	// them deploys whatever the outputs say: the whole graph below network/prod deploys.
	emu.RelayEdges(t, org, base, secret, edges...)
	if err := emu.SetDeploymentBehaviour(org, "database", "prod", emulator.DeploymentBehaviour{Duration: 6 * time.Second}); err != nil {
		t.Fatal(err)
	}

	b.Call("Page.navigate", map[string]any{"url": base + "/"}, nil)
	b.WaitFor("the page's first answer", `document.querySelector("#refreshed").textContent.startsWith("As of")`, waitTimeout)
	b.WaitFor("no cascade yet", `document.querySelector("#cascades-empty") && !document.querySelector("#cascades-empty").hidden`, waitTimeout)
	if _, err := emu.FireUpdateWithOutputs(org, "network", "prod", &emulator.StackOutputs{Plain: map[string]any{"cidr": "10.1.0.0/16"}}); err != nil {
		t.Fatal(err)
	}

	b.WaitFor("cache and dns done while database deploys", `(() => {
		const lanes = Object.fromEntries(`+statesJS+`.lanes);
		return lanes["database/prod"] === "deploying" && lanes["cache/prod"] === "succeeded" && lanes["dns/prod"] === "succeeded";
	})()`, waitTimeout)
	var running pageStates
	b.MustEval(statesJS, &running)
	want := [][2]string{{"cache/prod", "succeeded"}, {"database/prod", "deploying"}, {"dns/prod", "succeeded"},
		{"app/prod", "waiting"}, {"web/prod", "waiting"}}
	if !slices.Equal(running.Lanes, want) {
		t.Errorf("the running cascade's lanes, in order = %v, want %v", running.Lanes, want)
	}
	wantNodes := map[string]string{"network/prod": "idle", "cache/prod": "succeeded", "database/prod": "deploying",
		"dns/prod": "succeeded", "app/prod": "waiting", "web/prod": "waiting"}
	if !maps.Equal(running.Nodes, wantNodes) {
		t.Errorf("the graph's nodes = %v, want %v", running.Nodes, wantNodes)
	}
	var href string
	b.MustEval(`document.querySelector('details.cascade[data-state="running"] g.lane[data-stack="cache/prod"] a').getAttribute("href")`, &href)
	if !strings.Contains(href, "/"+org+"/cache/prod/deployments/") {
		t.Errorf("cache/prod's bar links to %q, want its deployment's page in Pulumi Cloud", href)
	}
	var alwaysClass, appTitle string
	b.MustEval(`document.querySelector('#graph g.edge[data-parent="network/prod"][data-child="dns/prod"] path').getAttribute("class")`, &alwaysClass)
	if !slices.Contains(strings.Fields(alwaysClass), "always") {
		t.Errorf("the alwaysDeploy edge network/prod → dns/prod has classes %q, want always among them", alwaysClass)
	}
	b.MustEval(`document.querySelector('#graph g.node[data-stack="app/prod"] title').textContent`, &appTitle)
	if want := "app/prod: waiting (waits for database/prod above it)"; appTitle != want {
		t.Errorf("app/prod's node says %q when hovered, want %q", appTitle, want)
	}
	var rootClass string
	b.MustEval(`document.querySelector('#graph g.node[data-stack="network/prod"]').getAttribute("class")`, &rootClass)
	if !slices.Contains(strings.Fields(rootClass), "root") {
		t.Errorf("network/prod, the running cascade's root, has classes %q, want root among them", rootClass)
	}
	// A moment later for the picture, so that the timeline shows the slow deployment running on.
	b.WaitFor("two seconds of the cascade", `[...document.querySelectorAll(".axis text")].some(t => t.textContent === "+2.0s")`,
		waitTimeout)
	path := cdp.SaveScreenshot(t, b.Screenshot(), "RELAY_STATUS_SCREENSHOT", "relay-status.png")
	t.Logf("screenshot of the status page during the cascade: %s", path)

	// The page follows the cascade to its end by itself.
	b.WaitFor("the cascade's end", `document.querySelector('details.cascade[data-state="done"]')`, waitTimeout)
	var done pageStates
	b.MustEval(strings.ReplaceAll(statesJS, `data-state="running"`, `data-state="done"`), &done)
	for _, lane := range done.Lanes {
		if lane[1] != "succeeded" {
			t.Errorf("after the cascade, %s is %s in its timeline, want succeeded", lane[0], lane[1])
		}
	}
	for stack, state := range done.Nodes {
		if want := map[bool]string{true: "idle", false: "succeeded"}[stack == "network/prod"]; state != want {
			t.Errorf("after the cascade, graph node %s is %s, want %s", stack, state, want)
		}
	}
	var covers, summary string
	b.MustEval(`document.querySelector('details.cascade g.lane[data-stack="app/prod"] text.covers').textContent`, &covers)
	if !strings.Contains(covers, "covers cache/prod v") || !strings.Contains(covers, "database/prod v") {
		t.Errorf("app/prod's bar reads %q, want the versions of both its parents it covers", covers)
	}
	b.MustEval(`document.querySelector('details.cascade summary').textContent`, &summary)
	if !strings.Contains(summary, "network/prod version") || !strings.Contains(summary, "5 of 5 stacks settled") {
		t.Errorf("the cascade's summary reads %q", summary)
	}
	if errs := b.PageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// startRelay runs a relay in process against emu, scheduling org from its start, and returns its base
// URL (hooks and admin routes alike, on a loopback address) once it adopted the organization.
func startRelay(t *testing.T, emu *emulatortest.Cloud) string {
	t.Helper()
	logs := &syncbuf.Buffer{}
	r, err := relay.New(relay.Config{
		Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "relay.db"), Secret: secret, APIURL: emu.URL,
		Token: emu.Token, Organizations: []string{org}, PollInterval: time.Second, ShutdownGrace: time.Second,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	exited := make(chan struct{})
	go func() {
		runErr = r.Run(ctx)
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if runErr != nil {
			t.Errorf("the relay stopped with %v", runErr)
		}
		if t.Failed() {
			t.Logf("relay logs:\n%s", logs)
		}
	})
	addr := make(chan string, 1)
	go func() { addr <- r.Addr() }() // Addr waits until the relay listens
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-exited:
		t.Fatalf("the relay did not start: %v", runErr)
	}
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(logs.String(), `"msg":"baseline adopted`) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not adopt %s's baseline within %s; logs:\n%s", org, waitTimeout, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base
}
