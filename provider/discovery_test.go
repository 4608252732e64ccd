package provider

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// refGraphInputs is a DeploymentGraph in org that derives its edges from the references of
// the stacks of projects.
func refGraphInputs(projects ...string) property.Map {
	var list []property.Value
	for _, project := range projects {
		list = append(list, property.New(project))
	}
	return property.NewMap(map[string]property.Value{
		"organization": property.New("org"),
		"fromStackReferences": property.New(property.NewMap(map[string]property.Value{
			"projects": property.New(property.NewArray(list)),
		})),
	})
}

// graphStep is one `pulumi up --skip-preview` of a DeploymentGraph: Check, Diff and, when
// something changed, Update, with what Diff said.
func graphStep(t *testing.T, f *fakeClient, state, inputs property.Map) (property.Map, p.DiffResponse) {
	t.Helper()
	server := fakeServer(t, f) // each pulumi command runs a plugin process of its own
	check, err := server.Check(p.CheckRequest{Urn: graphURN("g"), State: state, Inputs: inputs})
	require.NoError(t, err)
	require.Empty(t, check.Failures)
	diff, err := server.Diff(p.DiffRequest{ID: "org", Urn: graphURN("g"), State: state, Inputs: check.Inputs})
	require.NoError(t, err)
	if !diff.HasChanges {
		return state, diff
	}
	updated, err := server.Update(p.UpdateRequest{ID: "org", Urn: graphURN("g"), State: state, Inputs: check.Inputs})
	require.NoError(t, err)
	return updated.Properties, diff
}

// TestIncrementalDiscovery: a graph of 250 stacks derived from their references reads each
// stack's references once; afterwards a step reads the stack list and only the stacks
// updated since, and a new or removed reference is named in the diff and written with one
// request.
func TestIncrementalDiscovery(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	var names []string
	for i := range 250 {
		names = append(names, fmt.Sprintf("s%03d", i))
	}
	f.addStacks("org", "ref", names...)
	for i := 1; i < len(names); i++ {
		f.read("org/ref/"+names[i], "ref/"+names[(i-1)/2])
	}
	f.tick()
	created, err := engineCreate(fakeServer(t, f), graphURN("g"), refGraphInputs("ref"))
	require.NoError(t, err)
	calls := f.took()
	assert.Equal(t, 2*249, calls["CreateWebhookOnce"], "each edge, and its mark on its target")
	assert.Equal(t, 2*250, calls["ReadUpstreamReferences"], "once for the preview, once for the create; "+
		"no more to warn of edges to stacks that read nothing of their upstream: these do")
	state := created.Properties

	f.tick()
	state, diff := graphStep(t, f, state, refGraphInputs("ref"))
	assert.False(t, diff.HasChanges)
	assert.Equal(t, map[string]int{"ListStacks": 3}, f.took(), "nothing changed: the three pages of the list")

	// A new reference: read again is the one stack updated; the diff names the edge; a POST
	// for its mark, one (pending) for it and one PATCH (in place).
	f.tick()
	f.read("org/ref/s249", "ref/s010")
	f.tick()
	state, diff = graphStep(t, f, state, refGraphInputs("ref"))
	assert.Equal(t, map[string]p.PropertyDiff{`["effectiveEdges: ref/s010 → ref/s249"]`: {Kind: p.Add}},
		diff.DetailedDiff)
	assert.Equal(t, map[string]int{"ListStacks": 3, "GetStack": 1, "ReadUpstreamReferences": 1, "ListWebhooks": 1 + 2,
		"GetDeploymentSettings": 1, "CreateWebhookOnce": 2, "UpdateWebhook": 1}, f.took(), "the list, the one "+
		"stack updated (whether it still updates, what it reads); then the edge's checks (its source's webhooks, "+
		"its target's settings), its writes and the read back of its two stacks, with no second discovery "+
		"and nothing below its target")
	assert.Contains(t, f.edges(), "ref/s010 → ref/s249")

	// A removed reference: one DELETE, and one for its mark.
	f.tick()
	f.unread("org/ref/s249", "ref/s010")
	f.tick()
	state, diff = graphStep(t, f, state, refGraphInputs("ref"))
	assert.Equal(t, map[string]p.PropertyDiff{`["effectiveEdges: ref/s010 → ref/s249"]`: {Kind: p.Delete}},
		diff.DetailedDiff)
	calls = f.took()
	assert.Equal(t, 1, calls["ReadUpstreamReferences"])
	assert.Equal(t, 2, calls["DeleteWebhook"])
	assert.NotContains(t, f.edges(), "ref/s010 → ref/s249")

	// An update in the very second its references are read may have landed after the read:
	// the stack is read again at the next step, though its lastUpdate did not move.
	f.tick()
	f.read("org/ref/s100", "ref/s001")
	state, _ = graphStep(t, f, state, refGraphInputs("ref"))
	assert.Equal(t, 1, f.took()["ReadUpstreamReferences"])
	f.read("org/ref/s100", "ref/s150") // same second as the read above
	f.tick()
	state, diff = graphStep(t, f, state, refGraphInputs("ref"))
	assert.Contains(t, diff.DetailedDiff, `["effectiveEdges: ref/s150 → ref/s100"]`)
	assert.Equal(t, 1, f.took()["ReadUpstreamReferences"])
	f.tick()
	_, diff = graphStep(t, f, state, refGraphInputs("ref"))
	assert.False(t, diff.HasChanges)
	assert.Zero(t, f.took()["ReadUpstreamReferences"], "read after the second it changed in: settled")
}

// TestSelectionNamedTwice: a project named twice selects its stacks once, never none.
func TestSelectionNamedTwice(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "app", "a", "b", "c")
	f.read("org/app/b", "app/a")
	f.read("org/app/c", "app/b")
	f.tick()
	_, err := engineCreate(fakeServer(t, f), graphURN("g"), refGraphInputs("app", "app"))
	require.NoError(t, err)
	assert.Equal(t, []string{"app/a → app/b", "app/b → app/c"}, f.edges())
}

// TestSelectionIsValidated: an empty project or tag name is refused at preview, naming it.
func TestSelectionIsValidated(t *testing.T) {
	t.Parallel()
	server := fakeServer(t, newFakeClient())
	inputs := refGraphInputs("app", "")
	resp, err := server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: inputs})
	require.NoError(t, err)
	require.Len(t, resp.Failures, 1)
	assert.Equal(t, "fromStackReferences", resp.Failures[0].Property)
	assert.Contains(t, resp.Failures[0].Reason, `fromStackReferences.projects[1] must not be empty`)

	tagged := inputs.Set("fromStackReferences", property.New(property.NewMap(map[string]property.Value{
		"tags": property.New(property.NewMap(map[string]property.Value{"": property.New("prod")})),
	})))
	resp, err = server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: tagged})
	require.NoError(t, err)
	require.Len(t, resp.Failures, 1)
	assert.Equal(t, "fromStackReferences.tags has an empty tag name: name the tag a stack must have, e.g. "+
		"{environment: production}", resp.Failures[0].Reason)
}

// TestSelectionByTags selects by tag through the emulator's tag filters: a stack needs
// every tag with its value; an empty value asks only that the tag is there; projects and
// tags both apply.
func TestSelectionByTags(t *testing.T) {
	t.Parallel()
	tag := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name     string
		projects []string
		tags     map[string]string
		want     []string
	}{
		{"one tag", nil, tag("env", "prod"), []string{"net/prod → app/prod", "net/prod → web/prod"}},
		{"two tags", nil, tag("env", "prod", "team", "web"), nil},
		{"tag present, any value", nil, tag("team", ""), []string{"net/prod → web/prod"}},
		{"project and tag", []string{"app"}, tag("env", "prod"), nil},
		{"projects and tag", []string{"app", "net", "app"}, tag("env", "prod"), []string{"net/prod → app/prod"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestCloud(t)
			require.NoError(t, c.cloud.Seed(emulator.SeedData{Stacks: []emulator.SeedStack{
				{Org: "org", Project: "net", Stack: "prod", DeploymentSettings: true,
					Tags: tag("env", "prod", "team", "platform")},
				{Org: "org", Project: "app", Stack: "prod", DeploymentSettings: true, Tags: tag("env", "prod")},
				{Org: "org", Project: "web", Stack: "prod", DeploymentSettings: true,
					Tags: tag("env", "prod", "team", "web")},
				{Org: "org", Project: "app", Stack: "dev", DeploymentSettings: true, Tags: tag("env", "dev")},
			}}))
			require.NoError(t, c.cloud.AddStackReference("org", "app", "prod", "net", "prod"))
			require.NoError(t, c.cloud.AddStackReference("org", "web", "prod", "net", "prod"))
			require.NoError(t, c.cloud.AddStackReference("org", "app", "dev", "net", "prod"))
			selection := map[string]property.Value{}
			if tc.projects != nil {
				var list []property.Value
				for _, project := range tc.projects {
					list = append(list, property.New(project))
				}
				selection["projects"] = property.New(property.NewArray(list))
			}
			tags := map[string]property.Value{}
			for k, v := range tc.tags {
				tags[k] = property.New(v)
			}
			selection["tags"] = property.New(property.NewMap(tags))
			inputs := property.NewMap(map[string]property.Value{"organization": property.New("org"),
				"fromStackReferences": property.New(property.NewMap(selection))})
			_, err := engineCreate(c.server, graphURN("g"), inputs)
			require.NoError(t, err)
			var got []string
			for _, h := range withoutMarks(c.cloud.Webhooks()) {
				got = append(got, h.Project+"/"+h.Stack+" → "+h.PayloadURL)
			}
			assert.ElementsMatch(t, tc.want, got)
		})
	}
}

// TestShapeDiagnostics: a few lines of each kind, then one with the count, and path counts
// as they are.
func TestShapeDiagnostics(t *testing.T) {
	t.Parallel()
	graph := map[string][]string{}
	for i := range 8 { // eight diamonds under one root, one path pair each
		l, r, j := fmt.Sprintf("p/l%d", i), fmt.Sprintf("p/r%d", i), fmt.Sprintf("p/j%d", i)
		graph["p/root"] = append(graph["p/root"], l, r, j)
		graph[l], graph[r] = []string{j}, []string{j}
	}
	reduced, dropped := transitiveReduction(graph)
	plan := graphPlan{edges: reduced, dropped: dropped, joins: newShape(reduced).joins(maxShapeLines)}
	lines := shapeDiagnostics(plan, []bool{true, false, false, false, false})
	var text []string
	for _, d := range lines {
		text = append(text, d.text)
	}
	require.Len(t, text, 12, "%s", text)
	assert.Equal(t, "edge p/root → p/j0 left out: p/root → p/l0 → p/j0 already deploys p/j0, after its last "+
		"upstream; set keepRedundantEdges to keep it", text[0])
	assert.Equal(t, "3 more edges left out, each implied by a longer path (8 in all); set keepRedundantEdges "+
		"to keep them", text[5])
	assert.Equal(t, "p/j0 is deployed twice after each update of p/root, once per path: p/root → p/l0 → p/j0 "+
		"and p/root → p/r0 → p/j0; its deployment settings skip intermediate deployments "+
		"(operationContext.options.skipIntermediateDeployments), so a deployment still queued when the next "+
		"arrives is skipped and the newest runs", text[6])
	assert.Equal(t, "3 more stacks are deployed more than once after a single update (8 in all; the most, p/j0, "+
		"twice after each update of p/root); each deploys once per path, fewer times where its deployment "+
		"settings skip intermediate deployments", text[11])
}

// TestDiscoveryOfAStackUpdatingAtTheRead: lastUpdate is when an update started, and the
// update records what its program reads when it ends. A stack read while it updates (by a
// run that records what it read: here c's new reference makes it write) is read again at
// the next discovery, though its lastUpdate did not move, and so the reference its update
// recorded at its end is wired; once read idle, it is not read again.
func TestDiscoveryOfAStackUpdatingAtTheRead(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "app", "a", "b", "c")
	f.tick()
	created, err := engineCreate(fakeServer(t, f), graphURN("g"), refGraphInputs("app"))
	require.NoError(t, err)
	state := created.Properties

	f.startUpdate("org/app/b")
	f.read("org/app/c", "app/a")
	f.tick()
	f.took()
	state, diff := graphStep(t, f, state, refGraphInputs("app"))
	assert.Equal(t, map[string]p.PropertyDiff{`["effectiveEdges: app/a → app/c"]`: {Kind: p.Add}}, diff.DetailedDiff,
		"b's update has recorded nothing yet")
	calls := f.took()
	assert.Equal(t, 2, calls["GetStack"], "b and c: is either updating?")
	assert.Equal(t, 2, calls["ReadUpstreamReferences"])

	f.endUpdate("org/app/b", "app/a")
	f.tick()
	state, diff = graphStep(t, f, state, refGraphInputs("app"))
	assert.Equal(t, map[string]p.PropertyDiff{`["effectiveEdges: app/a → app/b"]`: {Kind: p.Add}}, diff.DetailedDiff)
	assert.Equal(t, 1, f.took()["ReadUpstreamReferences"], "b read again: it was updating at the last read")
	assert.Equal(t, []string{"app/a → app/b", "app/a → app/c"}, f.edges())

	f.tick()
	_, diff = graphStep(t, f, state, refGraphInputs("app"))
	assert.False(t, diff.HasChanges)
	assert.Equal(t, map[string]int{"ListStacks": 1}, f.took(), "read idle: settled")
}
