package provider

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
)

// Another program writes between this one's checks and its read back: the fake client's
// afterCreate and afterList play it, deterministically. These are the races of two
// `pulumi up`s at once; examples/race_test.go runs them through the CLI with real
// concurrency, two to four programs at a time.

// otherProgram's URN sorts before this test's resources' ("urn:pulumi:prod::…" before
// "urn:pulumi:test::…"); laterProgram's after them.
var (
	otherProgram = string(resource.NewURN("prod", "other", "", deploymentGraphToken, "g"))
	laterProgram = string(resource.NewURN("zz", "later", "", deploymentGraphToken, "g"))
)

// pendingEdge is owner's edge source → ref as a writer leaves it while it judges it.
func pendingEdge(ref, owner string) cloud.Webhook {
	return asPending(desiredEdgeWebhook(ref, owner, direct), ref, owner)
}

func raceGraph(edges map[string][]string) property.Map {
	return property.NewMap(map[string]property.Value{
		"organization": property.New("org"),
		"edges":        graphInputs(edges).Get("edges"),
	})
}

// TestRaceAgainstAnEdgeInPlace: another program put n → m in place between this one's
// checks and its write of m → n; or a Webhook resource's webhook doubling a → b. The edge
// in place stays; this one is undone, and the message names the edge that stays, its
// owner, and why.
func TestRaceAgainstAnEdgeInPlace(t *testing.T) {
	t.Parallel()
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		f := newFakeClient()
		f.addStacks("org", "p", "m", "n")
		f.afterCreate = func(f *fakeClient) {
			f.addHookLocked("org/p/n", desiredEdgeWebhook("p/m", otherProgram, direct))
		}
		resp, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/m": {"p/n"}}))
		require.Error(t, err)
		assert.Contains(t, failureText(resp, err), `edges["p/m"]: the edge p/m → p/n was written and undone: it `+
			`closes the deployment cycle p/m → p/n → p/m; p/n → p/m by webhook `+edge.Name("p/m")+` (owner: `+
			otherProgram+`) stays, because it is in place: its writer checked it first. Remove one `+
			`edge of the cycle from the programs that declare it`)
		assert.Equal(t, []string{"p/n → p/m"}, f.edges(), "no loop: only the other program's half")
	})
	t.Run("graph meets a Webhook resource", func(t *testing.T) {
		t.Parallel()
		f := newFakeClient()
		f.addStacks("org", "p", "a", "b")
		f.afterCreate = func(f *fakeClient) {
			f.addHookLocked("org/p/a", cloud.Webhook{Name: "autodeploy-wh-0badf00d", DisplayName: "deploy b",
				PayloadURL: "p/b", Active: true, Format: "pulumi_deployments", Filters: []string{"update_succeeded"}})
		}
		resp, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/a": {"p/b"}}))
		require.Error(t, err)
		assert.Contains(t, failureText(resp, err), `edges["p/a"]: the edge p/a → p/b was written and undone: `+
			`webhook autodeploy-wh-0badf00d (a Webhook resource, display name "deploy b") makes the same edge, so `+
			`p/b would deploy twice after each update of p/a; that webhook stays, because it is in place: its writer `+
			`checked it first. Declare each edge in one program only`)
		assert.Equal(t, []string{"p/a → p/b"}, f.edges(), "exactly one edge: the Webhook resource's")
	})
	t.Run("Webhook resource meets a graph", func(t *testing.T) {
		t.Parallel()
		f := newFakeClient()
		f.addStacks("org", "p", "a", "b")
		f.afterCreate = func(f *fakeClient) {
			f.addHookLocked("org/p/a", desiredEdgeWebhook("p/b", otherProgram, direct))
		}
		_, err := engineCreate(fakeServer(t, f), webhookURN, webhookEdgeInputs("a", "p/b"))
		require.ErrorContains(t, err, `payloadUrl: the edge p/a → p/b was written and undone: webhook `+
			edge.Name("p/b")+` (owner: `+otherProgram+`) makes the same edge`)
		assert.Equal(t, []string{"p/a → p/b"}, f.edges(), "exactly one edge: the graph's")
	})
}

// TestRaceBetweenPendingEdges: both programs' edges are pending when this one reads back.
// The rule keeps the edges of the owner whose URN sorts first. Against one sorting first,
// this one takes its edge back and waits for the other's verdict: it loses, naming the
// other's edge, once that is in place, and writes its own again if the other's went.
// Against one sorting after, it waits, and keeps its edge once the other took its own back,
// or loses if the other put its own in place (its read came before this write).
func TestRaceBetweenPendingEdges(t *testing.T) {
	t.Parallel()
	// race creates m → n while another program's n → m is pending, and then, at each
	// listing of n, lets the other do what then says with its edge (once, while it is pending).
	race := func(t *testing.T, other string, then func(f *fakeClient) bool) (*fakeClient, string) {
		f := newFakeClient()
		f.addStacks("org", "p", "m", "n")
		f.afterCreate = func(f *fakeClient) {
			f.addHookLocked("org/p/m", edge.Mark("p/n", other))
			f.addHookLocked("org/p/n", pendingEdge("p/m", other))
		}
		f.afterList = func(f *fakeClient, stack string) {
			if stack == "org/p/n" && slices.ContainsFunc(f.stacks[stack].hooks, isPending) && then(f) {
				f.afterList = nil
			}
		}
		resp, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/m": {"p/n"}}))
		return f, failureText(resp, err)
	}
	putInPlace := func(owner string) func(f *fakeClient) bool {
		return func(f *fakeClient) bool {
			f.setHookLocked("org/p/n", edge.Name("p/m"), desiredEdgeWebhook("p/m", owner, direct), true)
			return true
		}
	}
	takeBack := func(f *fakeClient) bool {
		f.setHookLocked("org/p/n", edge.Name("p/m"), cloud.Webhook{}, false)
		return true
	}
	mine := func(f *fakeClient) bool {
		return slices.ContainsFunc(f.stacks["org/p/m"].hooks, func(h cloud.Webhook) bool { return !isMark(h) })
	}
	inPlace := func(t *testing.T, f *fakeClient) {
		hooks := f.hooksOf("org/p/m")
		require.Len(t, hooks, 1)
		assert.True(t, isDesiredEdge(hooks[0], "p/n", string(graphURN("g")), direct), "in place: %+v", hooks[0])
		assert.Empty(t, f.hooksOf("org/p/n"))
	}
	t.Run("the other sorts first and puts its edge in place", func(t *testing.T) {
		t.Parallel()
		// The other, seeing this program's edge pending, waits until it is taken back.
		f, text := race(t, otherProgram, func(f *fakeClient) bool { return !mine(f) && putInPlace(otherProgram)(f) })
		assert.Contains(t, text, `edges["p/m"]: the edge p/m → p/n was written and undone: it closes the deployment `+
			`cycle p/m → p/n → p/m; p/n → p/m by webhook `+edge.Name("p/m")+` (owner: `+otherProgram+`) stays, because `+
			`it is in place: its writer checked it first. Remove one edge of the cycle from the programs that declare it`)
		assert.Equal(t, []string{"p/n → p/m"}, f.edges())
	})
	t.Run("the other sorts first and loses elsewhere", func(t *testing.T) {
		t.Parallel()
		f, text := race(t, otherProgram, func(f *fakeClient) bool { return !mine(f) && takeBack(f) })
		assert.Empty(t, text)
		inPlace(t, f)
	})
	t.Run("the other sorts after and takes its edge back", func(t *testing.T) {
		t.Parallel()
		f, text := race(t, laterProgram, takeBack)
		assert.Empty(t, text)
		inPlace(t, f)
	})
	t.Run("the other sorts after and had read first", func(t *testing.T) {
		t.Parallel()
		f, text := race(t, laterProgram, putInPlace(laterProgram))
		assert.Contains(t, text, `p/n → p/m by webhook `+edge.Name("p/m")+` (owner: `+laterProgram+`) stays, because `+
			`it is in place`)
		assert.Equal(t, []string{"p/n → p/m"}, f.edges())
	})
}

// TestRaceForTheSameName: two graphs of two programs declare a → b, whose webhook has one
// name. The second create finds the first's pending webhook under it: it says nothing of
// who keeps the edge until the other has put it in place, and if the other undoes it,
// this one writes it.
func TestRaceForTheSameName(t *testing.T) {
	t.Parallel()
	// create previews a → b; then, between this program's checks and its create, the other's
	// pending webhook lands under the edge's name, and at each listing of a the other does
	// what then says with it (once); and then the create runs.
	create := func(t *testing.T, other string, then func(f *fakeClient)) (*fakeClient, string) {
		f := newFakeClient()
		f.addStacks("org", "p", "a", "b")
		server := fakeServer(t, f)
		check, err := server.Check(p.CheckRequest{Urn: graphURN("g"), Inputs: raceGraph(map[string][]string{
			"p/a": {"p/b"}})})
		require.NoError(t, err)
		_, err = server.Create(p.CreateRequest{Urn: graphURN("g"), Properties: check.Inputs, DryRun: true})
		require.NoError(t, err)
		f.mu.Lock()
		f.addHookLocked("org/p/a", pendingEdge("p/b", other))
		f.afterList = func(f *fakeClient, stack string) {
			if hooks := f.stacks[stack].hooks; stack == "org/p/a" && len(hooks) > 0 && ownerOf(hooks[0]) == other {
				then(f)
				f.afterList = nil
			}
		}
		f.mu.Unlock()
		resp, err := server.Create(p.CreateRequest{Urn: graphURN("g"), Properties: check.Inputs})
		return f, failureText(resp, err)
	}
	putInPlace := func(owner string) func(f *fakeClient) {
		return func(f *fakeClient) {
			f.setHookLocked("org/p/a", edge.Name("p/b"), desiredEdgeWebhook("p/b", owner, direct), true)
		}
	}
	undo := func(f *fakeClient) { f.setHookLocked("org/p/a", edge.Name("p/b"), cloud.Webhook{}, false) }
	inPlace := func(t *testing.T, f *fakeClient) {
		hooks := f.hooksOf("org/p/a")
		require.Len(t, hooks, 1)
		assert.True(t, isDesiredEdge(hooks[0], "p/b", string(graphURN("g")), direct), "in place: %+v", hooks[0])
	}
	t.Run("the other sorts first and puts it in place", func(t *testing.T) {
		t.Parallel()
		_, text := create(t, otherProgram, putInPlace(otherProgram))
		assert.Contains(t, text, `edges["p/a"]: the edge p/a → p/b was not written: webhook `+edge.Name("p/b")+
			` (owner: `+otherProgram+`) has its name: another resource wrote the same edge first; that webhook `+
			`stays, because it is in place: its writer checked it first. Declare each edge in one program only`)
		assert.NotContains(t, text, "owns it now")
	})
	t.Run("the other sorts first and undoes it", func(t *testing.T) {
		t.Parallel()
		f, text := create(t, otherProgram, undo)
		assert.Empty(t, text)
		inPlace(t, f)
	})
	t.Run("the other sorts after and undoes it", func(t *testing.T) {
		t.Parallel()
		f, text := create(t, laterProgram, undo)
		assert.Empty(t, text)
		inPlace(t, f)
	})
}

// TestLoserNamesOnlyEdgesInPlace: the cycle this edge closes runs through an edge in place,
// beside which another program's pending webhook makes the same edge; only the one in
// place stays, and only it is named as staying.
func TestLoserNamesOnlyEdgesInPlace(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "p", "m", "n")
	f.afterCreate = func(f *fakeClient) {
		f.addHookLocked("org/p/n", desiredEdgeWebhook("p/m", otherProgram, direct))
		f.addHookLocked("org/p/n", asPending(cloud.Webhook{Name: "autodeploy-wh-1a2b3c4d", PayloadURL: "p/m",
			Format: "pulumi_deployments", Filters: []string{"update_succeeded"}}, "p/m", laterProgram))
	}
	resp, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/m": {"p/n"}}))
	require.Error(t, err)
	text := failureText(resp, err)
	assert.Contains(t, text, `; p/n → p/m by webhook `+edge.Name("p/m")+` (owner: `+otherProgram+`) stays, because `)
	assert.NotContains(t, text, "autodeploy-wh-1a2b3c4d")
}

// TestRaceLoserUndoesAllItsNewEdges: of a resource's new edges, one loses; the others are
// undone with it, in one line with a count, so that of two programs writing at once one
// keeps all its edges.
func TestRaceLoserUndoesAllItsNewEdges(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "p", "m", "n", "x", "y", "z")
	f.afterCreate = func(f *fakeClient) {
		f.addHookLocked("org/p/n", desiredEdgeWebhook("p/m", otherProgram, direct))
	}
	resp, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{
		"p/m": {"p/n"}, "p/x": {"p/y", "p/z"},
	}))
	require.Error(t, err)
	text := failureText(resp, err)
	assert.Contains(t, text, `the edge p/m → p/n was written and undone: it closes the deployment cycle`)
	assert.Contains(t, text, `the edge p/x → p/y was written and undone: it goes with the rest of this resource's `+
		`new edges, after p/m → p/n lost: of programs writing edges at once each keeps all its new edges or none, `+
		`so that one of them always succeeds; run again to add them (the same for 1 more edges: org/p/x → p/z)`)
	assert.Equal(t, []string{"p/n → p/m"}, f.edges())
	assert.Empty(t, refsOfGraph(resp.Properties), "nothing new in state")
}

// failureText is a create's error with the reasons of a partial failure, which the
// engine shows as the step's errors.
func failureText(resp p.CreateResponse, err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	if resp.PartialState != nil {
		text += ": " + strings.Join(resp.PartialState.Reasons, "; ")
	}
	return text
}

// webhookEdgeInputs is a Webhook resource on p/source that deploys ref after each update.
func webhookEdgeInputs(source, ref string) property.Map {
	return property.NewMap(map[string]property.Value{
		"organizationName": property.New("org"), "projectName": property.New("p"),
		"stackName": property.New(source), "format": property.New("pulumi_deployments"),
		"payloadUrl": property.New(ref), "active": property.New(true), "displayName": property.New("deploy b"),
		"filters": stringList("update_succeeded"),
	})
}

// refsOfGraph is the edges in place a graph's state records, as "source → target".
func refsOfGraph(state property.Map) []string {
	var out []string
	effective := state.Get("effectiveEdges")
	if !effective.IsMap() {
		return nil
	}
	for source, targets := range effective.AsMap().All {
		for _, t := range targets.AsArray().All {
			out = append(out, source+" → "+t.AsString())
		}
	}
	return out
}

// TestFailedWebhookCreateIsNotPlanned: a Webhook resource whose create fails leaves no
// plan behind, so an AutoDeployer of the same run that removes the same edge still deletes
// its own webhook instead of leaving it to a create that never landed.
func TestFailedWebhookCreateIsNotPlanned(t *testing.T) {
	t.Parallel()
	tc := graphCloud(t, "a", "b")
	deployer, err := engineCreate(tc.server, deployerURN("a"), deployerInputs("a", "graph/b"))
	require.NoError(t, err)
	run := newServer(t, tc.cloud.URL, testToken)
	urn := webhookURN
	inputs := property.NewMap(map[string]property.Value{
		"organizationName": property.New("org"), "projectName": property.New("graph"),
		"stackName": property.New("a"), "format": property.New("pulumi_deployments"),
		"payloadUrl": property.New("graph/b"), "active": property.New(true), "displayName": property.New("d"),
	})
	_, err = engineCreate(run, urn, inputs)
	require.Error(t, err, "the AutoDeployer's edge is in place")
	require.NoError(t, run.Delete(p.DeleteRequest{ID: "org/graph/a", Urn: deployerURN("a"),
		Properties: deployer.Properties}))
	assert.Empty(t, tc.cloud.Webhooks(), "the AutoDeployer's delete removed its webhook")
}

// TestInterruptedWriteIsFinished: a `pulumi up` stopped after writing its edge pending.
// The next run finds it under its name, judges it as its own, and puts it in place.
func TestInterruptedWriteIsFinished(t *testing.T) {
	t.Parallel()
	f := newFakeClient()
	f.addStacks("org", "p", "a", "b")
	f.addHookLocked("org/p/a", pendingEdge("p/b", string(graphURN("g"))))
	_, err := engineCreate(fakeServer(t, f), graphURN("g"), raceGraph(map[string][]string{"p/a": {"p/b"}}))
	require.NoError(t, err)
	hooks := f.hooksOf("org/p/a")
	require.Len(t, hooks, 1)
	assert.True(t, isDesiredEdge(hooks[0], "p/b", string(graphURN("g")), direct), "in place: %+v", hooks[0])
}

// TestPendingEdgeDoesNotFire: getDeploymentGraph shows a pending edge as one that does not
// fire yet, and says why.
func TestPendingEdgeDoesNotFire(t *testing.T) {
	t.Parallel()
	w := describeWebhook(stackKey{"org", "p", "a"}, pendingEdge("p/b", otherProgram))
	assert.False(t, w.Fires)
	assert.Equal(t, "pending: written by a `pulumi up` that has not finished checking it (or was interrupted)", w.Reason)
	assert.Equal(t, "p/b", w.Target)
}
