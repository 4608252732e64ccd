package emulator

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConsoleOnlyAnswersLoopback(t *testing.T) {
	t.Parallel()
	srv := New(Options{Token: testToken})
	paths := []string{"/", "/_emulator/console/data", "/_emulator/console/console.js"}
	for _, remote := range []string{"192.0.2.10:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		for _, path := range paths {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = remote
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			assert.Equal(t, http.StatusForbidden, rec.Code, "%s from %s", path, remote)
			assert.Contains(t, rec.Body.String(), "loopback", "%s from %s", path, remote)
			assert.NotContains(t, rec.Body.String(), "<html", "%s from %s", path, remote)
		}
	}
	for _, remote := range []string{"127.0.0.1:40000", "127.0.0.2:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"} {
		for _, path := range paths {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = remote
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			assert.Equal(t, http.StatusOK, rec.Code, "%s from %s: %s", path, remote, rec.Body)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "[::1]:1": true, "[::ffff:127.0.0.1]:1": true, "127.0.0.1": true, "::1": true,
		"192.0.2.1:1": false, "[fe80::1%eth0]:1": false, "localhost:1": false, "": false, "@": false,
	} {
		assert.Equal(t, want, isLoopback(addr), addr)
	}
}

func TestConsolePageAndAssets(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // a real listener on 127.0.0.1

	page := h.send(http.MethodGet, "/", nil, nil) // no token: the console needs none
	require.Equal(t, http.StatusOK, page.status)
	assert.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	assert.Contains(t, page.header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Equal(t, "nosniff", page.header.Get("X-Content-Type-Options"))
	assert.Contains(t, string(page.body), `<script src="/_emulator/console/console.js"`)

	for file, contentType := range map[string]string{
		"console.js": "text/javascript", "console.css": "text/css", "favicon.svg": "image/svg+xml",
	} {
		res := h.send(http.MethodGet, "/_emulator/console/"+file, nil, nil)
		require.Equal(t, http.StatusOK, res.status, file)
		assert.True(t, strings.HasPrefix(res.header.Get("Content-Type"), contentType), "%s: %s", file, res.header.Get("Content-Type"))
		assert.NotEmpty(t, res.header.Get("Content-Security-Policy"), file)
	}
	assert.Equal(t, http.StatusNotFound, h.send(http.MethodGet, "/_emulator/console/index.html", nil, nil).status)
	assert.Equal(t, http.StatusNotFound, h.send(http.MethodGet, "/_emulator/console/nope.js", nil, nil).status)
	assert.Equal(t, http.StatusNotFound, h.send(http.MethodGet, "/console", nil, nil).status)
	post := h.send(http.MethodPost, "/", nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, post.status)
	assert.Equal(t, "GET, HEAD", post.header.Get("Allow"))
	assert.Equal(t, 0, h.srv.Stats().Total, "the console is not /api traffic")
}

// The page must work offline: nothing in it may point at another host.
func TestConsoleLoadsNothingFromElsewhere(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(consoleFiles, "console", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := consoleFiles.ReadFile(path)
		require.NoError(t, err)
		// The SVG namespace is a name, not something fetched.
		text := strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", "")
		assert.NotContains(t, text, "://", path)
		assert.NotContains(t, text, "//cdn", path)
		return nil
	})
	require.NoError(t, err)
}

func TestConsoleDataReturnsTheGraph(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "p", "root", "a", "b", "c", "d")
	require.NoError(t, h.srv.CreateStack("acme", "p", "bare"))
	require.NoError(t, h.srv.CreateEnvironment("acme", "p", "shared"))
	for _, e := range [][2]string{{"root", "a"}, {"root", "b"}, {"a", "c"}, {"b", "bare"}, {"c", "ghost"}} {
		must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/p/"+e[0]+"/hooks",
			override(deployHook("acme", "p", e[0], e[1]), map[string]any{"name": "to-" + e[1]})), http.StatusCreated)
	}
	h.createStackHook(t, override(deployHook("acme", "p", "b", "d"), map[string]any{"name": "to-d", "active": false}))
	must[map[string]any](t, h.call(http.MethodPost, "/api/esc/environments/acme/p/shared/hooks", map[string]any{
		"organizationName": "acme", "projectName": "p", "envName": "shared", "name": "to-root",
		"displayName": "deploy root", "payloadUrl": "p/root", "format": "pulumi_deployments", "active": true,
	}), http.StatusCreated)
	// A raw webhook deploys nothing, so it is no edge.
	h.createStackHook(t, stackHook("acme", "p", "root", map[string]any{"name": "notify"}))

	res := h.send(http.MethodGet, "/_emulator/console/data", nil, nil)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	view := must[consoleView](t, res, http.StatusOK)

	type node struct{ ID, Kind string }
	var nodes []node
	for _, n := range view.Graph.Nodes {
		nodes = append(nodes, node{n.ID, n.Kind})
	}
	assert.Equal(t, []node{
		{"acme/p/a", "stack"}, {"acme/p/b", "stack"}, {"acme/p/bare", "stack"}, {"acme/p/c", "stack"},
		{"acme/p/d", "stack"}, {"acme/p/root", "stack"},
		{"env:acme/p/shared", "environment"}, {"acme/p/ghost", "missing"},
	}, nodes)

	type edge struct {
		From, To, Webhook string
		Active            bool
		Dangling          string
	}
	var edges []edge
	for _, e := range view.Graph.Edges {
		edges = append(edges, edge{e.From, e.To, e.Webhook.Name, e.Active, e.Dangling})
	}
	assert.ElementsMatch(t, []edge{
		{"acme/p/root", "acme/p/a", "to-a", true, ""},
		{"acme/p/root", "acme/p/b", "to-b", true, ""},
		{"acme/p/a", "acme/p/c", "to-c", true, ""},
		{"acme/p/b", "acme/p/bare", "to-bare", true, "no-settings"},
		{"acme/p/b", "acme/p/d", "to-d", false, ""},
		{"acme/p/c", "acme/p/ghost", "to-ghost", true, "missing"},
		{"env:acme/p/shared", "acme/p/root", "to-root", true, ""},
	}, edges)
	require.Len(t, view.Stacks, 6)
	assert.Equal(t, consoleStack{ID: "acme/p/bare", Org: "acme", Project: "p", Stack: "bare"}, view.Stacks[2])
	assert.Empty(t, view.Deployments)
	assert.Empty(t, view.FailedDeliveries)

	// After the cascade the same route has its deployments and failed deliveries.
	_, err := h.srv.FireUpdate("acme", "p", "root")
	require.NoError(t, err)
	view = must[consoleView](t, h.send(http.MethodGet, "/_emulator/console/data", nil, nil), http.StatusOK)
	assert.Equal(t, []string{"a", "b", "c"}, stackNames(view.Deployments))
	assert.Equal(t, 3, view.DeploymentsTotal)
	assert.Equal(t, CauseWebhook, view.Deployments[0].Cause.Kind)
	require.Len(t, view.FailedDeliveries, 2)
	assert.Equal(t, 2, view.FailedDeliveriesTotal)
	assert.Equal(t, http.StatusBadRequest, view.FailedDeliveries[0].ResponseCode)
	assert.Equal(t, "to-bare", view.FailedDeliveries[0].Webhook.Name)
	assert.Contains(t, view.FailedDeliveries[0].ResponseBody, "no deployment settings")
	assert.Equal(t, http.StatusNotFound, view.FailedDeliveries[1].ResponseCode)
	assert.Equal(t, "p/ghost", view.FailedDeliveries[1].RequestURL)
	assert.False(t, view.FailedDeliveries[1].Time.IsZero())
	root := view.Stacks[5]
	assert.Equal(t, "acme/p/root", root.ID)
	assert.Equal(t, 1, root.Version)
	assert.False(t, root.LastUpdate.IsZero())
}

func TestConsoleDataCapsItsLists(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.MaxCascadeDeployments = consoleMaxRows + 50 })
	seedStacks(t, h.srv, "acme", "p", "x", "y")
	// x ⇄ y: a cycle, which the cap stops.
	h.createStackHook(t, deployHook("acme", "p", "x", "y"))
	h.createStackHook(t, deployHook("acme", "p", "y", "x"))
	res, err := h.srv.FireUpdate("acme", "p", "x")
	require.NoError(t, err)
	require.True(t, res.Truncated)

	view := h.srv.store.ConsoleView()
	assert.Equal(t, consoleMaxRows+50, view.DeploymentsTotal)
	require.Len(t, view.Deployments, consoleMaxRows)
	all := h.srv.Deployments()
	assert.Equal(t, all[len(all)-1].ID, view.Deployments[consoleMaxRows-1].ID, "the latest are kept")
}
