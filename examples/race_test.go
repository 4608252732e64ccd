//go:build e2e

package examples

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// raceLatency is added to every API request in the races, as a real Pulumi Cloud's round
// trips would: long enough that both programs pass their checks before either writes.
const raceLatency = 150 * time.Millisecond

// raceRounds is how many times each race is run; each round has a Pulumi Cloud of its own.
const raceRounds = 4

// inRaceRounds runs race raceRounds times, as parallel subtests, each round with a Pulumi Cloud of its
// own that holds the stacks of project race.
func inRaceRounds(t *testing.T, stacks []string, race func(t *testing.T, round int, c *cloud)) {
	t.Helper()
	for round := range raceRounds {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			t.Parallel()
			race(t, round, refCloud(t, "race", stacks...))
		})
	}
}

// raceOutcome is one program of a race, named for messages, and what its last `pulumi up` did.
type raceOutcome struct {
	name string
	w    *workspace
	out  string
	err  error
}

// raceProgram is the program of a race called name, in a workspace of its own on c.
func raceProgram(t *testing.T, c *cloud, name, program string) *raceOutcome {
	t.Helper()
	return &raceOutcome{name: name, w: newProgramWorkspace(t, program, c)}
}

// up runs `pulumi up` in the program's workspace and keeps what it did.
func (o *raceOutcome) up() {
	o.out, o.err = o.w.run("up", "--yes", "--skip-preview")
}

// upTogether runs `pulumi up` in both workspaces at once, with raceLatency added to every API request
// of c while they run.
func upTogether(c *cloud, a, b *raceOutcome) {
	c.SetFaults(emulator.Faults{Latency: raceLatency})
	var wg sync.WaitGroup
	wg.Go(a.up)
	wg.Go(b.up)
	wg.Wait()
	c.SetFaults(emulator.Faults{})
}

// refused reports whether a failed up said why: a check before its write, or its read back.
func refused(o *raceOutcome, reasons ...string) bool {
	for _, r := range reasons {
		if strings.Contains(o.out, r) {
			return true
		}
	}
	return false
}

// settleRace checks that each program that failed the race said why, with one of reasons, and runs it
// again: then exactly one of the two has succeeded, since the other's edge is in place by then.
func settleRace(t *testing.T, a, b *raceOutcome, reasons ...string) {
	t.Helper()
	for _, o := range []*raceOutcome{a, b} {
		if o.err != nil {
			assert.True(t, refused(o, reasons...), "a failed up says why:\n%s", o.out)
			o.up()
		}
	}
	assert.True(t, (a.err == nil) != (b.err == nil), "exactly one program succeeds: %s %v, %s %v",
		a.name, a.err, b.name, b.err)
}

// TestRaceForALoop: one program adds m → n with a DeploymentGraph while another adds n → m
// with an AutoDeployer, at once, with 150 ms of API latency. No round leaves a loop; a
// program that failed says why, and running it again afterwards succeeds for exactly one
// of the two programs, since the other's edge is in place by then.
func TestRaceForALoop(t *testing.T) {
	t.Parallel()
	inRaceRounds(t, []string{"m", "n"}, func(t *testing.T, round int, c *cloud) {
		graph := raceProgram(t, c, "graph", "name: one\nruntime: yaml\nresources:\n  graph:\n    type: "+
			"auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n        "+
			"race/m: [race/n]\n")
		deployer := raceProgram(t, c, "deployer", "name: two\nruntime: yaml\nresources:\n  n:\n    type: "+
			"auto-deploy:AutoDeployer\n    properties: {organization: org, project: race, stack: n, "+
			"downstreamRefs: [race/m]}\n")
		upTogether(c, graph, deployer)
		hooks := edgeOwners(c)
		t.Logf("round %d: graph err=%v, deployer err=%v, edges after the race: %v", round, graph.err,
			deployer.err, keys(hooks))
		assert.False(t, len(hooks["m → race/n"]) > 0 && len(hooks["n → race/m"]) > 0, "a loop survived")
		settleRace(t, graph, deployer, "would create a deployment cycle",
			"was written and undone: it now closes the deployment cycle")
		hooks = edgeOwners(c)
		assert.Len(t, hooks, 1, "one edge: %v", keys(hooks))
		result, err := c.FireUpdate("org", "race", "m")
		require.NoError(t, err)
		assert.False(t, result.Truncated, "an update of m ends")
		assert.LessOrEqual(t, len(result.Deployments), 1)
	})
}

// TestRaceForOneEdge: a Webhook resource in one program and a DeploymentGraph in another
// both declare a → b, at once, with 150 ms of API latency. No round leaves b deploying
// twice; after running the failed programs again, exactly one webhook deploys b.
func TestRaceForOneEdge(t *testing.T) {
	t.Parallel()
	inRaceRounds(t, []string{"a", "b"}, func(t *testing.T, round int, c *cloud) {
		webhook := raceProgram(t, c, "webhook", `name: one
runtime: yaml
resources:
  deployB:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: race
      stackName: a
      format: pulumi_deployments
      payloadUrl: race/b
      active: true
      displayName: deploy b
      filters: [update_succeeded]
`)
		graph := raceProgram(t, c, "graph", "name: two\nruntime: yaml\nresources:\n  graph:\n    type: "+
			"auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n        "+
			"race/a: [race/b]\n")
		upTogether(c, webhook, graph)
		hooks := edgeOwners(c)
		t.Logf("round %d: webhook err=%v, graph err=%v, webhooks a → b after the race: %d", round, webhook.err,
			graph.err, len(hooks["a → race/b"]))
		assert.LessOrEqual(t, len(hooks["a → race/b"]), 1, "b deploys twice: %v", hooks)
		settleRace(t, webhook, graph, "already made by an auto-deploy Webhook resource",
			"already exists in Pulumi Cloud", "was written and undone: it now doubles")
		assert.Len(t, edgeOwners(c)["a → race/b"], 1)
		result, err := c.FireUpdate("org", "race", "a")
		require.NoError(t, err)
		assert.Equal(t, []string{"race/b"}, deployedStacks(result), "b deploys once")
	})
}
