//go:build e2e

package examples

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// State upgrades: a stack last written by an older release of the plugin must carry on
// under the current one with nothing replaced, created or deleted, and not one write to
// Pulumi Cloud. Each shape under testdata/upgrade was recorded by running its program
// with the plugin built at the commit named below, against that commit's emulator; its
// README says how. The test recreates the webhooks that release made, exactly as it named
// and described them, imports the recorded state and runs today's plugin over it.

// upgradeShape is one recorded state shape and the commit whose plugin wrote it.
type upgradeShape struct {
	dir    string // under testdata/upgrade
	commit string
}

var upgradeShapes = []upgradeShape{
	// v0.1.0 as first released: the first commit with `make dist` and VERSION fixed at
	// 0.1.0. Refs are stored in program order, webhooks carry no owner, and a Webhook
	// resource's name is 8 bare hex digits.
	{dir: "v0.1.0", commit: "87cfa79"},
	// The last commit before AutoDeployer state gained `owner`: refs stored sorted, no
	// owner in state or in the webhooks' display names.
	{dir: "pre-owner", commit: "355fd47"},
	// `owner` in state and in display names, before DeploymentGraph and `paused`.
	{dir: "owner", commit: "f2bad8c"},
	// Today's shape: `paused` in state, and a DeploymentGraph.
	{dir: "graph", commit: "e6b89a5"},
}

// upgradeURLPlaceholder stands for the emulator's URL in the recorded state: the
// provider's apiUrl input and output.
const upgradeURLPlaceholder = "{{EMULATOR_URL}}"

// upgradeStacks are the stacks of organization "org", project "upgrade" the recorded
// programs use.
var upgradeStacks = []string{"a", "b", "c", "d", "e", "f", "g", "h"}

// upgradeWebhook is one webhook as the older release left it in Pulumi Cloud, in the
// shape of the create request that recreates it; secret is the test value the recorded
// program set.
type upgradeWebhook struct {
	OrganizationName string   `json:"organizationName"`
	ProjectName      string   `json:"projectName"`
	StackName        string   `json:"stackName"`
	Name             string   `json:"name"`
	DisplayName      string   `json:"displayName"`
	PayloadURL       string   `json:"payloadUrl"`
	Active           bool     `json:"active"`
	Format           string   `json:"format"`
	Filters          []string `json:"filters"`
	Secret           string   `json:"secret,omitempty"`
}

// TestStateUpgrade imports each recorded state shape and runs preview, up and refresh with
// the current plugin (the only one there is: bin/ is first on PATH and the Pulumi home is
// new), then checks that an update upstream still deploys each downstream stack once.
func TestStateUpgrade(t *testing.T) {
	t.Parallel()
	for _, shape := range upgradeShapes {
		t.Run(shape.dir, func(t *testing.T) {
			t.Parallel()
			t.Logf("state written by the plugin of commit %s", shape.commit)
			testStateUpgrade(t, filepath.Join("testdata", "upgrade", shape.dir))
		})
	}
}

func testStateUpgrade(t *testing.T, dir string) {
	c := startCloud(t)
	c.SeedDeployable(t, "org", "upgrade", upgradeStacks...)
	var recorded []upgradeWebhook
	readJSON(t, filepath.Join(dir, "webhooks.json"), &recorded)
	require.NotEmpty(t, recorded)
	for _, h := range recorded {
		c.api(t, http.MethodPost, "/api/stacks/"+h.OrganizationName+"/"+h.ProjectName+"/"+h.StackName+"/hooks",
			h, http.StatusCreated)
	}
	require.ElementsMatch(t, recorded, liveUpgradeWebhooks(c), "the webhooks recreated")

	program, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	require.NoError(t, err)
	w := newProgramWorkspace(t, string(program), c)
	importUpgradeState(t, w, filepath.Join(dir, "state.json"), c.URL)
	wantEdges := upgradeStateEdges(t, w)
	require.Equal(t, []string{"upgrade/b", "upgrade/c"}, wantEdges["a"], "a's refs in the imported state")

	// preview and up: nothing to replace, create or delete, and no write to Pulumi Cloud.
	c.ResetStats()
	preview := w.pulumi("preview", "--diff")
	t.Logf("preview --diff:\n%s", preview)
	assertNoUpgradeChange(t, "preview", preview)
	assertNoUpgradeWrites(t, c, "preview")

	c.ResetStats()
	up := w.pulumi("up", "--yes")
	t.Logf("up:\n%s", up)
	assertNoUpgradeChange(t, "up", up)
	assertNoUpgradeWrites(t, c, "up")
	assert.ElementsMatch(t, recorded, liveUpgradeWebhooks(c), "webhooks after up")
	assert.Equal(t, wantEdges, upgradeStateEdges(t, w), "edges in state after up")

	// refresh: every webhook still this stack's, in Cloud and in state, and the next up
	// has nothing to do.
	c.ResetStats()
	refresh := w.pulumi("refresh", "--yes")
	t.Logf("refresh:\n%s", refresh)
	assertNoUpgradeChange(t, "refresh", refresh)
	assertNoUpgradeWrites(t, c, "refresh")
	assert.NotContains(t, refresh, "no longer in place", "refresh dropped an edge from state")
	assert.ElementsMatch(t, recorded, liveUpgradeWebhooks(c), "webhooks after refresh")
	assert.Equal(t, wantEdges, upgradeStateEdges(t, w), "edges in state after refresh")

	c.ResetStats()
	again, err := w.run("up", "--yes", "--expect-no-changes")
	assert.NoError(t, err, "up after refresh found changes:\n%s", again)
	assertNoUpgradeWrites(t, c, "up after refresh")
	assert.ElementsMatch(t, recorded, liveUpgradeWebhooks(c), "webhooks after the up that follows refresh")

	// An update of each source stack deploys what the recorded webhooks say, each once.
	cfgAssertDeploysOnce(t, c, "org", "upgrade", "a", "upgrade/b", "upgrade/c", "upgrade/d", "upgrade/e")
	if slices.ContainsFunc(recorded, func(h upgradeWebhook) bool { return h.StackName == "f" }) {
		cfgAssertDeploysOnce(t, c, "org", "upgrade", "f", "upgrade/g", "upgrade/h")
	}
}

// importUpgradeState imports the recorded state into w's stack, pointing the provider at url.
func importUpgradeState(t *testing.T, w *workspace, fixture, url string) {
	t.Helper()
	data, err := os.ReadFile(fixture)
	require.NoError(t, err)
	require.Contains(t, string(data), upgradeURLPlaceholder)
	file := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(file, []byte(strings.ReplaceAll(string(data), upgradeURLPlaceholder, url)), 0o600))
	w.pulumi("stack", "import", "--file", file)
}

// upgradeStep matches the words the engine prints for a step that changes a resource's
// existence, in its plan, progress and summary ("2 to create", "1 replaced", "replace").
var upgradeStep = regexp.MustCompile(`(?i)\b(to create|to delete|to replace|created|deleted|replaced|replace)\b`)

func assertNoUpgradeChange(t *testing.T, phase, out string) {
	t.Helper()
	assert.Empty(t, upgradeStep.FindAllString(out, -1), "%s plans or makes a create, delete or replacement", phase)
}

func assertNoUpgradeWrites(t *testing.T, c *cloud, phase string) {
	t.Helper()
	stats := c.Stats()
	t.Logf("%s: requests=%d writes=%d %v", phase, stats.Total, stats.Writes, stats.ByRoute)
	for _, method := range []string{http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		assert.Zero(t, stats.ByMethod[method], "%s: %s requests: %v", phase, method, stats.ByRoute)
	}
	assert.Zero(t, stats.Writes, "%s: writes: %v", phase, stats.ByRoute)
}

// liveUpgradeWebhooks is every webhook in the emulator, secret included, in the fixture's shape.
func liveUpgradeWebhooks(c *cloud) []upgradeWebhook {
	var out []upgradeWebhook
	for _, h := range withoutMarks(c.Webhooks()) {
		out = append(out, upgradeWebhook{OrganizationName: h.Org, ProjectName: h.Project, StackName: h.Stack,
			Name: h.Name, DisplayName: h.DisplayName, PayloadURL: h.PayloadURL, Active: h.Active, Format: h.Format,
			Filters: h.Filters, Secret: h.Secret})
	}
	return out
}

// upgradeStateEdges is what the stack's state says each resource keeps in Pulumi Cloud:
// an AutoDeployer's refs (as a set, sorted), a DeploymentGraph's edges, a Webhook's name.
func upgradeStateEdges(t *testing.T, w *workspace) map[string]any {
	t.Helper()
	var state struct {
		Deployment struct {
			Resources []struct {
				URN     string         `json:"urn"`
				Type    string         `json:"type"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	out := w.pulumi("stack", "export")
	require.NoError(t, json.Unmarshal([]byte(out), &state), "stack export:\n%s", out)
	edges := map[string]any{}
	for _, r := range state.Deployment.Resources {
		name := r.URN[strings.LastIndex(r.URN, "::")+2:]
		switch r.Type {
		case autoDeployerType:
			var refs []string
			for _, ref := range r.Outputs["downstreamRefs"].([]any) {
				refs = append(refs, ref.(string))
			}
			slices.Sort(refs)
			edges[name] = refs
		case "auto-deploy:index:DeploymentGraph":
			// The edges in place: in edges before effectiveEdges existed, in effectiveEdges after.
			inPlace, ok := r.Outputs["effectiveEdges"].(map[string]any)
			if !ok {
				inPlace, _ = r.Outputs["edges"].(map[string]any)
			}
			graph := map[string][]string{}
			for upstream, refs := range inPlace {
				for _, ref := range refs.([]any) {
					graph[upstream] = append(graph[upstream], ref.(string))
				}
				slices.Sort(graph[upstream])
			}
			edges[name] = graph
		case "auto-deploy:index:Webhook":
			edges[name] = r.Outputs["name"]
		}
	}
	return edges
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v), "%s", file)
}
