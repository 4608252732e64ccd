//go:build e2e

package bench

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The layered DAG's side of the harness: e2e.LayeredDAG as one DeploymentGraph, its edges
// declared (every read written out, the implied ones too, as a user would) or derived from
// one StackReference per edge, taken through preview, create, no-op up, refresh, one new
// reference and destroy. After create the emulator must hold exactly the edges no longer
// path implies, which e2e.TransitiveReduction works out on its own.

// benchExtraStack is a stack of the DAG's project, seeded from the start and reading
// nothing, which the one-new-reference phase makes read a stack of the last layer.
const benchExtraStack = "extra"

// benchUpstreamStack is a stack of the DAG's project that nothing reads and that reads
// nothing until the mid-graph phase makes a stack of the middle layer read it.
const benchUpstreamStack = "upstream"

// benchDAG is what a DAG scenario's phases check against.
type benchDAG struct {
	edges   [][2]string // upstream → reader, project/stack, as declared or referenced
	reduced [][2]string // those no longer path implies: the webhooks after create
	newEdge [2]string   // the one-new-reference phase's edge: last layer → extra
	// midEdge is the mid-graph phase's edge, upstream → a stack of the middle layer, which
	// the one-removed-reference phase takes out again; below is how many stacks are below
	// its reader, which a new edge's read back walks.
	midEdge [2]string
	below   int
}

// setUpDAG seeds the DAG's stacks and the extra one (and, for benchFromReferences, one
// reference per edge) and returns the program.
func (r *benchRunner) setUpDAG() string {
	t, sc := r.t, r.sc
	require.Equal(t, sc.Layers*sc.Width, sc.Stacks, "%s: Stacks must be Layers × Width", sc.Name())
	edges := e2e.LayeredDAG(sc.Layers, sc.Width)
	r.dag = &benchDAG{edges: edges, reduced: e2e.TransitiveReduction(edges),
		newEdge: [2]string{e2e.DAGRef(sc.Layers-1, 0), e2e.DAGProject + "/" + benchExtraStack},
		midEdge: [2]string{e2e.DAGProject + "/" + benchUpstreamStack, e2e.DAGRef(sc.Layers/2, sc.Width/2)}}
	r.dag.below = len(benchBelow(edges, r.dag.midEdge[1]))
	upstreams := map[string]bool{}
	for _, e := range r.dag.reduced {
		upstreams[e[0]] = true
	}
	r.res = benchResult{Scenario: sc, Edges: len(edges), KeptEdges: len(r.dag.reduced),
		StacksWithWebhooks: len(upstreams), OrgStacks: sc.Stacks + 2, Runs: 1, Resources: 1, Below: r.dag.below}
	r.c.SeedDeployable(t, "org", e2e.DAGProject, append(e2e.DAGStacks(sc.Layers, sc.Width), benchExtraStack,
		benchUpstreamStack)...)
	switch sc.Mode {
	case benchDeploymentGraph:
		return benchEdgesProgram(e2e.DAGProject, edges, false)
	case benchFromReferences:
		for _, e := range edges {
			r.addReference(e)
		}
		return benchReferencesProgram(e2e.DAGProject)
	}
	t.Fatalf("%s: a DAG is one DeploymentGraph, declared (%s) or from references (%s)", sc.Name(),
		benchDeploymentGraph, benchFromReferences)
	return ""
}

// What a DAG's phases may cost, whatever its size (issue 27): requests beyond the phase's
// writes for a reference added at the last layer or removed, and all requests for a no-op.
const (
	benchRefRequests         = 60
	benchNoopRequests        = 30
	benchNoopPreviewRequests = 25
)

// benchDAGCostMisses checks that a DAG's costs follow what changed: a no-op up within
// benchNoopRequests and a no-op preview within benchNoopPreviewRequests; a new reference at
// the last layer, one mid-graph (whose reader has Below stacks below it, which the read back's
// loop check no longer walks: it searches from both ends and stops at the one that runs out
// first), and a removed one, within benchRefRequests beyond their writes. One line per miss.
func benchDAGCostMisses(r benchResult) []string {
	if r.Scenario.shape() != benchShapeDAG {
		return nil
	}
	var misses []string
	for _, p := range r.Phases {
		var ok bool
		var want string
		switch p.Name {
		case benchPhaseNoop:
			ok, want = p.Requests <= benchNoopRequests, fmt.Sprintf("at most %d requests", benchNoopRequests)
		case benchPhaseNoopPreview:
			ok, want = p.Requests <= benchNoopPreviewRequests, fmt.Sprintf("at most %d requests",
				benchNoopPreviewRequests)
		case benchPhaseNewRef, benchPhaseNewRefMid, benchPhaseRemovedRef:
			ok, want = p.Requests-p.Writes <= benchRefRequests, fmt.Sprintf("at most %d requests beyond its %d writes",
				benchRefRequests, p.Writes)
		default:
			continue
		}
		if !ok {
			misses = append(misses, fmt.Sprintf("%s %s: %d requests (%d writes, %d webhook lists), want %s (%s)",
				r.Scenario.Name(), p.Name, p.Requests, p.Writes, p.HookLists, want, benchRoutes(p.ByRoute)))
		}
	}
	return misses
}

// benchBelow is the stacks a path of edges leads to from ref, ref not included.
func benchBelow(edges [][2]string, ref string) map[string]bool {
	next := map[string][]string{}
	for _, e := range edges {
		next[e[0]] = append(next[e[0]], e[1])
	}
	below := map[string]bool{}
	queue := slices.Clone(next[ref])
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		if !below[at] {
			below[at] = true
			queue = append(queue, next[at]...)
		}
	}
	return below
}

// withNew is the DAG's edges as declared after the one-new-reference phase, with the
// mid-graph edge or not.
func (d *benchDAG) withNew(mid bool) [][2]string {
	edges := append(slices.Clone(d.edges), d.newEdge)
	if mid {
		edges = append(edges, d.midEdge)
	}
	return edges
}

// inPlace is the webhooks expected after create, with the new edges asked for.
func (d *benchDAG) inPlace(leaf, mid bool) [][2]string {
	edges := slices.Clone(d.reduced)
	if leaf {
		edges = append(edges, d.newEdge)
	}
	if mid {
		edges = append(edges, d.midEdge)
	}
	return edges
}

// changeReferences adds (or removes) edge: as a reference of its reader in a graph derived
// from references, else by writing the program with the edges declared.
func (r *benchRunner) changeReferences(edge [2]string, add bool, declared [][2]string) {
	r.t.Helper()
	switch {
	case r.sc.Mode != benchFromReferences:
		r.w.WriteProgram(benchEdgesProgram(e2e.DAGProject, declared, false))
	case add:
		r.addReference(edge)
	default:
		require.NoError(r.t, r.c.RemoveStackReference("org", e2e.DAGProject, benchStackName(r.t, edge[1]),
			e2e.DAGProject, benchStackName(r.t, edge[0])))
	}
}

// addReference records that edge's reader reads its upstream, both of the DAG's project.
func (r *benchRunner) addReference(edge [2]string) {
	r.t.Helper()
	require.NoError(r.t, r.c.AddStackReference("org", e2e.DAGProject, benchStackName(r.t, edge[1]),
		e2e.DAGProject, benchStackName(r.t, edge[0])))
}

// benchStackName is the stack of a project/stack ref of the DAG's project.
func benchStackName(t require.TestingT, ref string) string {
	stack, ok := strings.CutPrefix(ref, e2e.DAGProject+"/")
	require.True(t, ok && stack != "", "%q is not a stack of project %s", ref, e2e.DAGProject)
	return stack
}

func (r *benchRunner) runDAGPhase(name string) {
	t, c, d := r.t, r.c, r.dag
	t.Helper()
	up := []string{"up", "--yes", "--skip-preview"}
	switch name {
	case benchPhaseCreate:
		r.command(name, benchWritesPerNewEdge*len(d.reduced), up...)
		e2e.AssertWebhookEdges(t, c, d.reduced)
		r.recordStateSize()
	case benchPhaseRefresh:
		r.command(name, 0, "refresh", "--yes", "--skip-preview")
		e2e.AssertWebhookEdges(t, c, d.reduced)
	case benchPhaseNewRef, benchPhaseNewRefMid:
		edge := map[string][2]string{benchPhaseNewRef: d.newEdge, benchPhaseNewRefMid: d.midEdge}[name]
		r.changeReferences(edge, true, d.withNew(name == benchPhaseNewRefMid))
		r.command(name, benchWritesPerNewEdge, up...)
		e2e.AssertWebhookEdges(t, c, d.inPlace(true, name == benchPhaseNewRefMid))
	case benchPhaseRemovedRef:
		r.changeReferences(d.midEdge, false, d.withNew(false))
		r.command(name, benchWritesPerRemovedEdge, up...)
		e2e.AssertWebhookEdges(t, c, d.inPlace(true, false))
	case benchPhaseDestroy:
		r.destroy(len(d.reduced) + 1)
	default:
		t.Fatalf("%s: a DAG has no phase %q", r.sc.Name(), name)
	}
}

// benchDAGScenario is the layered DAG of layers × width stacks, one way, one latency.
func benchDAGScenario(mode string, layers, width int) benchScenario {
	return benchScenario{Mode: mode, Shape: benchShapeDAG, Stacks: layers * width, Layers: layers, Width: width}
}

// benchRoutes renders request counts by route, most first, routes shortened.
func benchRoutes(byRoute map[string]int) string {
	routes := slices.SortedFunc(maps.Keys(byRoute), func(a, b string) int {
		return cmp.Or(cmp.Compare(byRoute[b], byRoute[a]), cmp.Compare(a, b))
	})
	var parts []string
	for _, route := range routes {
		short := strings.Replace(route, "/api/stacks/{org}/{project}/{stack}", "{stack}", 1)
		parts = append(parts, fmt.Sprintf("%s %d", short, byRoute[route]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
