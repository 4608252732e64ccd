//go:build e2e

package examples

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// networkGraphCloud is an emulator holding the relay graph the cascade-plan examples plan a change of
// network/prod over, in organization configuredOrg:
//
//	network/prod → database/prod → app/prod → web/prod
//	network/prod → cache/prod    → app/prod
//	network/prod → dns/prod (alwaysDeploy)
func networkGraphCloud(t *testing.T) *cloud {
	t.Helper()
	c := startCloud(t)
	for _, project := range []string{"network", "database", "cache", "dns", "app", "web"} {
		c.SeedDeployable(t, configuredOrg, project, "prod")
	}
	c.RelayEdges(t, configuredOrg, "https://relay.example.com", "",
		"network/prod>database/prod", "network/prod>cache/prod", "network/prod>dns/prod!",
		"database/prod>app/prod", "cache/prod>app/prod", "app/prod>web/prod")
	return c
}

// assertNetworkPlan checks the plan of a change of network/prod, as a program's outputs: no stack
// has a deployment history, so each is estimated at the 60 s default.
func assertNetworkPlan(t *testing.T, outputs map[string]json.RawMessage) {
	t.Helper()
	assert.JSONEq(t, `[["cache/prod", "database/prod", "dns/prod"], ["app/prod"], ["web/prod"]]`,
		string(outputs["waves"]))
	assert.JSONEq(t, `["cache/prod", "app/prod", "web/prod"]`, string(outputs["criticalPath"]))
	assert.JSONEq(t, `180`, string(outputs["estimatedSeconds"]))
	assert.JSONEq(t, `["cache/prod", "database/prod", "app/prod", "web/prod"]`,
		string(outputs["skippedIfUnchanged"]))
}

// TestYAMLGetCascadePlan runs examples/yaml/cascade-plan through the CLI and the YAML host.
func TestYAMLGetCascadePlan(t *testing.T) {
	t.Parallel()
	c := networkGraphCloud(t)
	w := newWorkspace(t, "yaml/cascade-plan", c)
	w.pulumi("config", "set", "auto-deploy:organization", configuredOrg)
	w.pulumi("up", "--yes")
	var outputs map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(w.pulumi("stack", "output", "--json")), &outputs))
	assertNetworkPlan(t, outputs)

	// A stack that is not project/stack is refused in preview, naming the field.
	w.edit("stack: network/prod", "stack: prod")
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, `stack "prod" is not "project/stack" (for example "network/prod")`)
}

// TestPythonGetCascadePlan runs examples/python/cascade-plan as an Automation API inline program.
func TestPythonGetCascadePlan(t *testing.T) {
	t.Parallel()
	c := networkGraphCloud(t)
	program := newPyProgram(t, pythonVenv(t), "cascade-plan", "cascade-plan", c)
	assertNetworkPlan(t, program.run("up").Outputs)
}
