//go:build e2e

package relay_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// The impact plan (GET /v1/plan) against what the relay binary then deploys for that change, as the
// emulator recorded it. The graph below net has hubs (app fans out to five stacks, monitor joins
// three), diamonds (db and cache meet at app, app and api at web, with paths of unequal length to
// monitor), a stack above the graph that the change does not reach (other), and an alwaysDeploy
// branch (dns) that an update leaving net's outputs as they were still deploys, while the rest is
// skipped.
var planGraph = []string{
	"net>db", "net>cache", "net>dns!",
	"db>app", "cache>app", "db>api", "cache>worker", "dns>edgecfg",
	"app>web", "api>web", "app>svc1", "app>svc2", "app>svc3",
	"db>monitor", "app>monitor", "dns>monitor",
	"other>app",
}

func TestRelayDeploysWhatThePlanSays(t *testing.T) {
	parents := map[string][]string{}
	stacks := map[string]bool{}
	var specs []string
	for _, spec := range planGraph {
		from, to, _ := strings.Cut(spec, ">")
		child := strings.TrimSuffix(to, "!")
		stacks[from], stacks[child] = true, true
		parents[child] = append(parents[child], from)
		specs = append(specs, e2eProject+"/"+from+">"+e2eProject+"/"+to)
	}
	e := newEnv(t, slices.Sorted(maps.Keys(stacks))...)
	e.emu.RelayEdges(t, e2eOrg, e.relay.base, e2eSecret, specs...)
	p := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = e2eProject + "/" + n
		}
		return out
	}

	// No stack has deployed yet: every estimate is the default, so the order within a wave is the
	// work below each stack, then the name.
	plan := e.plan("net")
	assert.Equal(t, [][]string{
		p("cache", "db", "dns"),
		p("api", "app", "edgecfg", "worker"),
		p("monitor", "svc1", "svc2", "svc3", "web"),
	}, plan.Waves)
	assert.Equal(t, p("cache", "app", "monitor"), plan.CriticalPath)
	assert.Equal(t, 3.0*edge.DefaultEstimateSeconds, plan.EstimatedSeconds)
	assert.Equal(t, p("cache", "db", "api", "app", "worker", "svc1", "svc2", "svc3", "web"), plan.SkippedIfUnchanged)

	// A change of net's outputs, every deployment changing its stack's outputs too.
	e.setOutputs(stacks, 1)
	before := e.deploymentCounts(stacks)
	e.fire("net", map[string]any{"v": 1}, nil)
	e.settle("net")
	actual := e.actualWaves(stacks, parents, before)
	t.Logf("a change of net's outputs, planned and actual:\n%s", compareWaves(plan.Waves, actual))
	assert.Equal(t, sortedWaves(plan.Waves), sortedWaves(actual), "the same stacks, in the same waves")

	// An update of net that leaves its outputs as they were: only the alwaysDeploy branch deploys, and
	// what it reaches. The plan, read again now that stacks have a history, skips the same stacks.
	plan = e.plan("net")
	e.setOutputs(stacks, 2)
	before = e.deploymentCounts(stacks)
	e.fire("net", nil, nil)
	e.settle("net")
	var deployed, skipped []string
	for _, s := range slices.Concat(plan.Waves...) {
		if len(e.deployments(strings.TrimPrefix(s, e2eProject+"/"))) > before[strings.TrimPrefix(s, e2eProject+"/")] {
			deployed = append(deployed, s)
		} else {
			skipped = append(skipped, s)
		}
	}
	t.Logf("an update of net with the same outputs: deployed %v, skipped %v; planned skipped %v", deployed, skipped,
		plan.SkippedIfUnchanged)
	assert.Equal(t, p("dns", "edgecfg", "monitor"), deployed, "the alwaysDeploy branch deploys, and what it reaches")
	assert.ElementsMatch(t, plan.SkippedIfUnchanged, skipped, "the relay skips what the plan says it skips")
}

// plan asks the relay's GET /v1/plan what a change of p/stack would deploy.
func (e *e2eEnv) plan(stack string) edge.Plan {
	e.t.Helper()
	resp, err := http.Get(e.relay.base + "/v1/plan?organization=" + e2eOrg + "&stack=" + e2eProject + "/" + stack)
	require.NoError(e.t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	var plan edge.Plan
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&plan))
	return plan
}

// setOutputs makes every stack's next successful deployment leave outputs {"run": run}.
func (e *e2eEnv) setOutputs(stacks map[string]bool, run int) {
	e.t.Helper()
	for s := range stacks {
		e.behave(s, emulator.DeploymentBehaviour{Outputs: &emulator.StackOutputs{Plain: map[string]any{"run": run}}})
	}
}

func (e *e2eEnv) deploymentCounts(stacks map[string]bool) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for s := range stacks {
		out[s] = len(e.deployments(s))
	}
	return out
}

// settle waits until the relay lists a new cascade rooted at p/root, none is running and the
// emulator is idle.
func (e *e2eEnv) settle(root string) {
	e.t.Helper()
	rooted := func() (n int, running bool) {
		for _, c := range e.cascades() {
			if c.Root == e2eOrg+"/"+e2eProject+"/"+root {
				n++
			}
			running = running || c.State == "running"
		}
		return n, running
	}
	before, _ := rooted()
	e.waitFor("the cascade of "+root+" to end", func() bool {
		n, running := rooted()
		return n > before && !running && e.emu.Idle()
	})
}

// actualWaves derives the waves from the emulator's records of the deployments made since before: a
// stack's wave is 1 + the highest wave among the deployed stacks above it, each of which must have
// ended before it started. Each stack deploys at most once.
func (e *e2eEnv) actualWaves(stacks map[string]bool, parents map[string][]string, before map[string]int) [][]string {
	e.t.Helper()
	run := map[string]emulator.Deployment{}
	for s := range stacks {
		ds := e.deployments(s)[before[s]:]
		require.LessOrEqual(e.t, len(ds), 1, "%s deployed more than once", s)
		if len(ds) == 1 {
			run[s] = ds[0]
		}
	}
	wave := map[string]int{}
	var waveOf func(s string) int
	var above func(s string, seen map[string]bool)
	above = func(s string, seen map[string]bool) {
		for _, p := range parents[s] {
			if !seen[p] {
				seen[p] = true
				above(p, seen)
			}
		}
	}
	waveOf = func(s string) int {
		if w, ok := wave[s]; ok {
			return w
		}
		ancestors := map[string]bool{}
		above(s, ancestors)
		w := 1
		for a := range ancestors {
			if _, ok := run[a]; !ok {
				continue
			}
			assert.Less(e.t, run[a].EndOrder, run[s].StartOrder, "%s started before %s above it ended", s, a)
			w = max(w, waveOf(a)+1)
		}
		wave[s] = w
		return w
	}
	var waves [][]string
	for _, s := range slices.Sorted(maps.Keys(run)) {
		w := waveOf(s)
		for len(waves) < w {
			waves = append(waves, nil)
		}
		waves[w-1] = append(waves[w-1], e2eProject+"/"+s)
	}
	return waves
}

// sortedWaves is waves with each wave's stacks by name: without --max-deployments the relay starts a
// wave's stacks at once, so their order within it is not observed.
func sortedWaves(waves [][]string) [][]string {
	out := make([][]string, len(waves))
	for i, w := range waves {
		out[i] = slices.Sorted(slices.Values(w))
	}
	return out
}

// compareWaves prints the planned and actual waves side by side.
func compareWaves(planned, actual [][]string) string {
	var b strings.Builder
	for i := range max(len(planned), len(actual)) {
		var p, a []string
		if i < len(planned) {
			p = planned[i]
		}
		if i < len(actual) {
			a = sortedWaves(actual)[i]
		}
		fmt.Fprintf(&b, "  wave %d  planned (start order) %v\n          actual (by name)      %v\n", i+1, p, a)
	}
	return b.String()
}
