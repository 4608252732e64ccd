package provider

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

func relayInputs(edges map[string][]string, url, secret string) property.Map {
	inputs := graphInputs(edges)
	if url == "" {
		return inputs
	}
	return inputs.Set("relay", property.New(property.NewMap(map[string]property.Value{
		"url": property.New(url), "secret": property.New(secret),
	})))
}

// TestRelayModeWritesSignedRawWebhooks: with relay set, each edge is a raw webhook to the
// relay's hooks route naming its target, signed with the secret, under the edge's name.
func TestRelayModeWritesSignedRawWebhooks(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b", "c")
	_, err := engineCreate(fakeServer(t, f), graphURN("g"), relayInputs(map[string][]string{
		"graph/a": {"graph/b", "graph/c"}}, "https://relay.example.com/prefix/", "s3cret"))
	require.NoError(t, err)
	hooks := f.hooksOf("org/graph/a")
	require.Len(t, hooks, 2)
	for _, h := range hooks {
		target := map[string]string{edge.Name("graph/b"): "graph/b", edge.Name("graph/c"): "graph/c"}[h.Name]
		require.NotEmpty(t, target, h.Name)
		assert.Equal(t, "raw", h.Format)
		assert.Equal(t, "https://relay.example.com/prefix/v1/hooks?target=graph%2F"+target[len("graph/"):], h.PayloadURL)
		assert.True(t, h.HasSecret && h.Active)
		assert.Equal(t, []string{"update_succeeded"}, h.Filters)
	}
}

// TestRelayModeSwitchIsOnePatchPerEdge: into relay mode and out of it, and a new secret,
// each rewrite every edge in place: no webhook is created or deleted.
func TestRelayModeSwitchIsOnePatchPerEdge(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b", "c")
	edges := map[string][]string{"graph/a": {"graph/b"}, "graph/b": {"graph/c"}}
	created, err := engineCreate(fakeServer(t, f), graphURN("g"), relayInputs(edges, "", ""))
	require.NoError(t, err)
	state := created.Properties
	for _, step := range []struct{ url, secret, format string }{
		{"https://relay.example.com", "one", "raw"},
		{"https://relay.example.com", "two", "raw"},
		{"", "", "pulumi_deployments"},
	} {
		f.took()
		var diff p.DiffResponse
		state, diff = graphStep(t, f, state, relayInputs(edges, step.url, step.secret))
		assert.Equal(t, map[string]p.PropertyDiff{"relay": {Kind: p.Update, InputDiff: true}}, diff.DetailedDiff)
		assert.Equal(t, map[string]int{"UpdateWebhook": 2}, f.took(), "one PATCH per edge, nothing read")
		for _, stack := range []string{"org/graph/a", "org/graph/b"} {
			for _, h := range f.hooksOf(stack) {
				assert.Equal(t, step.format, h.Format)
			}
		}
	}
}

// TestRelayInputIsChecked: the relay's URL and secret are refused at preview, named.
func TestRelayInputIsChecked(t *testing.T) {
	t.Parallel()
	server := newServer(t, "http://127.0.0.1:1", testToken)
	for _, tc := range []struct{ url, secret, reason string }{
		{"relay.example.com", "s", `relay.url "relay.example.com" is not an http(s) URL`},
		{"http://relay.example.com", "s", `relay.url "http://relay.example.com" uses plain http:// to a remote host`},
		{"HTTPS://relay.example.com", "s", `has its scheme in capitals`},
		{"https://relay.example.com/?x=1", "s", `has a query or fragment`},
		{"https://relay.example.com", " ", `relay.secret must not be empty`},
	} {
		resp, err := server.Check(p.CheckRequest{Urn: graphURN("g"),
			Inputs: relayInputs(map[string][]string{"graph/a": {"graph/b"}}, tc.url, tc.secret)})
		require.NoError(t, err)
		require.Len(t, resp.Failures, 1, tc.url)
		assert.Equal(t, "relay", resp.Failures[0].Property)
		assert.Contains(t, resp.Failures[0].Reason, tc.reason)
	}
	resp, err := server.Check(p.CheckRequest{Urn: graphURN("g"),
		Inputs: relayInputs(map[string][]string{"graph/a": {"graph/b"}}, "http://127.0.0.1:8080", "s")})
	require.NoError(t, err)
	assert.Empty(t, resp.Failures, "plain http to this machine is allowed")
}

// TestRelayEdgesCountInLoopsAndOwnership: a relay edge is an edge like any other to the
// loop check and to another resource declaring it.
func TestRelayEdgesCountInLoopsAndOwnership(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b")
	_, err := engineCreate(fakeServer(t, f), graphURN("g"), relayInputs(map[string][]string{"graph/a": {"graph/b"}},
		"https://relay.example.com", "s"))
	require.NoError(t, err)
	_, err = engineCreate(fakeServer(t, f), deployerURN("b"), deployerInputs("b", "graph/a"))
	require.ErrorContains(t, err, "would create a deployment cycle graph/b → graph/a → graph/b")
	same := fakeServer(t, f)
	_, err = same.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: graphInputs(map[string][]string{
		"graph/a": {"graph/b"}})})
	require.NoError(t, err)
	_, err = engineCreate(same, deployerURN("a"), deployerInputs("a", "graph/b"))
	require.ErrorContains(t, err, "is owned by "+string(graphURN("g")))
}

// TestRelayModeKeepsImpliedEdges: root → p → j and root → j. Without a relay root → j is
// left out (j would deploy twice); through a relay it is kept, since the relay deploys j
// once anyway and must know that j reads root, not only p. Switching adds it.
func TestRelayModeKeepsImpliedEdges(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "root", "p", "j")
	edges := map[string][]string{"graph/root": {"graph/p", "graph/j"}, "graph/p": {"graph/j"}}
	created, err := engineCreate(fakeServer(t, f), graphURN("g"), relayInputs(edges, "", ""))
	require.NoError(t, err)
	assert.Equal(t, []string{"graph/p → graph/j", "graph/root → graph/p"}, f.edges())

	f.took()
	_, diff := graphStep(t, f, created.Properties, relayInputs(edges, "https://relay.example.com", "s"))
	assert.Contains(t, diff.DetailedDiff, `["effectiveEdges: graph/root → graph/j"]`)
	calls := f.took()
	assert.Equal(t, 3, calls["UpdateWebhook"], "the two edges in place, rewritten, and the new one put in place")
	assert.Equal(t, 2, calls["CreateWebhookOnce"], "the implied edge, marked on its target and added (pending)")
	var names []string
	for _, stack := range []string{"root", "p"} {
		for _, h := range f.hooksOf("org/graph/" + stack) {
			names = append(names, stack+" "+h.Name)
		}
	}
	assert.ElementsMatch(t, []string{"root " + edge.Name("graph/p"), "p " + edge.Name("graph/j"),
		"root " + edge.Name("graph/j")}, names)
}

// TestOnlyTheEdgeContractsWebhooksDeploy: the provider reads webhooks as the relay does
// (edge.Parse). A raw webhook to a relay's route under a name other than its edge's is no
// edge, and the relay deploys nothing for it, so b → a beside it closes no loop; the same
// webhook under the edge's name, even paused, is an edge of its owner that no other
// resource may take.
func TestOnlyTheEdgeContractsWebhooksDeploy(t *testing.T) {
	t.Parallel()
	relay := edge.Form{RelayURL: "https://relay.example.com"}
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b")
	stray := edge.Desired("graph/b", relay, true)
	stray.Name, stray.DisplayName = "a1b2c3d4", "made by hand"
	f.addHookLocked("org/graph/a", stray)
	_, err := engineCreate(fakeServer(t, f), deployerURN("b"), deployerInputs("b", "graph/a"))
	require.NoError(t, err, "no loop: the stray webhook deploys nothing")

	g := newFakeClient()
	g.addStacks("org", "graph", "a", "b")
	paused := edge.Desired("graph/b", relay, false)
	paused.DisplayName = edgeDisplayName("graph/b", otherProgram)
	g.addHookLocked("org/graph/a", paused)
	_, err = engineCreate(fakeServer(t, g), deployerURN("a"), deployerInputs("a", "graph/b"))
	require.ErrorContains(t, err, "the edge graph/a → graph/b already exists in Pulumi Cloud and is owned by "+
		otherProgram)
}

func alwaysInputs(edges map[string][]string, relayURL string, always ...string) property.Map {
	inputs := relayInputs(edges, relayURL, "s")
	if always != nil {
		inputs = inputs.Set("alwaysDeploy", stringList(always...))
	}
	return inputs
}

// TestAlwaysDeployIsChecked: each element a project/stack, once; and only through a relay.
func TestAlwaysDeployIsChecked(t *testing.T) {
	t.Parallel()
	server := fakeServer(t, newFakeClient())
	edges := map[string][]string{"graph/a": {"graph/b"}}
	for _, tc := range []struct {
		inputs  property.Map
		reasons []string
	}{
		{alwaysInputs(edges, "https://relay.example.com", "graph/b", "b", "graph/b"), []string{
			`alwaysDeploy[1] "b" is not a stack reference: use the form "project/stack" (for example ` +
				`"database/prod"), a stack in the same organization`,
			`alwaysDeploy[2] "graph/b" repeats alwaysDeploy[0]: list each stack once`}},
		{alwaysInputs(edges, "", "graph/b"), []string{"alwaysDeploy only means something through a relay: " +
			"without relay each edge is a pulumi_deployments webhook, which deploys its target after every update " +
			"of its upstream already; set relay, or remove alwaysDeploy"}},
	} {
		resp, err := server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: tc.inputs})
		require.NoError(t, err)
		var reasons []string
		for _, f := range resp.Failures {
			assert.Equal(t, "alwaysDeploy", f.Property)
			reasons = append(reasons, f.Reason)
		}
		assert.Equal(t, tc.reasons, reasons)
	}
}

// TestAlwaysDeployRidesOnTheRelayEdges: each relay edge into a stack alwaysDeploy names
// carries it in its payload URL, the others do not; adding or removing a stack rewrites
// the edges into it in place, and only those; a refresh finds every edge in place.
func TestAlwaysDeployRidesOnTheRelayEdges(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "graph", "a", "b", "c", "d")
	edges := map[string][]string{"graph/a": {"graph/b", "graph/c"}, "graph/b": {"graph/d"}, "graph/c": {"graph/d"}}
	const relay = "https://relay.example.com"
	payloads := func() map[string]string {
		out := map[string]string{}
		for _, stack := range []string{"a", "b", "c"} {
			for _, h := range f.hooksOf("org/graph/" + stack) {
				out[stack+" → "+deployTarget(h)] = h.PayloadURL
			}
		}
		return out
	}
	created, err := engineCreate(fakeServer(t, f), graphURN("g"), alwaysInputs(edges, relay, "graph/d"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"a → graph/b": relay + "/v1/hooks?target=graph%2Fb",
		"a → graph/c": relay + "/v1/hooks?target=graph%2Fc",
		"b → graph/d": relay + "/v1/hooks?target=graph%2Fd&alwaysDeploy=true",
		"c → graph/d": relay + "/v1/hooks?target=graph%2Fd&alwaysDeploy=true",
	}, payloads())

	state := created.Properties
	f.took()
	state, diff := graphStep(t, f, state, alwaysInputs(edges, relay, "graph/c"))
	assert.Equal(t, map[string]p.PropertyDiff{`alwaysDeploy[0]`: {Kind: p.Update, InputDiff: true}},
		diff.DetailedDiff)
	assert.Equal(t, map[string]int{"UpdateWebhook": 3}, f.took(), "c's edge on, d's two edges off; nothing read")
	assert.Equal(t, relay+"/v1/hooks?target=graph%2Fc&alwaysDeploy=true", payloads()["a → graph/c"])
	assert.Equal(t, relay+"/v1/hooks?target=graph%2Fd", payloads()["b → graph/d"])

	read, err := fakeServer(t, f).Read(p.ReadRequest{ID: "org", Urn: graphURN("g"), Properties: state,
		Inputs: alwaysInputs(edges, relay, "graph/c")})
	require.NoError(t, err)
	assert.Equal(t, state.Get("effectiveEdges"), read.Properties.Get("effectiveEdges"), "no drift")
}
