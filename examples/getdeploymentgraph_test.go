//go:build e2e

package examples

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestYAMLGetDeploymentGraph reads a live graph through fn::invoke in the CLI: an
// AutoDeployer's edges, a hand-made one, an inactive one, a raw webhook, one filtered on
// another event, and two dangling ones (target missing, target without settings).
func TestYAMLGetDeploymentGraph(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c", "d")
	require.NoError(t, c.CreateStack("org", "own", "bare")) // no deployment settings
	w := newProgramWorkspace(t, deployersProgram("live", deployer{name: "a", stack: "a",
		refs: []string{"own/b", "own/c"}}), c)
	w.pulumi("up", "--yes")

	hook := func(stack, name, target, format string, active bool, filters ...string) {
		t.Helper()
		body := map[string]any{"organizationName": "org", "projectName": "own", "stackName": stack, "name": name,
			"displayName": name, "payloadUrl": target, "active": active, "format": format, "filters": filters}
		c.api(t, http.MethodPost, "/api/stacks/org/own/"+stack+"/hooks", body, http.StatusCreated)
	}
	hook("b", "handmade", "own/d", "pulumi_deployments", true, "update_succeeded")
	hook("b", "sleeping", "own/a", "pulumi_deployments", false, "update_succeeded")
	hook("c", "notify", "https://hooks.example.com/x", "raw", true)
	hook("c", "ondestroy", "own/d", "pulumi_deployments", true, "destroy_succeeded")
	hook("d", "togone", "own/gone", "pulumi_deployments", true, "update_succeeded")
	hook("d", "tobare", "own/bare", "pulumi_deployments", true)
	// A failed delivery to read back: an update of d fires the two dangling edges.
	_, err := c.FireUpdate("org", "own", "d")
	require.NoError(t, err)

	reader := newProgramWorkspace(t, `name: reader
runtime: yaml
variables:
  graph:
    fn::invoke:
      function: auto-deploy:index:getDeploymentGraph
      arguments:
        organization: org
        includeDeliveries: true
outputs:
  edges: ${graph.edges}
  mermaid: ${graph.mermaid}
  webhooks: ${graph.webhooks}
`, c)
	reader.pulumi("up", "--yes")
	var out struct {
		Edges    map[string][]string `json:"edges"`
		Mermaid  string              `json:"mermaid"`
		Webhooks []struct {
			Source, Target, Name, ManagedBy, Owner, Reason, Dangling string
			Fires                                                    bool
			Deliveries                                               []struct {
				ResponseCode int  `json:"responseCode"`
				Failed       bool `json:"failed"`
			}
		} `json:"webhooks"`
	}
	require.NoError(t, json.Unmarshal([]byte(reader.pulumi("stack", "output", "--json")), &out))

	assert.Equal(t, map[string][]string{
		"own/a": {"own/b", "own/c"},
		"own/b": {"own/d"},
		"own/d": {"own/bare", "own/gone"},
	}, out.Edges)

	arrows := map[string]bool{}
	for _, line := range strings.Split(out.Mermaid, "\n") {
		if strings.Contains(line, "->") {
			arrows[strings.TrimSpace(line)] = true
		}
	}
	assert.Equal(t, map[string]bool{
		"n0 --> n1": true, "n0 --> n2": true, "n1 --> n3": true,
		"n3 -. target has no deployment settings .-> n4": true,
		"n3 -. target stack does not exist .-> n5":       true,
	}, arrows, out.Mermaid)
	for _, node := range []string{`n0["own/a"]`, `n1["own/b"]`, `n2["own/c"]`, `n3["own/d"]`, `n4["own/bare"]`,
		`n5["own/gone"]`} {
		assert.Contains(t, out.Mermaid, node)
	}
	assert.True(t, strings.HasPrefix(out.Mermaid, "flowchart LR\n"))

	byName := map[string]int{}
	for i, h := range out.Webhooks {
		byName[h.Name] = i
	}
	require.Len(t, out.Webhooks, 8, "every webhook but the marks")
	assert.Len(t, c.Webhooks(), 8+2, "the AutoDeployer's two edges are marked on own/b and own/c")
	for name, want := range map[string]struct{ managedBy, reason, dangling string }{
		"handmade":  {"other", "", ""},
		"sleeping":  {"other", "inactive", ""},
		"notify":    {"other", "format raw does not deploy a stack", ""},
		"ondestroy": {"other", "fires on destroy_succeeded, not on update_succeeded", ""},
		"togone":    {"other", "", "target stack does not exist"},
		"tobare":    {"other", "", "target has no deployment settings"},
	} {
		h := out.Webhooks[byName[name]]
		assert.Equal(t, want.managedBy, h.ManagedBy, name)
		assert.Equal(t, want.reason, h.Reason, name)
		assert.Equal(t, want.dangling, h.Dangling, name)
	}
	for _, h := range out.Webhooks {
		if h.Source == "own/a" {
			assert.Equal(t, "AutoDeployer or DeploymentGraph", h.ManagedBy)
			assert.Equal(t, ownerURN("live", "a"), h.Owner)
		}
	}
	for _, name := range []string{"togone", "tobare"} {
		deliveries := out.Webhooks[byName[name]].Deliveries
		require.NotEmpty(t, deliveries, name)
		assert.True(t, deliveries[0].Failed, "%s: %+v", name, deliveries[0])
	}
}
