//go:build e2e

package examples

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ownership scenarios: each runs routine operations through the real CLI and checks
// the webhooks left in the emulator and the deployments an update of the source sets
// off, so that an edge lost, stolen or duplicated shows however state describes it.

// deployer is one AutoDeployer of a test program: its resource name, stack and refs.
type deployer struct {
	name, stack string
	refs        []string
	options     string // YAML resource options, one per line, e.g. "aliases: [...]"
}

// deployersProgram writes a YAML program of AutoDeployers on stacks of project "own" in
// organization "org".
func deployersProgram(project string, ds ...deployer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nruntime: yaml\nresources:\n", project)
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s:\n    type: auto-deploy:AutoDeployer\n", d.name)
		if d.options != "" {
			fmt.Fprintf(&b, "    options:\n      %s\n", d.options)
		}
		fmt.Fprintf(&b, "    properties:\n      organization: org\n      project: own\n      stack: %s\n"+
			"      downstreamRefs: [%s]\n", d.stack, strings.Join(d.refs, ", "))
	}
	return b.String()
}

// ownCloud is an emulator with stacks own/{names}, each with deployment settings.
func ownCloud(t *testing.T, names ...string) *cloud {
	t.Helper()
	c := startCloud(t)
	for _, name := range names {
		require.NoError(t, c.CreateStack("org", "own", name))
		require.NoError(t, c.SetDeploymentSettings("org", "own", name, map[string]any{"source": "git"}))
	}
	return c
}

// edgeOwners maps each edge "stack → target" to the display names of its webhooks.
func edgeOwners(c *cloud) map[string][]string {
	out := map[string][]string{}
	for _, h := range withoutMarks(c.Webhooks()) {
		edge := h.Stack + " → " + h.PayloadURL
		out[edge] = append(out[edge], h.DisplayName)
	}
	return out
}

// assertListedOnce checks that since a time no stack's webhooks were listed twice.
func assertListedOnce(t *testing.T, c *cloud, since time.Time) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range c.Requests() {
		if !r.Time.Before(since) && r.Method == http.MethodGet && strings.HasSuffix(r.Route, "/{stack}/hooks") {
			seen[r.Path]++
		}
	}
	for path, n := range seen {
		assert.Equal(t, 1, n, "%s listed %d times", path, n)
	}
}

// assertDeploysOnce fires an update of stack and checks that exactly want are deployed,
// each once, with no failed delivery.
func assertDeploysOnce(t *testing.T, c *cloud, stack string, want ...string) {
	t.Helper()
	result, err := c.FireUpdate("org", "own", stack)
	require.NoError(t, err)
	got := deployedStacks(result)
	slices.Sort(got)
	var refs []string
	for _, w := range want {
		refs = append(refs, "own/"+w)
	}
	slices.Sort(refs)
	assert.Equal(t, refs, got, "deployments after an update of %s", stack)
	assert.Empty(t, result.FailedDeliveries)
}

func ownerURN(project, name string) string {
	return "urn:pulumi:test::" + project + "::auto-deploy:index:AutoDeployer::" + name
}

// TestRenameHandsTheEdgesOver: an AutoDeployer renamed without aliases is a new resource
// and a deleted one in the same update; the new one takes each edge over (one PATCH of
// its recorded owner) and the old one's delete leaves it: no edge is missing or doubled.
// With aliases the engine carries the state over: not one request.
func TestRenameHandsTheEdgesOver(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c")
	w := newProgramWorkspace(t, deployersProgram("rename", deployer{name: "a", stack: "a",
		refs: []string{"own/b", "own/c"}}), c)
	w.pulumi("up", "--yes")
	before := withoutMarks(c.Webhooks())
	require.Len(t, before, 2)

	w.edit("  a:\n", "  a2:\n")
	out := w.pulumi("preview")
	assert.Contains(t, out, "the edge own/a → own/b passes from "+ownerURN("rename", "a")+" to this resource")
	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview")
	stats := c.Stats()
	assert.Equal(t, 2, stats.ByMethod[http.MethodPost], "no edge's webhook created: a new mark per edge: %v",
		stats.ByRoute)
	assert.Equal(t, 2, stats.ByMethod[http.MethodDelete], "no edge's webhook deleted: the old marks: %v", stats.ByRoute)
	assert.Equal(t, 2, stats.ByMethod[http.MethodPatch], "one new owner per edge")
	after := withoutMarks(c.Webhooks())
	require.Len(t, after, 2)
	for i := range after {
		assert.Equal(t, before[i].Name, after[i].Name)
		assert.True(t, strings.HasSuffix(after[i].DisplayName, "(owner: "+ownerURN("rename", "a2")+")"))
	}
	assertDeploysOnce(t, c, "a", "b", "c")

	// With the alias the engine carries the state over: not one request.
	w.edit("  a2:\n    type: auto-deploy:AutoDeployer\n",
		"  a3:\n    type: auto-deploy:AutoDeployer\n    options:\n      aliases:\n        - "+ownerURN("rename", "a2")+"\n")
	c.ResetStats()
	w.pulumi("up", "--yes")
	assert.Zero(t, c.Stats().Total, "a rename with aliases costs no request")
	assertDeploysOnce(t, c, "a", "b", "c")

	// The renamed resource still owns its edges: removing one deletes it, destroy the rest.
	w.edit("downstreamRefs: [own/b, own/c]", "downstreamRefs: [own/b]")
	w.pulumi("up", "--yes")
	assertDeploysOnce(t, c, "a", "b")
	w.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}

func TestTwoProgramsOnOneStack(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c")
	first := newProgramWorkspace(t, deployersProgram("first", deployer{name: "a", stack: "a",
		refs: []string{"own/b"}}), c)
	first.pulumi("up", "--yes")

	// A second program declaring the same edge is refused at preview, writing nothing.
	second := newProgramWorkspace(t, deployersProgram("second", deployer{name: "a", stack: "a",
		refs: []string{"own/b", "own/c"}}), c)
	c.ResetStats()
	out, err := second.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, "the edge own/a → own/b already exists in Pulumi Cloud and is owned by "+ownerURN("first", "a"))
	assert.Zero(t, c.Stats().Writes)

	// Declaring only its own edge works, beside the first program's.
	second.edit("downstreamRefs: [own/b, own/c]", "downstreamRefs: [own/c]")
	second.pulumi("up", "--yes")
	assert.Equal(t, map[string][]string{
		"a → own/b": {"auto-deploy: own/b (owner: " + ownerURN("first", "a") + ")"},
		"a → own/c": {"auto-deploy: own/c (owner: " + ownerURN("second", "a") + ")"},
	}, edgeOwners(c))
	assertDeploysOnce(t, c, "a", "b", "c")

	// Refresh of either keeps only its own edge in its state, and the next up changes nothing.
	for _, w := range []*workspace{first, second} {
		w.pulumi("refresh", "--yes")
		c.ResetStats()
		w.pulumi("up", "--yes", "--expect-no-changes")
		assert.Zero(t, c.Stats().Writes)
	}
	assert.Len(t, withoutMarks(c.Webhooks()), 2)

	// Destroying one leaves the other's edge.
	second.pulumi("destroy", "--yes")
	assert.Equal(t, []string{"a → own/b"}, keys(edgeOwners(c)))
	assertDeploysOnce(t, c, "a", "b")
	first.pulumi("refresh", "--yes")
	first.pulumi("up", "--yes", "--expect-no-changes")
	first.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}

func TestTwoDeployersForOneStackInOneProgram(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c", "d")
	w := newProgramWorkspace(t, deployersProgram("twice",
		deployer{name: "one", stack: "a", refs: []string{"own/b", "own/c"}},
		deployer{name: "two", stack: "a", refs: []string{"own/c", "own/d"}}), c)
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, "the edge own/a → own/c is also declared by")
	assert.Contains(t, out, "declare each edge once")
	_, err = w.run("up", "--yes")
	require.Error(t, err)
	assert.Empty(t, c.Webhooks(), "a refused program writes nothing")

	// Disjoint edges are fine: each resource owns its own and destroys only those.
	w.edit("downstreamRefs: [own/c, own/d]", "downstreamRefs: [own/d]")
	w.pulumi("up", "--yes")
	assert.Len(t, withoutMarks(c.Webhooks()), 3)
	assertDeploysOnce(t, c, "a", "b", "c", "d")
	w.pulumi("destroy", "--yes")
	assert.Empty(t, c.Webhooks())
}

func TestDuplicateWebhookResourceIsRefused(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b")
	webhook := `  hook:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: own
      stackName: a
      displayName: deploy b
      payloadUrl: own/b
      active: true
      format: pulumi_deployments
      filters: [update_succeeded]
`
	program := deployersProgram("dup", deployer{name: "a", stack: "a", refs: []string{"own/b"}})

	// Both in one program: refused at preview, nothing written.
	w := newProgramWorkspace(t, program+webhook, c)
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, "is also declared by")
	_, err = w.run("up", "--yes")
	require.Error(t, err)
	assert.Empty(t, c.Webhooks())

	// The Webhook first, the AutoDeployer added later: refused, naming the Webhook.
	w.edit(strings.TrimPrefix(program, "name: dup\nruntime: yaml\nresources:\n"), "")
	w.pulumi("up", "--yes")
	require.Len(t, withoutMarks(c.Webhooks()), 1)
	w.edit("resources:\n", "resources:\n"+strings.TrimPrefix(program, "name: dup\nruntime: yaml\nresources:\n"))
	out, err = w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, "is already made by an auto-deploy Webhook resource")
	assert.Len(t, withoutMarks(c.Webhooks()), 1)
	assertDeploysOnce(t, c, "a", "b")
}

func TestHandMadeDuplicateWarns(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b")
	c.api(t, http.MethodPost, "/api/stacks/org/own/a/hooks", map[string]any{
		"organizationName": "org", "projectName": "own", "stackName": "a", "name": "handmade1",
		"displayName": "made in the console", "payloadUrl": "own/b", "active": true,
		"format": "pulumi_deployments", "filters": []string{"update_succeeded"},
	}, http.StatusCreated)
	w := newProgramWorkspace(t, deployersProgram("hand", deployer{name: "a", stack: "a",
		refs: []string{"own/b"}}), c)
	out := w.pulumi("preview")
	assert.Contains(t, out, `already has webhook "handmade1" (display name "made in the console")`)
	assert.Contains(t, out, "own/b will deploy twice after each update of own/a until that webhook is removed")
	out = w.pulumi("up", "--yes")
	assert.Contains(t, out, "will deploy twice")
	assert.Len(t, withoutMarks(c.Webhooks()), 2, "the warning does not stop the up")

	// Once the hand-made one is gone, the target deploys once.
	c.api(t, http.MethodDelete, "/api/stacks/org/own/a/hooks/handmade1", nil, http.StatusNoContent)
	assertDeploysOnce(t, c, "a", "b")
}

func TestLoopInOneProgramFailsPreview(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b")
	w := newProgramWorkspace(t, deployersProgram("loop",
		deployer{name: "a", stack: "a", refs: []string{"own/b"}},
		deployer{name: "b", stack: "b", refs: []string{"own/a"}}), c)
	c.ResetStats()
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, "would create a deployment cycle")
	assert.Zero(t, c.Stats().Writes)
	out, err = w.run("up", "--yes")
	require.Error(t, err, out)
	assert.Empty(t, c.Webhooks(), "up writes nothing of the loop")
}

// TestLoopThroughAHandMadeWebhookFailsPreview: a pulumi_deployments webhook made by hand
// carries no in-edge mark, so the check after an up's writes, which stops at the end of a
// new edge that runs out first, may not see a loop through it; preview, which walks the
// whole graph below a new edge's target, refuses it before anything is written.
func TestLoopThroughAHandMadeWebhookFailsPreview(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "u", "d", "x")
	newProgramWorkspace(t, deployersProgram("base", deployer{name: "d", stack: "d", refs: []string{"own/x"}}), c).
		pulumi("up", "--yes")
	c.api(t, http.MethodPost, "/api/stacks/org/own/x/hooks", map[string]any{"organizationName": "org",
		"projectName": "own", "stackName": "x", "name": "handmade2", "displayName": "by hand", "payloadUrl": "own/u",
		"active": true, "format": "pulumi_deployments", "filters": []string{"update_succeeded"}}, http.StatusCreated)
	w := newProgramWorkspace(t, deployersProgram("closer", deployer{name: "u", stack: "u", refs: []string{"own/d"}}), c)
	c.ResetStats()
	out, err := w.run("up", "--yes")
	require.Error(t, err, out)
	assert.Contains(t, out, `adding "own/d" would create a deployment cycle own/u → own/d → own/x → own/u`)
	assert.Zero(t, c.Stats().Writes, "refused at preview: nothing written")
}

func keys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestRefreshSaysWhyAnEdgeDropped(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b", "c", "d")
	w := newProgramWorkspace(t, deployersProgram("drift", deployer{name: "a", stack: "a",
		refs: []string{"own/b", "own/c", "own/d"}}), c)
	w.pulumi("up", "--yes")
	hooks := map[string]string{}
	for _, h := range withoutMarks(c.Webhooks()) {
		hooks[h.PayloadURL] = "/api/stacks/org/own/a/hooks/" + h.Name
	}
	require.Len(t, hooks, 3)

	// Behind Pulumi's back: b's webhook deactivated, c's deleted, stack d deleted.
	c.api(t, http.MethodPatch, hooks["own/b"], map[string]any{"organizationName": "org", "projectName": "own",
		"stackName": "a", "active": false}, http.StatusOK)
	c.api(t, http.MethodDelete, hooks["own/c"], nil, http.StatusNoContent)
	c.api(t, http.MethodDelete, "/api/stacks/org/own/d", nil, http.StatusNoContent)

	out := w.pulumi("refresh", "--yes")
	assert.Contains(t, out, "the deployment webhook org/own/a → own/b is no longer in place: it was deactivated")
	assert.Contains(t, out, "the deployment webhook org/own/a → own/c is no longer in place: it was deleted")
	assert.Contains(t, out, "the deployment webhook org/own/a → own/d points at a stack that no longer exists")

	// The next up restores b and c; d's edge is left for the user to remove.
	w.pulumi("up", "--yes")
	result, err := c.FireUpdate("org", "own", "a")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"own/b", "own/c"}, deployedStacks(result))
	assert.Len(t, result.FailedDeliveries, 1, "the edge to the deleted stack can only fail")
}

func TestRefusedRefShowsItsValue(t *testing.T) {
	t.Parallel()
	c := ownCloud(t, "a", "b")
	w := newProgramWorkspace(t, deployersProgram("badref", deployer{name: "a", stack: "a",
		refs: []string{"own/b", "nope"}}), c)
	out, err := w.run("preview")
	require.Error(t, err)
	assert.Contains(t, out, `downstreamRefs[1] "nope" is not a stack reference`)
	assert.NotContains(t, out, "value {<nil>}", "the engine shows the list the refused element is in")
	assert.Contains(t, out, "nope")
	assert.Empty(t, c.Webhooks())
}
