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

// raceOutcome is what one program's `pulumi up` did.
type raceOutcome struct {
	out string
	err error
}

// upTogether runs `pulumi up` in both workspaces at once.
func upTogether(first, second *workspace) (raceOutcome, raceOutcome) {
	var a, b raceOutcome
	var wg sync.WaitGroup
	wg.Go(func() { a.out, a.err = first.run("up", "--yes", "--skip-preview") })
	wg.Go(func() { b.out, b.err = second.run("up", "--yes", "--skip-preview") })
	wg.Wait()
	return a, b
}

// refused reports whether a failed up said why: a check before its write, or its read back.
func refused(o raceOutcome, reasons ...string) bool {
	for _, r := range reasons {
		if strings.Contains(o.out, r) {
			return true
		}
	}
	return false
}

// TestRaceForALoop: one program adds m → n with a DeploymentGraph while another adds n → m
// with an AutoDeployer, at once, with 150 ms of API latency. No round leaves a loop; a
// program that failed says why, and running it again afterwards succeeds for exactly one
// of the two programs, since the other's edge is in place by then.
func TestRaceForALoop(t *testing.T) {
	t.Parallel()
	for round := range raceRounds {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			t.Parallel()
			c := refCloud(t, "race", "m", "n")
			graph := newProgramWorkspace(t, "name: one\nruntime: yaml\nresources:\n  graph:\n    type: "+
				"auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n        "+
				"race/m: [race/n]\n", c)
			deployer := newProgramWorkspace(t, "name: two\nruntime: yaml\nresources:\n  n:\n    type: "+
				"auto-deploy:AutoDeployer\n    properties: {organization: org, project: race, stack: n, "+
				"downstreamRefs: [race/m]}\n", c)
			c.SetFaults(emulator.Faults{Latency: raceLatency})
			a, b := upTogether(graph, deployer)
			c.SetFaults(emulator.Faults{})
			hooks := edgeOwners(c)
			t.Logf("round %d: graph err=%v, deployer err=%v, edges after the race: %v", round, a.err, b.err,
				keys(hooks))
			assert.False(t, len(hooks["m → race/n"]) > 0 && len(hooks["n → race/m"]) > 0, "a loop survived")
			for _, o := range []raceOutcome{a, b} {
				if o.err != nil {
					assert.True(t, refused(o, "would create a deployment cycle", "was written and undone: it now "+
						"closes the deployment cycle"), "a failed up says why:\n%s", o.out)
				}
			}
			// Each program that failed runs again: exactly one of the two edges ends in place.
			if a.err != nil {
				a.out, a.err = graph.run("up", "--yes", "--skip-preview")
			}
			if b.err != nil {
				b.out, b.err = deployer.run("up", "--yes", "--skip-preview")
			}
			assert.True(t, (a.err == nil) != (b.err == nil), "exactly one program succeeds: graph %v, deployer %v",
				a.err, b.err)
			hooks = edgeOwners(c)
			assert.Len(t, hooks, 1, "one edge: %v", keys(hooks))
			result, err := c.FireUpdate("org", "race", "m")
			require.NoError(t, err)
			assert.False(t, result.Truncated, "an update of m ends")
			assert.LessOrEqual(t, len(result.Deployments), 1)
		})
	}
}

// TestRaceForOneEdge: a Webhook resource in one program and a DeploymentGraph in another
// both declare a → b, at once, with 150 ms of API latency. No round leaves b deploying
// twice; after running the failed programs again, exactly one webhook deploys b.
func TestRaceForOneEdge(t *testing.T) {
	t.Parallel()
	for round := range raceRounds {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			t.Parallel()
			c := refCloud(t, "race", "a", "b")
			webhook := newProgramWorkspace(t, `name: one
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
`, c)
			graph := newProgramWorkspace(t, "name: two\nruntime: yaml\nresources:\n  graph:\n    type: "+
				"auto-deploy:DeploymentGraph\n    properties:\n      organization: org\n      edges:\n        "+
				"race/a: [race/b]\n", c)
			c.SetFaults(emulator.Faults{Latency: raceLatency})
			a, b := upTogether(webhook, graph)
			c.SetFaults(emulator.Faults{})
			hooks := edgeOwners(c)
			t.Logf("round %d: webhook err=%v, graph err=%v, webhooks a → b after the race: %d", round, a.err, b.err,
				len(hooks["a → race/b"]))
			assert.LessOrEqual(t, len(hooks["a → race/b"]), 1, "b deploys twice: %v", hooks)
			for _, o := range []raceOutcome{a, b} {
				if o.err != nil {
					assert.True(t, refused(o, "already made by an auto-deploy Webhook resource",
						"already exists in Pulumi Cloud", "was written and undone: "+
							"it now doubles"), "a failed up says why:\n%s", o.out)
				}
			}
			if a.err != nil {
				a.out, a.err = webhook.run("up", "--yes", "--skip-preview")
			}
			if b.err != nil {
				b.out, b.err = graph.run("up", "--yes", "--skip-preview")
			}
			assert.True(t, (a.err == nil) != (b.err == nil), "exactly one program succeeds: webhook %v, graph %v",
				a.err, b.err)
			assert.Len(t, edgeOwners(c)["a → race/b"], 1)
			result, err := c.FireUpdate("org", "race", "a")
			require.NoError(t, err)
			assert.Equal(t, []string{"race/b"}, deployedStacks(result), "b deploys once")
		})
	}
}
