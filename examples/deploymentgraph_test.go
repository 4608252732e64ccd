//go:build e2e

package examples

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const graphProgram = `name: graph
runtime: yaml
resources:
  g:
    type: auto-deploy:DeploymentGraph
    properties:
      organization: org
      edges:
        own/a:
          - own/c
          - own/b
        own/b:
          - own/d
`

const hooksRoute = "/api/stacks/{org}/{project}/{stack}/hooks"

// TestYAMLDeploymentGraph runs a DeploymentGraph through the CLI's whole lifecycle and
// counts what each phase asks of Pulumi Cloud: writes are the edges that changed.
func TestYAMLDeploymentGraph(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c", "d", "e")
	w := newProgramWorkspace(t, graphProgram, c)
	phase := func(name string, args ...string) (string, int, int, map[string]int) {
		t.Helper()
		c.ResetStats()
		out := w.pulumi(args...)
		s := c.Stats()
		t.Logf("%-16s requests=%d writes=%d %v", name, s.Total, s.Writes, s.ByRoute)
		return out, s.Total, s.Writes, s.ByRoute
	}

	// Each new edge is marked on its target, written pending, then put in place: two POSTs and
	// a PATCH.
	_, _, writes, routes := phase("create", "up", "--yes")
	assert.Equal(t, 3*3, writes)
	assert.Equal(t, 2*3, routes["POST "+hooksRoute])
	assert.ElementsMatch(t, []string{"a → own/b", "a → own/c", "b → own/d"}, keys(edgeOwners(c)))
	assertDeploysOnce(t, c, "a", "b", "c", "d")

	_, total, _, _ := phase("no-op", "up", "--yes", "--expect-no-changes")
	assert.Zero(t, total, "a no-op up sends no request")

	// One edge added, named in the diff: its mark's POST, its POST and its PATCH.
	w.edit("        own/b:\n", "        own/c:\n          - own/e\n        own/b:\n")
	out, _, _, _ := phase("preview-add", "preview", "--diff")
	assert.Contains(t, out, `+ own/c: [`)
	assert.Contains(t, out, `"own/e"`)
	_, _, writes, routes = phase("add-one-edge", "up", "--yes", "--skip-preview")
	assert.Equal(t, 3, writes)
	assert.Equal(t, 2, routes["POST "+hooksRoute])

	// One edge removed: the diff names it, one DELETE, and one for its mark.
	w.edit("          - own/c\n          - own/b\n", "          - own/b\n")
	out, _, _, _ = phase("preview-remove", "preview", "--diff")
	assert.Contains(t, out, `- [0]: "own/c"`, "at its place in the list as written")
	assert.NotContains(t, out, `"own/b" =>`)
	_, _, writes, routes = phase("remove-one-edge", "up", "--yes", "--skip-preview")
	assert.Equal(t, 2, writes)
	assert.Equal(t, 2, routes["DELETE "+hooksRoute+"/{name}"])
	assert.ElementsMatch(t, []string{"a → own/b", "b → own/d", "c → own/e"}, keys(edgeOwners(c)))

	// Deleted behind Pulumi's back: refresh reads each upstream stack once and says why it
	// dropped; the next up restores it with one POST (and its PATCH), its mark still there (a
	// POST that finds it).
	for _, h := range withoutMarks(c.Webhooks()) {
		if h.Stack == "b" {
			c.api(t, http.MethodDelete, "/api/stacks/org/own/b/hooks/"+h.Name, nil, http.StatusNoContent)
		}
	}
	refreshed := time.Now()
	out, _, writes, routes = phase("refresh", "refresh", "--yes", "--skip-preview")
	assert.Zero(t, writes)
	assertListedOnce(t, c, refreshed)
	assert.Equal(t, 4, routes["GET "+hooksRoute], "one list per stack of the graph (a, b, c, d): the upstream "+
		"stacks, and below them for the check for loops")
	assert.Contains(t, out, "the deployment webhook org/own/b → own/d is no longer in place: it was deleted")
	_, _, writes, routes = phase("restore", "up", "--yes", "--skip-preview")
	assert.Equal(t, 3, writes)
	assert.Equal(t, 2, routes["POST "+hooksRoute])
	assertDeploysOnce(t, c, "a", "b", "d")

	// State lost: import by organization adopts the graph's own edges, and the program then
	// has nothing to change.
	urn := "urn:pulumi:test::graph::auto-deploy:index:DeploymentGraph::g"
	w.pulumi("state", "delete", urn, "--yes")
	_, _, writes, _ = phase("import", "import", "auto-deploy:index:DeploymentGraph", "g", "org", "--yes",
		"--protect=false", "--generate-code=false")
	assert.Zero(t, writes)
	_, _, writes, _ = phase("after-import", "up", "--yes", "--expect-no-changes")
	assert.Zero(t, writes)

	// An AutoDeployer declaring one of the graph's edges is refused in preview, naming the graph.
	w.edit("resources:\n", `resources:
  a:
    type: auto-deploy:AutoDeployer
    properties:
      organization: org
      project: own
      stack: a
      downstreamRefs: [own/b]
`)
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, "the edge own/a → own/b already exists in Pulumi Cloud and is owned by "+urn)
	w.edit("      downstreamRefs: [own/b]\n", "      downstreamRefs: []\n")

	_, _, writes, _ = phase("destroy", "destroy", "--yes", "--skip-preview")
	assert.Equal(t, 2*3, writes, "each edge and its mark")
	assert.Empty(t, c.Webhooks())
}

// TestYAMLDeploymentGraphRefusals: bad keys and loops fail preview and write nothing, and
// the placeholder organization of a non-Cloud backend is refused with the way out.
func TestYAMLDeploymentGraphRefusals(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b")
	for _, tc := range []struct{ name, edges, want string }{
		{"bad key", "        nope:\n          - own/b\n", `edges["nope"] "nope" is not a stack reference`},
		{"self edge", "        own/a:\n          - own/a\n", `edges["own/a"][0] "own/a" is its own upstream`},
		{"loop", "        own/a:\n          - own/b\n        own/b:\n          - own/a\n",
			"would create a deployment cycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newProgramWorkspace(t, "name: refusals\nruntime: yaml\nresources:\n  g:\n"+
				"    type: auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n"+
				tc.edges, c)
			out, err := w.run("preview")
			require.Error(t, err)
			assert.Contains(t, out, tc.want)
			assert.Empty(t, c.Webhooks())
		})
	}

	// ${pulumi.organization} on a file backend is the placeholder "organization".
	w := newProgramWorkspace(t, "name: placeholder\nruntime: yaml\nresources:\n  g:\n"+
		"    type: auto-deploy:DeploymentGraph\n    properties:\n      organization: ${pulumi.organization}\n"+
		"      edges:\n        own/a:\n          - own/b\n", c)
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, `organization "organization" is the placeholder that a backend without Pulumi Cloud`)
}

// graphExampleStacks creates the stacks the deployment-graph examples point at, in org.
func graphExampleStacks(t *testing.T, c *cloud, org string) {
	t.Helper()
	for _, project := range []string{"network", "database", "cache", "app", "web"} {
		require.NoError(t, c.CreateStack(org, project, "prod"))
		require.NoError(t, c.SetDeploymentSettings(org, project, "prod", map[string]any{"source": "git"}))
	}
	// web's program reads app's outputs: the examples' fromStackReferences derives app → web.
	require.NoError(t, c.AddStackReference(org, "web", "prod", "app", "prod"))
}

// assertGraphExample checks what every language's deployment-graph example leaves: the three
// declared edges and the one derived from web's StackReference, and an update of network
// deploying database, cache, app and web once each.
func assertGraphExample(t *testing.T, c *cloud, org string) {
	t.Helper()
	got := map[string]bool{}
	for _, h := range withoutMarks(c.Webhooks()) {
		assert.Equal(t, org, h.Org)
		got[h.Project+"/"+h.Stack+" → "+h.PayloadURL] = true
	}
	assert.Equal(t, map[string]bool{"network/prod → database/prod": true, "network/prod → cache/prod": true,
		"database/prod → app/prod": true, "app/prod → web/prod": true}, got)
	result, err := c.FireUpdate(org, "network", "prod")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"database/prod", "cache/prod", "app/prod", "web/prod"}, deployedStacks(result))
	assert.Empty(t, result.FailedDeliveries)
}

// TestYAMLDeploymentGraphExample runs examples/yaml/deployment-graph, whose organization is
// ${pulumi.organization}: on this file backend the placeholder, which auto-deploy:organization
// replaces.
func TestYAMLDeploymentGraphExample(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	graphExampleStacks(t, c, "acme")
	w := newWorkspace(t, "yaml/deployment-graph", c)
	w.pulumi("config", "set", "auto-deploy:organization", "acme")
	out := w.pulumi("up", "--yes")
	assert.Contains(t, out, "edgeCount: 4")
	assertGraphExample(t, c, "acme")
	// A no-op writes nothing. fromStackReferences lists the selected stacks at every run,
	// preview and update alike (one list per selected project), and reads the stacks updated
	// since it last read them (whether an update runs, then their references): all five, which
	// the update of network just above deployed. A no-op does not write the state, so both the
	// preview and the update do.
	c.ResetStats()
	w.pulumi("up", "--yes", "--expect-no-changes")
	stats := c.Stats()
	assert.Zero(t, stats.Writes)
	assert.Equal(t, map[string]int{"GET /api/user/stacks": 2 * 5, "GET /api/stacks/{org}/{project}/{stack}": 2 * 5,
		"GET /api/stacks/{org}/{project}/{stack}/upstreamreferences": 2 * 5}, stats.ByRoute)
	w.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}

// alwaysDeployStacks creates the stacks the always-deploy examples point at, in org.
func alwaysDeployStacks(t *testing.T, c *cloud, org string) {
	t.Helper()
	for _, project := range []string{"network", "app", "cache"} {
		require.NoError(t, c.CreateStack(org, project, "prod"))
		require.NoError(t, c.SetDeploymentSettings(org, project, "prod", map[string]any{"source": "git"}))
	}
}

// relayPayloads maps each webhook "source → payload URL" of org, checking each is a signed
// raw webhook on update_succeeded, as every relay edge is.
func relayPayloads(t *testing.T, c *cloud, org string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range withoutMarks(c.Webhooks()) {
		assert.Equal(t, org, h.Org)
		assert.Equal(t, "raw", h.Format, h.Name)
		assert.True(t, h.HasSecret && h.Active, h.Name)
		assert.Equal(t, []string{"update_succeeded"}, h.Filters, h.Name)
		out[h.Project+"/"+h.Stack+" → "+h.PayloadURL] = h.Name
	}
	return out
}

// assertAlwaysDeployExample checks what every language's always-deploy example leaves: two
// relay edges out of network, the one into app carrying alwaysDeploy, the other not.
func assertAlwaysDeployExample(t *testing.T, c *cloud, org string) {
	t.Helper()
	assert.ElementsMatch(t, []string{
		"network/prod → " + exampleRelayURL + "/v1/hooks?target=app%2Fprod&alwaysDeploy=true",
		"network/prod → " + exampleRelayURL + "/v1/hooks?target=cache%2Fprod",
	}, slices.Collect(maps.Keys(relayPayloads(t, c, org))))
}

// TestYAMLAlwaysDeployExample runs examples/yaml/always-deploy through the CLI: the relay edge
// into app carries alwaysDeploy; taking app out of alwaysDeploy, and putting it back, each
// rewrite that one webhook in place (one PATCH, nothing created or deleted), as preview says.
func TestYAMLAlwaysDeployExample(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	alwaysDeployStacks(t, c, "acme")
	w := newWorkspace(t, "yaml/always-deploy", c)
	w.pulumi("config", "set", "auto-deploy:organization", "acme")
	w.pulumi("config", "set", "relayUrl", exampleRelayURL)
	w.pulumi("config", "set", "--secret", "relaySecret", "example-relay-secret")
	assert.Contains(t, w.pulumi("up", "--yes"), "edgeCount: 2")
	assertAlwaysDeployExample(t, c, "acme")

	const listed = "      alwaysDeploy:\n        - app/prod\n"
	program := w.shared().ReadProgram()
	require.Contains(t, program, listed)
	for _, step := range []struct {
		program, diff string
		payloads      []string
	}{
		{strings.Replace(program, listed, "", 1), "- alwaysDeploy", []string{
			"network/prod → " + exampleRelayURL + "/v1/hooks?target=app%2Fprod",
			"network/prod → " + exampleRelayURL + "/v1/hooks?target=cache%2Fprod",
		}},
		{program, "+ alwaysDeploy", []string{
			"network/prod → " + exampleRelayURL + "/v1/hooks?target=app%2Fprod&alwaysDeploy=true",
			"network/prod → " + exampleRelayURL + "/v1/hooks?target=cache%2Fprod",
		}},
	} {
		w.shared().WriteProgram(step.program)
		assert.Contains(t, w.pulumi("preview", "--diff"), step.diff)
		c.ResetStats()
		w.pulumi("up", "--yes", "--skip-preview")
		stats := c.Stats()
		assert.Equal(t, map[string]int{"PATCH": 1}, map[string]int{"PATCH": stats.ByMethod[http.MethodPatch]})
		assert.Equal(t, 1, stats.Writes, "one webhook rewritten in place: %v", stats.ByRoute)
		assert.ElementsMatch(t, step.payloads, slices.Collect(maps.Keys(relayPayloads(t, c, "acme"))))
	}
	w.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}
