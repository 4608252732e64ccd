//go:build e2e

package examples

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// Programs that run `pulumi up` at once, two to four of them, each declaring edges that
// conflict with the others' (a loop, a doubled edge, one webhook name): every round, with
// API latency so that most pass their checks before any writes, at least one program
// succeeds, the edges in Pulumi Cloud are exactly those the winners declare, each once and
// in place, and every loser's message names an edge that stays, which is there (a loser
// whose checks ran after a winner had finished is refused before writing, naming it).
// Nobody runs anything again.

// raceLatency is added to every API request in the races, as a real Pulumi Cloud's round
// trips would: long enough that all programs pass their checks before any writes.
const raceLatency = 150 * time.Millisecond

// raceRounds is how many times each race is run; each round has a Pulumi Cloud of its own.
const raceRounds = 4

// raceWriter is one program of a race and what its `pulumi up` did.
type raceWriter struct {
	name    string
	program string
	// edges are the edges it declares, as edgeOwners names them: "a → race/b".
	edges []string
	w     *workspace
	out   string
	err   error
}

// graphWriter is a program named name of one DeploymentGraph declaring edges of project
// race, given as "a → b".
func graphWriter(name string, edges ...string) raceWriter {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nruntime: yaml\nresources:\n  graph:\n    type: auto-deploy:DeploymentGraph\n"+
		"    properties:\n      organization: org\n      edges:\n", name)
	var declared, sources []string
	targets := map[string][]string{}
	for _, e := range edges {
		from, to, _ := strings.Cut(e, " → ")
		if targets[from] == nil {
			sources = append(sources, from)
		}
		targets[from] = append(targets[from], "race/"+to)
		declared = append(declared, from+" → race/"+to)
	}
	for _, from := range sources {
		fmt.Fprintf(&b, "        race/%s: [%s]\n", from, strings.Join(targets[from], ", "))
	}
	return raceWriter{name: name, program: b.String(), edges: declared}
}

// deployerWriter is a program named name of one AutoDeployer on race/from deploying race/to.
func deployerWriter(name, from, to string) raceWriter {
	return raceWriter{name: name, edges: []string{from + " → race/" + to}, program: fmt.Sprintf("name: %s\n"+
		"runtime: yaml\nresources:\n  deployer:\n    type: auto-deploy:AutoDeployer\n    properties: "+
		"{organization: org, project: race, stack: %s, downstreamRefs: [race/%s]}\n", name, from, to)}
}

// webhookWriter is a program named name of one Webhook resource on race/from deploying race/to.
func webhookWriter(name, from, to string) raceWriter {
	return raceWriter{name: name, edges: []string{from + " → race/" + to}, program: fmt.Sprintf(`name: %s
runtime: yaml
resources:
  deploy:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: race
      stackName: %s
      format: pulumi_deployments
      payloadUrl: race/%s
      active: true
      displayName: deploy %s
      filters: [update_succeeded]
`, name, from, to, to)}
}

// race runs the writers' `pulumi up`s at once, raceRounds times, each round on a Pulumi
// Cloud of its own holding the stacks of project race, and checks each round converged.
func race(t *testing.T, stacks []string, writers ...raceWriter) {
	t.Helper()
	raceOver(t, stacks, nil, writers...)
}

// raceOver is race with base's edges put in place before each round (by its own `pulumi
// up`, alone), which the racing writers' loops run through.
func raceOver(t *testing.T, stacks []string, base *raceWriter, writers ...raceWriter) {
	t.Helper()
	for round := range raceRounds {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			t.Parallel()
			c := refCloud(t, "race", stacks...)
			var kept []string
			if base != nil {
				newProgramWorkspace(t, base.program, c).pulumi("up", "--yes", "--skip-preview")
				kept = base.edges
			}
			ws := slices.Clone(writers)
			for i := range ws {
				ws[i].w = newProgramWorkspace(t, ws[i].program, c)
			}
			c.SetFaults(emulator.Faults{Latency: raceLatency})
			var wg sync.WaitGroup
			for i := range ws {
				wg.Go(func() { ws[i].out, ws[i].err = ws[i].w.run("up", "--yes", "--skip-preview") })
			}
			wg.Wait()
			c.SetFaults(emulator.Faults{})
			assertConverged(t, round, c, ws, kept)
		})
	}
}

// webhookName finds the webhooks a message names.
var webhookName = regexp.MustCompile(`webhook "?(autodeploy-[0-9a-z-]+)`)

// refusedBefore is how a program that ran its checks after a winner had finished is
// refused before writing, naming the webhook in place (and its owner).
var refusedBefore = regexp.MustCompile(`already exists in Pulumi Cloud and is owned by \S+ \(webhook "[^"]+"|` +
	`is already made by an auto-deploy Webhook resource \(webhook "[^"]+"`)

// staying is the webhooks a loser's message says stay: those of the clause before
// "stays", or, when that is "that webhook", of the clause before it; or the webhook a
// refusal before writing names.
func staying(line string) []string {
	head, _, ok := strings.Cut(line, " stays, because ")
	var clause string
	switch {
	case ok:
		i := strings.LastIndex(head, "; ")
		clause = head[i+2:]
		if clause == "that webhook" {
			clause = head[:max(i, 0)]
		}
	default:
		clause = refusedBefore.FindString(line)
	}
	var out []string
	for _, m := range webhookName.FindAllStringSubmatch(clause, -1) {
		out = append(out, m[1])
	}
	return out
}

// assertConverged checks a round's end: a winner; exactly the winners' edges in place
// (with kept, those in place before the race), each once, each marked on its target once
// and no mark left by a loser; each loser's message naming webhooks that stay, which are
// there.
func assertConverged(t *testing.T, round int, c *cloud, writers []raceWriter, kept []string) {
	t.Helper()
	want := slices.Clone(kept)
	var winners []string
	for _, w := range writers {
		if w.err == nil {
			winners = append(winners, w.name)
			want = append(want, w.edges...)
		}
	}
	got := edgeOwners(c)
	names := map[string]bool{}
	for _, h := range withoutMarks(c.Webhooks()) {
		names[h.Name] = true
		assert.True(t, h.Active && !strings.HasPrefix(h.DisplayName, "auto-deploy (pending)"),
			"round %d: %s on %s is in place: %+v", round, h.Name, h.Stack, h)
	}
	t.Logf("round %d: winners %v, edges %v", round, winners, keys(got))
	assert.NotEmpty(t, winners, "round %d: at least one program succeeds", round)
	assert.ElementsMatch(t, want, keys(got), "round %d: exactly the winners' edges, each declared once", round)
	for e, hooks := range got {
		assert.Len(t, hooks, 1, "round %d: %s once", round, e)
	}
	assert.ElementsMatch(t, keys(got), markedEdges(c), "round %d: each edge marked once, and no other mark", round)
	assert.Empty(t, edge.Cycles(graphOf(keys(got))), "round %d: no loop in place", round)
	for _, w := range writers {
		if w.err == nil {
			continue
		}
		line := loserLine(w.out)
		t.Logf("round %d: %s lost: %s", round, w.name, line)
		assert.NotContains(t, w.out, "owns it now")
		stays := staying(line)
		assert.NotEmpty(t, stays, "round %d: %s's message names the edge that stays:\n%s", round, w.name, w.out)
		for _, name := range stays {
			assert.True(t, names[name], "round %d: %s says %s stays, and it is there", round, w.name, name)
		}
	}
}

// graphOf is edges ("a → race/b") as an edge.Graph.
func graphOf(edges []string) edge.Graph {
	g := edge.Graph{}
	for _, e := range edges {
		from, to, _ := strings.Cut(e, " → race/")
		g.Add(from, to, false)
	}
	return g
}

// loserLine is the line of a failed up's output that says why an edge was not kept.
func loserLine(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " stays, because ") || refusedBefore.MatchString(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// TestRaceTwoWritersForALoop: a DeploymentGraph adds m → n while an AutoDeployer of
// another program adds n → m.
func TestRaceTwoWritersForALoop(t *testing.T) {
	t.Parallel()
	race(t, []string{"m", "n"}, graphWriter("one", "m → n"), deployerWriter("two", "n", "m"))
}

// TestRaceTwoWritersForOneEdge: a Webhook resource and a DeploymentGraph of two programs
// both declare a → b.
func TestRaceTwoWritersForOneEdge(t *testing.T) {
	t.Parallel()
	race(t, []string{"a", "b"}, webhookWriter("one", "a", "b"), graphWriter("two", "a → b"))
}

// TestRaceThreeWritersForACycle: three DeploymentGraphs of three programs each add one
// edge of x → y → z → x: one or two of them win, never all three.
func TestRaceThreeWritersForACycle(t *testing.T) {
	t.Parallel()
	race(t, []string{"x", "y", "z"}, graphWriter("one", "x → y"), graphWriter("two", "y → z"),
		graphWriter("three", "z → x"))
}

// TestRaceFourWriters: a → b declared by a Webhook resource and by two DeploymentGraphs
// (whose webhooks share one name), and b → a by an AutoDeployer: every pair conflicts.
func TestRaceFourWriters(t *testing.T) {
	t.Parallel()
	race(t, []string{"a", "b"}, webhookWriter("one", "a", "b"), graphWriter("two", "a → b"),
		graphWriter("three", "a → b"), deployerWriter("four", "b", "a"))
}

// TestRaceForALoopBelowAWideStack: d deploys x and 20 other stacks (in place before the
// race); one program adds u → d while another adds x → u, closing u → d → x → u. The read
// backs search from both ends of each new edge, and stop at the end that runs out first:
// for u → d, above u (through the marks) rather than d's 21 stacks below. One of the two
// wins, never both.
func TestRaceForALoopBelowAWideStack(t *testing.T) {
	t.Parallel()
	stacks := []string{"u", "d", "x"}
	below := []string{"d → x"}
	for i := range 20 {
		stacks = append(stacks, fmt.Sprintf("w%02d", i))
		below = append(below, fmt.Sprintf("d → w%02d", i))
	}
	base := graphWriter("base", below...)
	raceOver(t, stacks, &base, graphWriter("one", "u → d"), deployerWriter("two", "x", "u"))
}

// TestRaceIsOnlyInTheWay: two programs writing at once whose edges do not conflict both
// succeed: the read back costs no one an edge.
func TestRaceIsOnlyInTheWay(t *testing.T) {
	t.Parallel()
	c := refCloud(t, "race", "a", "b", "c")
	one, two := graphWriter("one", "a → b"), graphWriter("two", "b → c")
	one.w, two.w = newProgramWorkspace(t, one.program, c), newProgramWorkspace(t, two.program, c)
	c.SetFaults(emulator.Faults{Latency: raceLatency})
	var wg sync.WaitGroup
	wg.Go(func() { one.out, one.err = one.w.run("up", "--yes", "--skip-preview") })
	wg.Go(func() { two.out, two.err = two.w.run("up", "--yes", "--skip-preview") })
	wg.Wait()
	c.SetFaults(emulator.Faults{})
	require.NoError(t, one.err, one.out)
	require.NoError(t, two.err, two.out)
	result, err := c.FireUpdate("org", "race", "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"race/b", "race/c"}, deployedStacks(result))
}
