//go:build e2e

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The cascade relay at scale: a layered DAG below one root stack, whose update starts a
// cascade in which every stack changes its outputs, so the relay deploys every one of them.
// The graph is made of relay webhooks created straight through the emulator's API under the
// relay's edge contract (package edge), as the provider would make
// them: the root has an edge to each stack of layer 0, and each stack of layer L ≥ 1 has 2 or
// 3 parents in layer L-1. Every deployment takes the same fixed time in the emulator (timed
// mode), and the root's update is recorded in-process with new outputs, which fires its
// update event to the relay at a known moment.
//
// Each cascade is measured from the root's event to the end of the last deployment, against
// the critical path: layers × deployment duration, the least time the deployments take when
// each starts the moment its last parent ends. The harness checks that every stack deployed
// exactly once per cascade and that each started after all its parents' deployments ended
// (the emulator numbers starts and ends in one sequence), and records the relay's peak RSS
// (VmHWM) and the requests it made to the emulator, by route.
//
// The first cascade deploys every stack over new edges without comparing outputs; the ones
// after it compare each parent's outputs between versions, the relay's steady state.
// TestBenchRelayScale (make bench-scale) runs 20 layers of 100; TestRelayScaleSmoke
// (make test-e2e) runs a small DAG so the harness cannot rot.

const (
	relayScaleOrg     = "org"
	relayScaleProject = "scale"
	relayScaleRoot    = "root"
	relayScaleSecret  = "bench-relay-scale-secret"
)

// relayScaleScenario is one DAG and how the relay runs over it.
type relayScaleScenario struct {
	Layers, Width int
	Deployment    time.Duration // how long every deployment runs, unless Mixed
	// Mixed, when set, gives the stacks these durations in turn (by a hash of the name), so that a
	// layer mixes short and long deployments.
	Mixed []time.Duration
	// MaxDeployments is the relay's --max-deployments (0: no bound).
	MaxDeployments int
	Poll           time.Duration // the relay's --poll
	Rounds         int           // cascades, the first over new edges
	// IdleProbe measures, after the cascades, what a poll costs when nothing changed, and when a few
	// stacks outside the graph were updated (relayScaleIdleStacks of them).
	IdleProbe bool
	// TimeReported says the scenario's wall time is reported, not held to a target (the 10,000-stack
	// run, whose target is its memory).
	TimeReported bool
	// DB is the relay's --db: "" for a SQLite file in a temporary directory, or a PostgreSQL
	// URL (an empty database the relay owns for the run).
	DB string
}

// relayScaleIdleStacks are the stacks outside the graph that the idle probe updates.
const relayScaleIdleStacks = 10

// duration is how long stack's deployments run in the scenario.
func (sc relayScaleScenario) duration(stack string) time.Duration {
	if len(sc.Mixed) == 0 {
		return sc.Deployment
	}
	h := 0
	for _, c := range stack {
		h = h*31 + int(c)
	}
	return sc.Mixed[(h%len(sc.Mixed)+len(sc.Mixed))%len(sc.Mixed)]
}

// relayScaleRound is what one cascade measured.
type relayScaleRound struct {
	Wall         time.Duration  // the root's event to the end of the last deployment
	MaxInFlight  int            // the most deployments queued or running at once
	Deployments  int            // deployments the cascade made
	MaxStartWait time.Duration  // the longest a stack waited after its last parent ended
	Requests     int            // requests the relay made to the emulator during the cascade
	ByRoute      map[string]int // those requests by route
}

// relayScaleResult is a scenario's cascades.
type relayScaleResult struct {
	Scenario     relayScaleScenario
	Database     string // "SQLite" or "PostgreSQL"
	Stacks       int    // below the root
	Edges        int    // including the root's
	SetupWall    time.Duration
	Rounds       []relayScaleRound
	PeakRSSKiB   int64
	RelayCPU     time.Duration
	CriticalPath time.Duration // the longest path of deployment durations from the root down
	TotalWork    time.Duration // every stack's deployment duration, added up
	// IdlePoll and MovedPoll are the requests of one poll when nothing changed, and of one after
	// relayScaleIdleStacks stacks outside the graph were updated, by route (IdleProbe only);
	// PollPages is what the stack list's pages alone cost.
	IdlePoll, MovedPoll map[string]int
	PollPages           int
}

// Optimum is the least makespan any schedule could reach: the critical path, or the total work
// spread over the budget's slots when that is longer.
func (r relayScaleResult) Optimum() time.Duration {
	if r.Scenario.MaxDeployments <= 0 {
		return r.CriticalPath
	}
	return max(r.CriticalPath, r.TotalWork/time.Duration(r.Scenario.MaxDeployments))
}

// relayScaleStack names stack index of layer.
func relayScaleStack(layer, index int) string { return fmt.Sprintf("l%02d-s%03d", layer, index) }

// relayScaleEdges lists the DAG's edges parent → child as stack names: the root to every
// stack of layer 0, and to each stack i of layer L ≥ 1 from stacks i, i+1 and, for every
// other i, i+width/2 of layer L-1 (modulo width, distinct), so a stack has 2 or 3 parents and
// the layers are woven together rather than split into columns.
func relayScaleEdges(layers, width int) [][2]string {
	var out [][2]string
	for i := range width {
		out = append(out, [2]string{relayScaleRoot, relayScaleStack(0, i)})
	}
	for layer := 1; layer < layers; layer++ {
		for i := range width {
			parents := []int{i, (i + 1) % width}
			if i%2 == 0 {
				parents = append(parents, (i+width/2)%width)
			}
			seen := map[int]bool{}
			for _, p := range parents {
				if seen[p] {
					continue
				}
				seen[p] = true
				out = append(out, [2]string{relayScaleStack(layer-1, p), relayScaleStack(layer, i)})
			}
		}
	}
	return out
}

type relayScaleBench struct {
	t        *testing.T
	sc       relayScaleScenario
	say      func(format string, args ...any)
	c        *e2e.Cloud
	relayBin string
	db       string
	relay    *relayProcess
	relayURL string
	stacks   []string
	parents  map[string][]string
}

func runRelayScale(t *testing.T, sc relayScaleScenario, progress func(string)) relayScaleResult {
	t.Helper()
	bin := os.Getenv("AUTO_DEPLOY_BIN")
	require.NotEmpty(t, bin, "AUTO_DEPLOY_BIN is not set: run this with `make test` or `make bench-scale`, which build bin/")
	b := &relayScaleBench{t: t, sc: sc, relayBin: filepath.Join(bin, "pulumi-auto-deploy-relay"), db: sc.DB,
		parents: map[string][]string{}}
	_, err := os.Stat(b.relayBin)
	require.NoError(t, err, "missing the relay binary: run `make build`")
	res := relayScaleResult{Scenario: sc, Database: "SQLite"}
	if b.db == "" {
		b.db = filepath.Join(t.TempDir(), "relay.db")
	} else {
		res.Database = "PostgreSQL"
	}
	b.say = func(format string, args ...any) { progress(fmt.Sprintf("[relay scale] "+format, args...)) }

	edges := relayScaleEdges(sc.Layers, sc.Width)
	for layer := range sc.Layers {
		for i := range sc.Width {
			b.stacks = append(b.stacks, relayScaleStack(layer, i))
		}
	}
	for _, e := range edges {
		b.parents[e[1]] = append(b.parents[e[1]], e[0])
	}
	res.Stacks, res.Edges = len(b.stacks), len(edges)
	// The critical path, stack by stack in layer order (parents come first).
	longest := map[string]time.Duration{relayScaleRoot: 0}
	for _, s := range b.stacks {
		var above time.Duration
		for _, p := range b.parents[s] {
			above = max(above, longest[p])
		}
		longest[s] = above + sc.duration(s)
		res.CriticalPath = max(res.CriticalPath, longest[s])
		res.TotalWork += sc.duration(s)
	}

	b.c = e2e.StartCloud(t, emulatortest.WithDeploymentDuration(sc.Deployment))
	seeded := append([]string{relayScaleRoot}, b.stacks...)
	if sc.IdleProbe {
		for i := range relayScaleIdleStacks {
			seeded = append(seeded, fmt.Sprintf("idle-%02d", i))
		}
	}
	b.c.SeedDeployable(t, relayScaleOrg, relayScaleProject, seeded...)
	b.startRelay()
	// The relay adopts the organization as it is before the graph exists, so that the first cascade is
	// over new edges.
	select {
	case <-b.relay.baselined:
	case <-time.After(time.Minute):
		t.Fatalf("the relay adopted no baseline within a minute:\n%s", b.relay.log)
	}
	started := time.Now()
	b.say("creating %d relay webhooks for %d stacks in %d layers of %d", len(edges), len(b.stacks), sc.Layers, sc.Width)
	b.createEdges(edges)
	res.SetupWall = time.Since(started)

	for round := 1; round <= sc.Rounds; round++ {
		r := b.cascade(round)
		b.say("cascade %d: %d deployments, %s from the root's event to the last end (critical path %s), %d requests",
			round, r.Deployments, r.Wall.Round(time.Millisecond), res.CriticalPath, r.Requests)
		res.Rounds = append(res.Rounds, r)
	}
	if sc.IdleProbe {
		res.IdlePoll, res.MovedPoll, res.PollPages = b.idleProbe()
		b.say("an idle poll: %v; after %d stacks outside the graph were updated: %v", res.IdlePoll,
			relayScaleIdleStacks, res.MovedPoll)
	}
	res.PeakRSSKiB = benchReadPeakRSS(fmt.Sprintf("/proc/%d/status", b.relay.cmd.Process.Pid))
	res.RelayCPU = benchReadCPUTime(fmt.Sprintf("/proc/%d/stat", b.relay.cmd.Process.Pid))
	b.relay.stop()
	return res
}

// createEdges creates the relay webhook of every edge through the emulator's API, several at
// once.
func (b *relayScaleBench) createEdges(edges [][2]string) {
	t := b.t
	work := make(chan [2]string)
	errs := make(chan error, len(edges))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for e := range work {
				target := relayScaleProject + "/" + e[1]
				body, _ := json.Marshal(map[string]any{
					"organizationName": relayScaleOrg, "projectName": relayScaleProject, "stackName": e[0],
					"name": edge.Name(target), "displayName": "autodeploy → " + target,
					"payloadUrl": edge.Form{RelayURL: b.relayURL}.PayloadURL(target), "active": true, "format": "raw",
					"secret": relayScaleSecret,
				})
				errs <- b.api(http.MethodPost, fmt.Sprintf("/api/stacks/%s/%s/%s/hooks", relayScaleOrg, relayScaleProject, e[0]),
					string(body))
			}
		})
	}
	for _, e := range edges {
		work <- e
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// cascade gives every stack new outputs for this round, records an update of the root that
// changes its outputs, waits until every stack has deployed once more and the relay's
// cascade is done, and checks the deployments.
func (b *relayScaleBench) cascade(round int) relayScaleRound {
	t := b.t
	outputs := &emulator.StackOutputs{Plain: map[string]any{"round": round}}
	for _, s := range b.stacks {
		require.NoError(t, b.c.SetDeploymentBehaviour(relayScaleOrg, relayScaleProject, s,
			emulator.DeploymentBehaviour{Outputs: outputs, Duration: b.sc.duration(s)}))
	}
	mark := b.c.DeploymentCount()
	before, _ := b.newestCascade()
	b.c.ResetStats()
	event := time.Now()
	_, err := b.c.FireUpdateWithOutputs(relayScaleOrg, relayScaleProject, relayScaleRoot, outputs)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	// The condition runs at every change in the emulator, thousands a second: it must not copy
	// the deployments (as Deployments does) while the relay works, or the bench takes the CPU
	// and the emulator's lock from what it measures.
	err = b.c.Server.WaitFor(ctx, func() bool {
		if b.c.DeploymentCount()-mark < len(b.stacks) || !b.c.Idle() {
			return false
		}
		id, state := b.newestCascade()
		return id > before && state == "done"
	})
	require.NoError(t, err, "the cascade did not end; the relay's last lines:\n%s", b.relay.log)
	stats := b.c.Stats()

	byStack := map[string]emulator.Deployment{}
	for _, d := range b.c.Deployments()[mark:] {
		_, twice := byStack[d.Stack]
		require.False(t, twice, "%s deployed twice in cascade %d", d.Stack, round)
		require.Equal(t, emulator.StatusSucceeded, d.Status, "%s", d.Stack)
		byStack[d.Stack] = d
	}
	require.Len(t, byStack, len(b.stacks), "every stack deploys exactly once")
	r := relayScaleRound{Deployments: len(byStack), ByRoute: stats.ByRoute}
	var lastEnd time.Time
	for _, s := range b.stacks {
		d := byStack[s]
		lastEnd = later(lastEnd, d.Finished)
		var lastParentEnd time.Time
		for _, p := range b.parents[s] {
			if p == relayScaleRoot {
				lastParentEnd = later(lastParentEnd, event)
				continue
			}
			pd := byStack[p]
			require.Greater(t, d.StartOrder, pd.EndOrder, "%s started before its parent %s ended", s, p)
			lastParentEnd = later(lastParentEnd, pd.Finished)
		}
		r.MaxStartWait = max(r.MaxStartWait, d.Started.Sub(lastParentEnd))
	}
	r.Wall = lastEnd.Sub(event)
	for _, n := range stats.ByRoute {
		r.Requests += n
	}
	// In flight: from its creation (queued) to its end, at each creation.
	for _, d := range byStack {
		n := 0
		for _, o := range byStack {
			if !o.Created.After(d.Created) && o.Finished.After(d.Created) {
				n++
			}
		}
		r.MaxInFlight = max(r.MaxInFlight, n)
	}
	if b.sc.MaxDeployments > 0 {
		require.LessOrEqual(t, r.MaxInFlight, b.sc.MaxDeployments, "never more in flight than --max-deployments")
	}
	return r
}

// idleProbe measures what the relay's polls cost when nothing changed, then when relayScaleIdleStacks
// stacks outside the graph were updated (instantly, without a delivery: they have no webhook). Each is
// measured over three polls; it returns the requests of each measure beyond the stack list's pages, by
// route, and the pages one poll reads.
func (b *relayScaleBench) idleProbe() (idle, moved map[string]int, pages int) {
	t := b.t
	const listRoute, polls = "GET /api/user/stacks", 3
	// The emulator's default page of the stack list holds 100 stacks (the client asks for no other).
	pages = (len(b.stacks) + 1 + relayScaleIdleStacks + 99) / 100
	measure := func() map[string]int {
		b.c.ResetStats()
		ctx, cancel := context.WithTimeout(t.Context(), (polls+2)*b.sc.Poll+time.Minute)
		defer cancel()
		require.NoError(t, b.c.Server.WaitFor(ctx, func() bool {
			return b.c.Stats().ByRoute[listRoute] >= polls*pages
		}), "the relay did not poll %d times", polls)
		// What the last poll asks after its list (a bench waits; it asserts nothing on time).
		time.Sleep(b.sc.Poll / 2)
		out := map[string]int{}
		for route, n := range b.c.Stats().ByRoute {
			if route == listRoute {
				n -= polls * pages
			}
			if n > 0 {
				out[route] = n
			}
		}
		return out
	}
	measure() // the first polls after the cascades read again what deliveries announced
	idle = measure()
	for i := range relayScaleIdleStacks {
		_, err := b.c.FireUpdate(relayScaleOrg, relayScaleProject, fmt.Sprintf("idle-%02d", i))
		require.NoError(t, err)
	}
	moved = measure()
	return idle, moved, pages
}

// newestCascade returns the id and state of the relay's newest cascade (0 when there is none
// or the relay did not answer).
func (b *relayScaleBench) newestCascade() (int, string) {
	resp, err := http.Get(b.relayURL + "/v1/cascades?limit=1")
	if err != nil {
		return 0, ""
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Cascades []struct {
			ID    int    `json:"id"`
			State string `json:"state"`
		} `json:"cascades"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Cascades) == 0 {
		return 0, ""
	}
	return out.Cascades[0].ID, out.Cascades[0].State
}

func (b *relayScaleBench) api(method, path, body string) error {
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.c.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+e2e.TestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

// startRelay runs the relay binary on a free port and waits for it to listen. BENCH_RELAY_LOG
// keeps the relay's whole log, for finding where a cascade's time goes.
func (b *relayScaleBench) startRelay() {
	var keep io.Writer
	if path := os.Getenv("BENCH_RELAY_LOG"); path != "" {
		f, err := os.Create(path)
		require.NoError(b.t, err, "BENCH_RELAY_LOG")
		b.t.Cleanup(func() { _ = f.Close() }) // after the relay stopped: cleanups run last first
		keep = f
	}
	b.relay = startRelayProcess(b.t, b.relayBin, relayScaleSecret, keep, "--addr", "127.0.0.1:0", "--db", b.db,
		"--api-url", b.c.URL, "--organization", relayScaleOrg, "--poll", b.sc.Poll.String(),
		"--max-deployments", fmt.Sprint(b.sc.MaxDeployments), "--settle", "0")
	b.relayURL = b.relay.url
}

// Target is what the issue asks of a cascade's wall time: the critical path plus 10 s without a
// budget, 1.15 times the optimum with one; 0 when the scenario only reports it.
func (r relayScaleResult) Target() time.Duration {
	if r.Scenario.TimeReported {
		return 0
	}
	if r.Scenario.MaxDeployments > 0 {
		return r.Optimum() * 115 / 100
	}
	return r.CriticalPath + 10*time.Second
}

// Title names the scenario in the report.
func (r relayScaleResult) Title() string {
	sc := r.Scenario
	durations := sc.Deployment.String() + " deployments"
	if len(sc.Mixed) > 0 {
		durations = "mixed deployments (" + strings.Join(mapSlice(sc.Mixed, time.Duration.String), ", ") + ")"
	}
	title := fmt.Sprintf("%d-stack layered DAG (%d layers of %d, %d edges), %s", r.Stacks, sc.Layers, sc.Width, r.Edges,
		durations)
	if sc.MaxDeployments > 0 {
		title += fmt.Sprintf(", --max-deployments %d", sc.MaxDeployments)
	}
	return title
}

// relayScaleReport is the markdown section of BENCHMARKS.md for the results of one scenario (one per
// database), side by side.
func relayScaleReport(results []relayScaleResult, machine string) string {
	var s strings.Builder
	first := results[0]
	sc := first.Scenario
	fmt.Fprintf(&s, "### Relay at scale: %s (%s)\n\n", first.Title(), machine)
	fmt.Fprintf(&s, "Below one root: an edge to each stack of layer 0, and every other stack has 2 or 3 parents in the "+
		"layer above; each edge a relay webhook created through the emulator's API. relay --poll %s --settle 0 (one "+
		"root's update: there is nothing to wait for). Critical path "+
		"%s; total work %s", sc.Poll, first.CriticalPath.Round(time.Millisecond), first.TotalWork.Round(time.Millisecond))
	if sc.MaxDeployments > 0 {
		fmt.Fprintf(&s, "; optimum max(critical path, work ÷ %d) = %s", sc.MaxDeployments, first.Optimum().Round(time.Millisecond))
	}
	s.WriteString(".\n\n")
	header := "| | " + strings.Join(mapSlice(results, func(r relayScaleResult) string { return r.Database }), " | ") + " |\n"
	s.WriteString(header)
	s.WriteString("|---" + strings.Repeat("|---:", len(results)) + "|\n")
	row := func(name string, cell func(relayScaleResult) string) {
		fmt.Fprintf(&s, "| %s | %s |\n", name, strings.Join(mapSlice(results, cell), " | "))
	}
	for i := range sc.Rounds {
		what := "outputs compared"
		if i == 0 {
			what = "new edges"
		}
		target := "reported"
		if first.Target() > 0 {
			target = "target ≤ " + first.Target().Round(10*time.Millisecond).String()
		}
		row(fmt.Sprintf("cascade %d (%s): root event → last deployment end (%s)", i+1, what, target),
			func(r relayScaleResult) string { return r.Rounds[i].Wall.Round(10 * time.Millisecond).String() })
		if sc.MaxDeployments > 0 {
			row(fmt.Sprintf("cascade %d: makespan ÷ optimum", i+1), func(r relayScaleResult) string {
				return fmt.Sprintf("%.2f", float64(r.Rounds[i].Wall)/float64(r.Optimum()))
			})
			row(fmt.Sprintf("cascade %d: most deployments in flight at once", i+1), func(r relayScaleResult) string {
				return fmt.Sprint(r.Rounds[i].MaxInFlight)
			})
		} else {
			row(fmt.Sprintf("cascade %d: longest wait of a stack after its last parent ended", i+1),
				func(r relayScaleResult) string { return r.Rounds[i].MaxStartWait.Round(10 * time.Millisecond).String() })
		}
		row(fmt.Sprintf("cascade %d: requests to Pulumi Cloud per deployed stack (target ≤ 7)", i+1),
			func(r relayScaleResult) string {
				return fmt.Sprintf("%.1f", float64(r.Rounds[i].Requests)/float64(r.Rounds[i].Deployments))
			})
	}
	row("every stack deployed exactly once per cascade, after all its parents ended", func(relayScaleResult) string {
		return "yes"
	})
	row("relay peak RSS (VmHWM; target < 300 MB)", func(r relayScaleResult) string {
		return fmt.Sprintf("%.0f MB", float64(r.PeakRSSKiB)/1024)
	})
	row("relay CPU time over the run", func(r relayScaleResult) string { return r.RelayCPU.Round(time.Second / 10).String() })
	row("creating the webhooks (setup)", func(r relayScaleResult) string { return r.SetupWall.Round(time.Second / 10).String() })
	if first.IdlePoll != nil {
		row("an idle poll: the stack list's pages, and any other request (over 3 polls)", func(r relayScaleResult) string {
			return fmt.Sprintf("%d pages; %s", r.PollPages, routesText(r.IdlePoll))
		})
		row(fmt.Sprintf("3 polls after %d stacks outside the graph were updated: beyond the pages", relayScaleIdleStacks),
			func(r relayScaleResult) string { return routesText(r.MovedPoll) })
	}
	s.WriteString("\nRequests per deployed stack by route, last cascade:\n\n")
	for _, r := range results {
		last := r.Rounds[len(r.Rounds)-1]
		routes := slices.Sorted(maps.Keys(last.ByRoute))
		fmt.Fprintf(&s, "- %s:", r.Database)
		for _, route := range routes {
			fmt.Fprintf(&s, " `%s` %.2f;", route, float64(last.ByRoute[route])/float64(last.Deployments))
		}
		s.WriteString("\n")
	}
	return s.String()
}

// routesText lists requests by route, "none" for none.
func routesText(byRoute map[string]int) string {
	if len(byRoute) == 0 {
		return "none"
	}
	var parts []string
	for _, route := range slices.Sorted(maps.Keys(byRoute)) {
		parts = append(parts, fmt.Sprintf("`%s` %d", route, byRoute[route]))
	}
	return strings.Join(parts, ", ")
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
