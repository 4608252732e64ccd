//go:build e2e

package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// These tests check that the webhooks an auto-deploy resource owns survive what should
// not touch them (provider configuration changes), are not duplicated by what rewrites
// them (a replacement), are never invented (an import of nothing), are named precisely
// in a preview, and that a migration from Pulumi's own auto-deploy package is warned about
// and ends with each edge once. Each checks both the webhooks left in the emulator and
// the deployments an update of the source stack sets off.

// cfgProgram is AutoDeployer a → [b, c] plus a Webhook resource d → e, all in project
// dependency-example of organization "org" (seedGraphStacks(t, c, "org")).
const cfgProgram = `name: cfg-ownership
runtime: yaml
resources:
  a:
    type: auto-deploy:AutoDeployer
    properties:
      organization: org
      project: dependency-example
      stack: a
      downstreamRefs:
        - dependency-example/b
        - dependency-example/c
  deployE:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: dependency-example
      stackName: d
      format: pulumi_deployments
      payloadUrl: dependency-example/e
      active: true
      displayName: deploy-e
      filters:
        - update_succeeded
`

var (
	cfgEdgeName    = regexp.MustCompile(`^autodeploy-[0-9a-f]{16}$`)
	cfgWebhookName = regexp.MustCompile(`^autodeploy-wh-[0-9a-f]{8}$`)
)

// cfgRun runs the CLI like workspace.run, with extra environment variables (later values
// win over the workspace's own, such as its empty PULUMI_ACCESS_TOKEN).
func cfgRun(w *workspace, extraEnv []string, args ...string) (string, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, "pulumi"), append(args, "--non-interactive")...)
	cmd.Dir = w.dir
	cmd.Env = append(append([]string{}, w.env...), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// cfgPulumi is cfgRun that fails the test on a non-zero exit.
func cfgPulumi(w *workspace, extraEnv []string, args ...string) string {
	w.t.Helper()
	out, err := cfgRun(w, extraEnv, args...)
	require.NoError(w.t, err, "pulumi %s failed:\n%s", strings.Join(args, " "), out)
	return out
}

// cfgResource is one resource of `pulumi stack export`.
type cfgResource struct {
	URN    string         `json:"urn"`
	Type   string         `json:"type"`
	ID     string         `json:"id"`
	Inputs map[string]any `json:"inputs"`
}

func cfgExport(w *workspace, extraEnv []string) []cfgResource {
	w.t.Helper()
	var state struct {
		Deployment struct {
			Resources []cfgResource `json:"resources"`
		} `json:"deployment"`
	}
	out := cfgPulumi(w, extraEnv, "stack", "export")
	require.NoError(w.t, json.Unmarshal([]byte(out), &state), "stack export:\n%s", out)
	return state.Deployment.Resources
}

// cfgURN is the URN of the resource of type typ named name in the stack's state.
func cfgURN(w *workspace, typ, name string) string {
	w.t.Helper()
	for _, r := range cfgExport(w, nil) {
		if r.Type == typ && strings.HasSuffix(r.URN, "::"+name) {
			return r.URN
		}
	}
	require.FailNow(w.t, "no such resource in state", "%s %s", typ, name)
	return ""
}

// cfgProvider is the one auto-deploy provider resource in the stack's state.
func cfgProvider(w *workspace) cfgResource {
	w.t.Helper()
	var found []cfgResource
	for _, r := range cfgExport(w, nil) {
		if r.Type == "pulumi:providers:auto-deploy" {
			found = append(found, r)
		}
	}
	require.Len(w.t, found, 1, "auto-deploy providers in state")
	return found[0]
}

// cfgEdge is what the tests expect of one deployment webhook: source stack → ref, and
// the URN of the AutoDeployer recorded as its owner ("" for a Webhook resource's).
type cfgEdge struct {
	source, ref, owner, displayName string
}

// cfgSnapshot maps "source → ref" to the name of the webhook that makes the edge,
// failing on an edge made twice.
func cfgSnapshot(t *testing.T, c *cloud) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range withoutMarks(c.Webhooks()) {
		key := h.Project + "/" + h.Stack + " → " + h.PayloadURL
		require.NotContains(t, out, key, "edge %s made twice: %+v", key, withoutMarks(c.Webhooks()))
		out[key] = h.Name
	}
	return out
}

// cfgAssertEdges checks that c holds exactly want, each edge once, as a pulumi_deployments
// webhook on update_succeeded; AutoDeployer edges named autodeploy-<16 hex> and recording
// their owner, Webhook-resource edges named autodeploy-wh-<8 hex>. It returns the snapshot.
func cfgAssertEdges(t *testing.T, c *cloud, want []cfgEdge) map[string]string {
	t.Helper()
	snap := cfgSnapshot(t, c)
	wantKeys := map[string]cfgEdge{}
	for _, e := range want {
		wantKeys[e.source+" → "+e.ref] = e
	}
	var got, exp []string
	for k := range snap {
		got = append(got, k)
	}
	for k := range wantKeys {
		exp = append(exp, k)
	}
	sort.Strings(got)
	sort.Strings(exp)
	require.Equal(t, exp, got, "edges in the emulator")
	for _, h := range withoutMarks(c.Webhooks()) {
		e := wantKeys[h.Project+"/"+h.Stack+" → "+h.PayloadURL]
		assert.Equal(t, "pulumi_deployments", h.Format, "%+v", h)
		assert.Equal(t, []string{"update_succeeded"}, h.Filters, "%+v", h)
		assert.True(t, h.Active, "%+v", h)
		if e.owner != "" {
			assert.Regexp(t, cfgEdgeName, h.Name, "%+v", h)
			assert.Equal(t, "auto-deploy: "+e.ref+" (owner: "+e.owner+")", h.DisplayName, "%+v", h)
		} else {
			assert.Regexp(t, cfgWebhookName, h.Name, "%+v", h)
			assert.Equal(t, e.displayName, h.DisplayName, "%+v", h)
		}
	}
	return snap
}

// cfgAssertDeploysOnce fires an update of org/project/stack and checks that it deploys
// exactly the stacks want (as project/stack), each once, with no failed delivery.
func cfgAssertDeploysOnce(t *testing.T, c *cloud, org, project, stack string, want ...string) {
	t.Helper()
	result, err := c.FireUpdate(org, project, stack)
	require.NoError(t, err)
	deployed := deployedStacks(result)
	counts := map[string]int{}
	for _, s := range deployed {
		counts[s]++
	}
	for s, n := range counts {
		assert.Equal(t, 1, n, "update of %s/%s deployed %s %d times: %v", project, stack, s, n, deployed)
	}
	assert.ElementsMatch(t, want, deployed, "update of %s/%s", project, stack)
	assert.Empty(t, result.FailedDeliveries, "update of %s/%s", project, stack)
	assert.False(t, result.Truncated)
}

// cfgEdges is the expected edges of cfgProgram, a owned by ownerA.
func cfgEdges(ownerA string) []cfgEdge {
	return []cfgEdge{
		{source: "dependency-example/a", ref: "dependency-example/b", owner: ownerA},
		{source: "dependency-example/a", ref: "dependency-example/c", owner: ownerA},
		{source: "dependency-example/d", ref: "dependency-example/e", displayName: "deploy-e"},
	}
}

func cfgAssertProgramDeploys(t *testing.T, c *cloud) {
	t.Helper()
	cfgAssertDeploysOnce(t, c, "org", graphProject, "a", graphProject+"/b", graphProject+"/c")
	cfgAssertDeploysOnce(t, c, "org", graphProject, "d", graphProject+"/e")
}

// TestConfigChangeKeepsEdges changes the provider configuration in ways that reach the
// same Pulumi Cloud: nothing may be replaced, and no webhook deleted, created or renamed.
// The token is moved (config → environment → config) and rotated to another valid one,
// and the API URL is spelled another way.
func TestConfigChangeKeepsEdges(t *testing.T) {
	t.Parallel()
	const rotatedToken = "pul-e2e-rotated-token"
	c := startCloudWith(t, emulator.Options{Token: testToken, MoreTokens: []string{rotatedToken}})
	seedGraphStacks(t, c, "org")
	w := newProgramWorkspace(t, cfgProgram, c)

	w.pulumi("up", "--yes")
	ownerA := cfgURN(w, autoDeployerType, "a")
	before := cfgAssertEdges(t, c, cfgEdges(ownerA))
	cfgAssertProgramDeploys(t, c)

	envToken := []string{"PULUMI_ACCESS_TOKEN=" + testToken}
	provider := cfgProvider(w)
	// The CLI does not display default providers, so whether the change reached the
	// provider, as an update and not a replacement, is read from state: same URN and ID,
	// new inputs.
	step := func(name string, env []string, change func(), changed func(inputs map[string]any) bool) {
		t.Helper()
		change()
		preview := cfgPulumi(w, env, "preview", "--diff")
		t.Logf("%s: preview --diff:\n%s", name, preview)
		assert.NotContains(t, strings.ToLower(preview), "replace", "%s: preview plans a replacement", name)

		c.ResetStats()
		up := cfgPulumi(w, env, "up", "--yes")
		stats := c.Stats()
		t.Logf("%s: up requests=%d writes=%d %v", name, stats.Total, stats.Writes, stats.ByRoute)
		assert.NotContains(t, strings.ToLower(up), "replace", "%s: up replaced something:\n%s", name, up)
		assert.Zero(t, stats.ByMethod[http.MethodDelete], "%s: DELETE requests: %v", name, stats.ByRoute)
		assert.Zero(t, stats.ByMethod[http.MethodPost], "%s: POST requests: %v", name, stats.ByRoute)
		assert.Zero(t, stats.Writes, "%s: writes: %v", name, stats.ByRoute)

		now := cfgProvider(w)
		assert.Equal(t, provider.URN, now.URN, "%s: provider", name)
		assert.Equal(t, provider.ID, now.ID, "%s: the provider was replaced", name)
		assert.True(t, changed(now.Inputs), "%s: the provider's inputs in state do not show the change: %v",
			name, now.Inputs)

		after := cfgAssertEdges(t, c, cfgEdges(ownerA))
		assert.Equal(t, before, after, "%s: webhook names changed", name)
		cfgAssertProgramDeploys(t, c)
		// And the next run is a no-op.
		cfgPulumi(w, env, "up", "--yes", "--expect-no-changes")
	}

	// (a) The token leaves stack config for PULUMI_ACCESS_TOKEN.
	step("token config → env", envToken, func() {
		w.pulumi("config", "rm", "auto-deploy:accessToken")
	}, func(in map[string]any) bool { _, ok := in["accessToken"]; return !ok })
	// (b) Another spelling of the same API URL.
	localhost := strings.Replace(c.URL, "127.0.0.1", "localhost", 1)
	require.NotEqual(t, c.URL, localhost)
	step("apiUrl 127.0.0.1 → localhost", envToken, func() {
		w.pulumi("config", "set", "auto-deploy:apiUrl", localhost)
	}, func(in map[string]any) bool { return in["apiUrl"] == localhost })
	// (c) The token goes back into stack config.
	step("token env → config", nil, func() {
		w.pulumi("config", "set", "--secret", "auto-deploy:accessToken", testToken)
	}, func(in map[string]any) bool { _, ok := in["accessToken"]; return ok })
	// (d) A new token value.
	step("token rotated", nil, func() {
		w.pulumi("config", "set", "--secret", "auto-deploy:accessToken", rotatedToken)
	}, func(in map[string]any) bool { _, ok := in["accessToken"]; return ok })
}

const autoDeployerType = "auto-deploy:index:AutoDeployer"

// TestReplaceDoesNotCollide replaces AutoDeployer a with `pulumi up --replace`: old and new
// own webhooks of the same names, and each edge must be left once.
func TestReplaceDoesNotCollide(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	seedGraphStacks(t, c, "org")
	w := newProgramWorkspace(t, cfgProgram, c)

	w.pulumi("up", "--yes")
	ownerA := cfgURN(w, autoDeployerType, "a")
	before := cfgAssertEdges(t, c, cfgEdges(ownerA))

	c.ResetStats()
	out := w.pulumi("up", "--yes", "--replace", ownerA)
	stats := c.Stats()
	t.Logf("replace: requests=%d writes=%d %v\n%s", stats.Total, stats.Writes, stats.ByRoute, out)
	assert.Contains(t, out, "1 replaced", "the AutoDeployer was not replaced")
	// `--replace` is create-before-delete whatever the provider asks: the replacement (same
	// URN, so same owner) adopts the original's webhooks under their names, and deleting the
	// original must leave them. Not one webhook is deleted.
	assert.Zero(t, stats.ByMethod[http.MethodDelete], "DELETE requests: %v", stats.ByRoute)

	assert.Equal(t, ownerA, cfgURN(w, autoDeployerType, "a"))
	after := cfgAssertEdges(t, c, cfgEdges(ownerA))
	assert.Equal(t, before, after, "webhook names changed")
	cfgAssertProgramDeploys(t, c)
	w.pulumi("up", "--yes", "--expect-no-changes")
}

// TestImportMissing imports a webhook and an AutoDeployer that do not exist: both fail
// with "not found" and leave nothing of their type in state.
func TestImportMissing(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	require.NoError(t, c.CreateStack("org", "graph", "a"))
	require.NoError(t, c.SetDeploymentSettings("org", "graph", "a", map[string]any{"source": "git"}))
	w := newProgramWorkspace(t, "name: cfg-import\nruntime: yaml\n", c)

	for _, tc := range []struct{ typ, name, id string }{
		{"auto-deploy:index:Webhook", "x", "org/graph/a/nope"},    // the stack exists, the webhook not
		{"auto-deploy:index:Webhook", "x", "org/graph/nope/nope"}, // neither exists
		{autoDeployerType, "y", "org/graph/nope"},                 // the stack does not exist
	} {
		c.ResetStats()
		out, err := w.run("import", tc.typ, tc.name, tc.id, "--yes", "--generate-code=false")
		require.Error(t, err, "import %s %s succeeded:\n%s", tc.typ, tc.id, out)
		t.Logf("import %s %s:\n%s", tc.typ, tc.id, out)
		assert.Contains(t, out, "not found", "import %s %s", tc.typ, tc.id)
		assert.Zero(t, c.Stats().Writes, "import %s %s wrote: %v", tc.typ, tc.id, c.Stats().ByRoute)
		for _, r := range cfgExport(w, nil) {
			assert.NotEqual(t, tc.typ, r.Type, "import %s %s left %s in state", tc.typ, tc.id, r.URN)
		}
	}
	assert.Empty(t, c.Webhooks())
}

// cfgRefsProgram is AutoDeployer r on org/r/a with the given downstream refs.
func cfgRefsProgram(refs ...string) string {
	var b strings.Builder
	b.WriteString("name: cfg-refs\nruntime: yaml\nresources:\n  r:\n    type: auto-deploy:AutoDeployer\n" +
		"    properties:\n      organization: org\n      project: r\n      stack: a\n      downstreamRefs:\n")
	for _, ref := range refs {
		fmt.Fprintf(&b, "        - %s\n", ref)
	}
	return b.String()
}

// cfgRefsDiff is the lines of a `preview --diff` that show downstreamRefs elements.
func cfgRefsDiff(out string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if regexp.MustCompile(`^\s*[-+~]\s*\[\d+\]:`).MatchString(line) || strings.Contains(line, "=>") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

// TestPreviewDiffNamesTheEdge checks that preview names the ref removed or added, not
// every later element shifted by one.
func TestPreviewDiffNamesTheEdge(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		require.NoError(t, c.CreateStack("org", "r", s))
		require.NoError(t, c.SetDeploymentSettings("org", "r", s, map[string]any{"source": "git"}))
	}
	w := newProgramWorkspace(t, cfgRefsProgram("r/b", "r/c", "r/d", "r/e", "r/f"), c)
	w.pulumi("up", "--yes")
	owner := cfgURN(w, autoDeployerType, "r")
	edgesTo := func(refs ...string) []cfgEdge {
		var out []cfgEdge
		for _, ref := range refs {
			out = append(out, cfgEdge{source: "r/a", ref: ref, owner: owner})
		}
		return out
	}
	before := cfgAssertEdges(t, c, edgesTo("r/b", "r/c", "r/d", "r/e", "r/f"))

	// Remove r/d: one element removed, at its index; nothing shifts.
	w.edit("        - r/d\n", "")
	preview := w.pulumi("preview", "--diff")
	t.Logf("remove r/d: preview --diff:\n%s", preview)
	assert.Contains(t, preview, `- [2]: "r/d"`)
	assert.NotContains(t, preview, `"r/d" => "r/e"`)
	assert.NotContains(t, preview, `- [4]: "r/f"`)
	assert.Equal(t, []string{`- [2]: "r/d"`}, cfgRefsDiff(preview), "the only element change shown")
	assert.NotContains(t, strings.ToLower(preview), "replace")

	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview")
	stats := c.Stats()
	assert.Equal(t, 2, stats.Writes, "%v", stats.ByRoute)
	assert.Equal(t, 2, stats.ByMethod[http.MethodDelete], "the edge and its mark: %v", stats.ByRoute)
	after := cfgAssertEdges(t, c, edgesTo("r/b", "r/c", "r/e", "r/f"))
	for k, name := range after {
		assert.Equal(t, before[k], name, "%s renamed", k)
	}
	cfgAssertDeploysOnce(t, c, "org", "r", "a", "r/b", "r/c", "r/e", "r/f")

	// Add r/g, written in the middle of the list: one element added, nothing else.
	w.edit("        - r/c\n", "        - r/c\n        - r/g\n")
	preview = w.pulumi("preview", "--diff")
	t.Logf("add r/g: preview --diff:\n%s", preview)
	assert.Equal(t, []string{`+ [4]: "r/g"`}, cfgRefsDiff(preview), "the only element change shown")
	assert.Contains(t, preview, "1 to update")
	assert.NotContains(t, strings.ToLower(preview), "replace")
	assert.NotContains(t, preview, "to create")
	assert.NotContains(t, preview, "to delete")

	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview")
	stats = c.Stats()
	assert.Equal(t, 3, stats.Writes, "marked, written pending, then put in place: %v", stats.ByRoute)
	assert.Equal(t, 2, stats.ByMethod[http.MethodPost], "%v", stats.ByRoute)
	final := cfgAssertEdges(t, c, edgesTo("r/b", "r/c", "r/e", "r/f", "r/g"))
	for k, name := range after {
		assert.Equal(t, name, final[k], "%s renamed", k)
	}
	cfgAssertDeploysOnce(t, c, "org", "r", "a", "r/b", "r/c", "r/e", "r/f", "r/g")
}

// TestMigrationFromComponentWebhooks starts where a user of Pulumi's auto-deploy package
// is: its webhooks (service-named, display name = ref) make the a–f graph. Switching to
// this provider's AutoDeployers must warn about each, then, once the old webhooks are
// deleted, leave each edge once.
func TestMigrationFromComponentWebhooks(t *testing.T) {
	t.Parallel()
	c := startCloud(t)
	seedGraphStacks(t, c, "pulumi")
	old := map[string][]string{"a": {"b", "c"}, "b": {"d", "e", "f"}}
	var made []emulator.Webhook
	for source, targets := range old {
		for _, target := range targets {
			ref := graphProject + "/" + target
			var h emulator.Webhook
			c.api(t, http.MethodPost, "/api/stacks/pulumi/"+graphProject+"/"+source+"/hooks", map[string]any{
				"organizationName": "pulumi", "projectName": graphProject, "stackName": source,
				"displayName": ref, "payloadUrl": ref, "active": true, "format": "pulumi_deployments",
				"filters": []string{"update_succeeded"},
			}, http.StatusCreated, &h)
			require.Regexp(t, `^[0-9a-f]{8}$`, h.Name)
			h.Scope = emulator.Scope{Type: emulator.ScopeStack, Org: "pulumi", Project: graphProject, Stack: source}
			made = append(made, h)
		}
	}
	require.Len(t, made, 5)

	w := newWorkspace(t, "yaml/auto-deployer", c)
	out := w.pulumi("up", "--yes")
	t.Logf("migration up:\n%s", out)
	for _, h := range made {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, fmt.Sprintf("%q", h.Name)) && strings.Contains(line, h.PayloadURL+" will deploy twice") {
				found = true
			}
		}
		assert.True(t, found, "no warning names the hand-made webhook %q (%s/%s → %s) and says it will deploy twice",
			h.Name, h.Project, h.Stack, h.PayloadURL)
	}

	// The end of a real migration: the old component's webhooks are deleted.
	for _, h := range made {
		c.api(t, http.MethodDelete, h.Scope.Path()+"/"+h.Name, nil, http.StatusNoContent)
	}
	urn := func(name string) string { return cfgURN(w, autoDeployerType, name) }
	var want []cfgEdge
	for source, targets := range old {
		for _, target := range targets {
			want = append(want, cfgEdge{source: graphProject + "/" + source, ref: graphProject + "/" + target,
				owner: urn(source)})
		}
	}
	cfgAssertEdges(t, c, want)
	cfgAssertDeploysOnce(t, c, "pulumi", graphProject, "a",
		graphProject+"/b", graphProject+"/c", graphProject+"/d", graphProject+"/e", graphProject+"/f")
	w.pulumi("up", "--yes", "--expect-no-changes")
}
