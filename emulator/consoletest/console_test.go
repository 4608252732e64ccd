//go:build unix

package consoletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/cdp"
)

const (
	org     = "acme"
	project = "p"
	// waitTimeout bounds every wait for the page; generous, since a loaded CI machine can be slow, and
	// the waits poll so they cost nothing when the page is quick.
	waitTimeout = 20 * time.Second
)

func id(stack string) string { return org + "/" + project + "/" + stack }

// TestConsoleInBrowser loads the console in headless Chromium, checks that it shows the stacks and the
// graph the webhooks make, clicks the root's update button and waits for the cascade's deployments
// and failed deliveries to appear, then saves a screenshot to bin/console.png.
func TestConsoleInBrowser(t *testing.T) {
	b := cdp.Start(t)
	cloud := emulatortest.Start(t)

	// root → a, b; a → c: the cascade of root deploys a, b and c. Around it, each kind of edge the page
	// draws differently: b → d inactive, b → nosettings (a stack without deployment settings) and
	// c → ghost (no such stack) dangling. solo has no webhooks at all.
	cloud.SeedDeployable(t, org, project, "root", "a", "b", "c", "d", "solo")
	if err := cloud.CreateStack(org, project, "nosettings"); err != nil {
		t.Fatal(err)
	}
	edges := []struct {
		from, to string
		active   bool
		state    string
	}{
		{"root", "a", true, "active"},
		{"root", "b", true, "active"},
		{"a", "c", true, "active"},
		{"b", "d", false, "inactive"},
		{"b", "nosettings", true, "dangling"},
		{"c", "ghost", true, "dangling"},
	}
	for _, e := range edges {
		createDeployHook(t, cloud, e.from, e.to, e.active)
	}

	b.Call("Page.navigate", map[string]any{"url": cloud.URL + "/"}, nil)
	b.WaitFor("the stacks table", `document.querySelectorAll("#stacks tbody tr").length === 7`, waitTimeout)

	// The stacks, each with its button.
	var stacks []string
	b.MustEval(`[...document.querySelectorAll("#stacks tbody tr")].map(r => r.dataset.stack)`, &stacks)
	want := []string{id("a"), id("b"), id("c"), id("d"), id("nosettings"), id("root"), id("solo")}
	if !slices.Equal(stacks, want) {
		t.Errorf("stacks shown = %v, want %v", stacks, want)
	}
	var buttons []string
	b.MustEval(`[...document.querySelectorAll("#stacks button")].map(b => b.getAttribute("aria-label"))`, &buttons)
	if len(buttons) != len(want) || buttons[0] != "Fire an update of "+id("a") {
		t.Errorf("fire buttons = %v, want one labelled per stack", buttons)
	}

	// The graph: one SVG edge per webhook, styled by its state, and the dangling targets marked.
	var drawn []string
	b.MustEval(`[...document.querySelectorAll("#graph svg g.edge")].map(g => g.dataset.from + " -> " + g.dataset.to + " " + g.dataset.state)`, &drawn)
	var wantDrawn []string
	for _, e := range edges {
		wantDrawn = append(wantDrawn, id(e.from)+" -> "+id(e.to)+" "+e.state)
	}
	slices.Sort(drawn)
	slices.Sort(wantDrawn)
	if !slices.Equal(drawn, wantDrawn) {
		t.Errorf("graph edges =\n  %s\nwant\n  %s", strings.Join(drawn, "\n  "), strings.Join(wantDrawn, "\n  "))
	}
	var nodeClass map[string]string
	b.MustEval(`Object.fromEntries([...document.querySelectorAll("#graph svg g.node")].map(g => [g.dataset.node, g.getAttribute("class")]))`, &nodeClass)
	for node, class := range map[string]string{id("ghost"): "missing", id("nosettings"): "nosettings", id("root"): "stack"} {
		if !slices.Contains(strings.Fields(nodeClass[node]), class) {
			t.Errorf("graph node %s has classes %q, want %q among them", node, nodeClass[node], class)
		}
	}
	var desc string
	b.MustEval(`document.querySelector("#graph svg desc").textContent`, &desc)
	if !strings.Contains(desc, id("root")+" deploys "+id("a")) {
		t.Errorf("the graph's text description %q does not name the edge root → a", desc)
	}
	b.WaitFor("no deployments yet", `!document.querySelector("#deployments-empty").hidden`, waitTimeout)

	// Fire root's update with a real mouse click and watch the cascade arrive.
	b.Click(fmt.Sprintf(`button[data-fire=%q]`, id("root")))
	for _, s := range []string{"a", "b", "c"} {
		b.WaitFor("the deployment of "+s, fmt.Sprintf(`document.querySelector('#deployments tbody tr[data-stack=%q]')`, id(s)), waitTimeout)
	}
	b.WaitFor("the cascade's summary", `document.querySelector("#status").textContent.includes("3 deployments (a, b, c)")`, waitTimeout)
	b.WaitFor("both failed deliveries", `document.querySelectorAll("#failed tbody tr").length === 2`, waitTimeout)

	var order []string
	b.MustEval(`[...document.querySelectorAll("#deployments tbody tr")].reverse().map(r => r.dataset.stack)`, &order)
	if want := []string{id("a"), id("b"), id("c")}; !slices.Equal(order, want) {
		t.Errorf("deployments, oldest first = %v, want %v (breadth first, no deployment of the inactive edge's d)", order, want)
	}
	// Each row says when its deployment was queued, started and ended.
	var times [][]string
	b.MustEval(`[...document.querySelectorAll("#deployments tbody tr")].map(r => [...r.cells].slice(5).map(c => c.textContent))`, &times)
	for i, row := range times {
		if len(row) != 3 || slices.Contains(row, "") {
			t.Errorf("deployment row %d shows queued, started, ended = %q, want three times", i, row)
		}
	}
	var mode string
	b.MustEval(`document.querySelector("#deployments-mode").textContent`, &mode)
	if !strings.Contains(mode, "end the moment they are created") {
		t.Errorf("the deployment mode reads %q", mode)
	}
	var failedText string
	b.MustEval(`document.querySelector("#failed tbody").innerText`, &failedText)
	for _, s := range []string{"400", "no deployment settings", "404", "not found", "p/ghost", "p/nosettings"} {
		if !strings.Contains(failedText, s) {
			t.Errorf("failed deliveries do not mention %q:\n%s", s, failedText)
		}
	}
	b.MustEval(`Object.fromEntries([...document.querySelectorAll("#graph svg g.node")].map(g => [g.dataset.node, g.getAttribute("class")]))`, &nodeClass)
	for node, class := range map[string]string{id("root"): "fired", id("a"): "deployed", id("b"): "deployed", id("c"): "deployed"} {
		if !slices.Contains(strings.Fields(nodeClass[node]), class) {
			t.Errorf("after the click, graph node %s has classes %q, want %q among them", node, nodeClass[node], class)
		}
	}
	if got := stackNames(cloud.Deployments()); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("the emulator deployed %v, want [a b c]", got)
	}

	path := cdp.SaveScreenshot(t, b.Screenshot(), "CONSOLE_SCREENSHOT", "console.png")
	t.Logf("screenshot of the console after the cascade: %s", path)

	// The page follows changes made elsewhere: an update through the Go API shows up by polling.
	if _, err := cloud.FireUpdate(org, project, "a"); err != nil {
		t.Fatal(err)
	}
	b.WaitFor("c's second deployment, by polling", fmt.Sprintf(`document.querySelectorAll('#deployments tbody tr[data-stack=%q]').length === 2`, id("c")), waitTimeout)

	if errs := b.PageErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// createDeployHook creates, through the emulator's HTTP API as a client would, a pulumi_deployments
// webhook on stack from that deploys stack to.
func createDeployHook(t *testing.T, cloud *emulatortest.Cloud, from, to string, active bool) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"organizationName": org, "projectName": project, "stackName": from,
		"name": "to-" + to, "displayName": "deploy " + to, "payloadUrl": project + "/" + to,
		"format": "pulumi_deployments", "filters": []string{"update_succeeded"}, "active": active,
	})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		cloud.URL+"/api/stacks/"+id(from)+"/hooks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+cloud.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("creating webhook %s → %s: %s", from, to, res.Status)
	}
}

func stackNames(ds []emulator.Deployment) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Stack
	}
	return out
}
