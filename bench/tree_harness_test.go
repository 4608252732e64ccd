//go:build e2e

package bench

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The tree's side of the harness: e2e's tree of stacks declared the four ways (one
// AutoDeployer per stack, one Webhook per edge, one DeploymentGraph, one DeploymentGraph
// from StackReferences), taken through an optional preview, create, no-op up, refresh,
// remove one ref, reorder refs and destroy.

// setUpTree seeds the tree's stacks (and, for benchFromReferences, one reference per
// edge) and returns the program.
func (r *benchRunner) setUpTree() string {
	t, sc := r.t, r.sc
	r.edges = e2e.TreeEdges(sc.Stacks, sc.Fanout)
	parents := map[int]bool{}
	for _, e := range r.edges {
		parents[e[0]] = true
	}
	r.res = benchResult{Scenario: sc, Edges: len(r.edges), KeptEdges: len(r.edges), StacksWithWebhooks: len(parents),
		OrgStacks: sc.Stacks, Runs: 1, Resources: sc.Stacks}

	// TreeProgram seeds the stacks either way; the other ways replace its text.
	program := e2e.TreeProgram(t, r.c, sc.Stacks, sc.Fanout)
	switch sc.Mode {
	case benchWebhookPerEdge:
		for _, e := range r.edges {
			r.blocks = append(r.blocks, benchWebhookBlock(e))
		}
		program = benchWebhookProgram(r.blocks)
		r.res.Resources = len(r.edges)
	case benchDeploymentGraph:
		program = benchGraphProgram(r.edges, false)
		r.res.Resources = 1
	case benchFromReferences:
		for _, e := range r.edges {
			require.NoError(t, r.c.AddStackReference("org", "tree", fmt.Sprintf("s%d", e[1]), "tree",
				fmt.Sprintf("s%d", e[0])))
		}
		program = benchReferencesProgram("tree")
		r.res.Resources = 1
	}
	return program
}

func (r *benchRunner) runTreePhase(name string) {
	t, w, c := r.t, r.w, r.c
	t.Helper()
	up := []string{"up", "--yes", "--skip-preview"}
	switch name {
	case benchPhaseCreate:
		r.command(name, benchWritesPerNewEdge*len(r.edges), up...)
		e2e.AssertTree(t, c, r.sc.Stacks, r.sc.Fanout)
		r.recordStateSize()
	case benchPhaseRefresh:
		r.command(name, 0, "refresh", "--yes", "--skip-preview")
	case benchPhaseRemove:
		// The last edge goes: one ref line, one Webhook block, or one element of the graph.
		switch r.sc.Mode {
		case benchWebhookPerEdge:
			r.blocks = r.blocks[:len(r.blocks)-1]
			w.WriteProgram(benchWebhookProgram(r.blocks))
		case benchDeploymentGraph:
			w.WriteProgram(benchGraphProgram(r.edges[:len(r.edges)-1], false))
		case benchFromReferences:
			last := r.edges[len(r.edges)-1]
			require.NoError(t, c.RemoveStackReference("org", "tree", fmt.Sprintf("s%d", last[1]), "tree",
				fmt.Sprintf("s%d", last[0])))
		default:
			w.Edit(fmt.Sprintf("        - ${s%d.ref}\n", r.edges[len(r.edges)-1][1]), "")
		}
		r.command(name, benchWritesPerRemovedEdge, up...)
		require.Len(t, withoutMarks(c.Webhooks()), len(r.edges)-1)
	case benchPhaseReorder:
		// Every refs list reversed, or every Webhook block in reverse order.
		switch r.sc.Mode {
		case benchWebhookPerEdge:
			slices.Reverse(r.blocks)
			w.WriteProgram(benchWebhookProgram(r.blocks))
		case benchDeploymentGraph:
			w.WriteProgram(benchGraphProgram(r.edges[:len(r.edges)-1], true))
		case benchFromReferences: // nothing to reorder: the run reads the same references again
		default:
			w.WriteProgram(benchReverseRefLists(w.ReadProgram()))
		}
		r.command(name, 0, append(up, "--expect-no-changes")...)
	case benchPhaseDestroy:
		r.destroy(len(r.edges) - 1)
	default:
		t.Fatalf("%s: a tree has no phase %q", r.sc.Name(), name)
	}
}

// benchGraphProgram is the tree's edges as one DeploymentGraph, each upstream's list in
// order, or reversed.
func benchGraphProgram(edges [][2]int, reversed bool) string {
	refs := make([][2]string, len(edges))
	for i, e := range edges {
		refs[i] = [2]string{fmt.Sprintf("tree/s%d", e[0]), fmt.Sprintf("tree/s%d", e[1])}
	}
	return benchEdgesProgram("tree", refs, reversed)
}

// benchWebhookBlock is one edge as the seed's first way declares it: a Webhook resource.
func benchWebhookBlock(e [2]int) string {
	return fmt.Sprintf(`  deploy-s%[1]d-s%[2]d:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: tree
      stackName: s%[1]d
      format: pulumi_deployments
      payloadUrl: tree/s%[2]d
      active: true
      displayName: deploy s%[2]d after s%[1]d
      filters:
        - update_succeeded
`, e[0], e[1])
}

func benchWebhookProgram(blocks []string) string {
	return "name: tree\nruntime: yaml\nresources:\n" + strings.Join(blocks, "")
}

var benchRefLine = regexp.MustCompile(`^        - \$\{s\d+\.ref\}$`)

// benchReverseRefLists reverses every AutoDeployer's downstreamRefs list in a treeProgram.
func benchReverseRefLists(program string) string {
	lines := strings.Split(program, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && benchRefLine.MatchString(lines[j]) {
			j++
		}
		if j > i {
			slices.Reverse(lines[i:j])
			i = j
		} else {
			i++
		}
	}
	return strings.Join(lines, "\n")
}
