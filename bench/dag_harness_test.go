//go:build e2e

package bench

import (
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

// benchDAG is what a DAG scenario's phases check against.
type benchDAG struct {
	edges   [][2]string // upstream → reader, project/stack, as declared or referenced
	reduced [][2]string // those no longer path implies: the webhooks after create
	newEdge [2]string   // the one-new-reference phase's edge: last layer → extra
}

// setUpDAG seeds the DAG's stacks and the extra one (and, for benchFromReferences, one
// reference per edge) and returns the program.
func (r *benchRunner) setUpDAG() string {
	t, sc := r.t, r.sc
	require.Equal(t, sc.Layers*sc.Width, sc.Stacks, "%s: Stacks must be Layers × Width", sc.Name())
	edges := e2e.LayeredDAG(sc.Layers, sc.Width)
	r.dag = &benchDAG{edges: edges, reduced: e2e.TransitiveReduction(edges),
		newEdge: [2]string{e2e.DAGRef(sc.Layers-1, 0), e2e.DAGProject + "/" + benchExtraStack}}
	upstreams := map[string]bool{}
	for _, e := range r.dag.reduced {
		upstreams[e[0]] = true
	}
	r.res = benchResult{Scenario: sc, Edges: len(edges), KeptEdges: len(r.dag.reduced),
		StacksWithWebhooks: len(upstreams), OrgStacks: sc.Stacks + 1, Runs: 1, Resources: 1}
	r.c.SeedDeployable(t, "org", e2e.DAGProject, append(e2e.DAGStacks(sc.Layers, sc.Width), benchExtraStack)...)
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
		r.command(name, len(d.reduced), up...)
		e2e.AssertWebhookEdges(t, c, d.reduced)
		r.recordStateSize()
	case benchPhaseRefresh:
		r.command(name, 0, "refresh", "--yes", "--skip-preview")
		e2e.AssertWebhookEdges(t, c, d.reduced)
	case benchPhaseNewRef:
		if r.sc.Mode == benchFromReferences {
			r.addReference(d.newEdge)
		} else {
			r.w.WriteProgram(benchEdgesProgram(e2e.DAGProject, append(d.edges[:len(d.edges):len(d.edges)],
				d.newEdge), false))
		}
		r.command(name, 1, up...)
		e2e.AssertWebhookEdges(t, c, append(d.reduced[:len(d.reduced):len(d.reduced)], d.newEdge))
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
