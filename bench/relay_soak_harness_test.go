//go:build e2e

package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// The relay soak: two relay replicas on one PostgreSQL database behind a round-robin proxy (the
// webhooks' payload URL), against the emulator, for as long as a relay would run between two
// releases, compressed. Trees of ten stacks (a root, three stacks below it, two below each of those)
// take turns: one root update a second, each with new outputs, and every stack of its tree gives new
// outputs to its next deployment, so the relay deploys all nine below it. 429s and 503s are injected
// into a share of the relay's requests throughout, and one replica is killed with SIGKILL and started
// again every KillEvery (after waiting, for at most half of KillEvery, until it runs the
// organization's schedule, so that most kills are takeovers); the other runs from start to end and is
// the one whose RSS and goroutines are sampled. --retain is short, so that pruning has to keep the
// database bounded within the run.
//
// Afterwards, from the emulator's records: every change of a stack's parent (a root's update; a
// deployment of a parent that changed its outputs) was deployed exactly once below it, and no stack
// started while its parent deployed. What each deployment deployed against is what the relays
// recorded for it (relay_deployment.covers, read throughout the run, before --retain prunes it),
// checked against the emulator: the parent's version it names had ended before the deployment
// started; each deployment of a stack names a newer version of its parent than the one before it,
// whose outputs differ (nothing deployed twice); and the last names the parent's last outputs
// (nothing missed). One deployment may cover several changes, when the parent changed again before
// the relay started the stack.

const (
	relaySoakOrg     = "org"
	relaySoakProject = "soak"
	relaySoakSecret  = "bench-relay-soak-secret"
)

// relaySoakScenario is one soak.
type relaySoakScenario struct {
	Trees      int           // of ten stacks each
	Duration   time.Duration // of root updates, one a second
	Deployment time.Duration // how long every deployment runs
	KillEvery  time.Duration
	Retain     time.Duration // the relays' --retain
	Poll       time.Duration // the relays' --poll
	Sample     time.Duration // how often RSS, goroutines and the database are sampled
	DB         string        // an empty PostgreSQL database, the relays' alone
}

// relaySoakSample is the steady replica and the database at one moment.
type relaySoakSample struct {
	At         time.Duration // since the first update
	RSSKiB     int64
	Goroutines float64
	ReadLimit  float64 // the lower of the replicas' auto_deploy_relay_cloud_request_limit{kind="reads"}
	Rows       map[string]int64
	DBBytes    int64
}

// relaySoakResult is what a soak measured.
type relaySoakResult struct {
	Scenario     relaySoakScenario
	Stacks       int
	Updates      int // root updates
	Deployments  int // the relays' deployments
	Coalesced    int // changes covered by a deployment that covered another too
	Takeovers    []time.Duration
	Kills        int
	Samples      []relaySoakSample
	Requests     int
	Faults       int
	Drain        time.Duration // from the last update to every stack deployed
	Violations   []string      // of exactly once, or of order
	RunningAtEnd int           // cascades still running once the emulator was idle
}

// relaySoakTables are the tables whose rows the samples count: the relay's records of the past, its
// hints, and River's jobs.
var relaySoakTables = []string{"relay_cascade", "relay_cascade_stack", "relay_deployment", "relay_hint", "river_job"}

type relaySoak struct {
	t        *testing.T
	sc       relaySoakScenario
	say      func(format string, args ...any)
	c        *e2e.Cloud
	bin      string
	db       *sql.DB
	proxy    *httptest.Server
	rr       *e2e.RoundRobin
	replicas [2]*relaySoakReplica // [0] steady, [1] killed every KillEvery
	parent   map[string]string    // stack → its parent
	trees    [][]string           // each tree's stacks, its root first
	// rounds is when each round's root update began; covers what the relays recorded each of their
	// deployments deployed against, by deployment id.
	rounds map[int]time.Time
	mu     sync.Mutex
	covers map[string]map[string]int
}

// relaySoakReplica is one relay process and the River client ID its "listening" line named.
type relaySoakReplica struct {
	p        *relayProcess
	replica  string
	baseline chan struct{}
}

func runRelaySoak(t *testing.T, sc relaySoakScenario, progress func(string)) relaySoakResult {
	t.Helper()
	dir := os.Getenv("AUTO_DEPLOY_BIN")
	require.NotEmpty(t, dir, "AUTO_DEPLOY_BIN is not set: run this with `make test` or `make bench-relay-soak`")
	require.Less(t, sc.Sample, sc.Retain, "the samples read what the relays recorded before --retain prunes it")
	s := &relaySoak{t: t, sc: sc, bin: filepath.Join(dir, "pulumi-auto-deploy-relay"), parent: map[string]string{},
		rounds: map[int]time.Time{}, covers: map[string]map[string]int{}}
	s.say = func(format string, args ...any) { progress(fmt.Sprintf("[relay soak] "+format, args...)) }
	var err error
	s.db, err = sql.Open("pgx", sc.DB)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.db.Close() })

	var stacks, edges []string
	for i := range sc.Trees {
		root := fmt.Sprintf("t%02d-root", i)
		tree := []string{root}
		for m := range 3 {
			mid := fmt.Sprintf("t%02d-m%d", i, m)
			tree = append(tree, mid)
			s.parent[mid] = root
			for l := range 2 {
				leaf := fmt.Sprintf("%s-l%d", mid, l)
				tree = append(tree, leaf)
				s.parent[leaf] = mid
			}
		}
		s.trees = append(s.trees, tree)
		stacks = append(stacks, tree...)
	}
	for child, parent := range s.parent {
		edges = append(edges, relaySoakProject+"/"+parent+">"+relaySoakProject+"/"+child)
	}
	slices.Sort(edges)
	s.c = e2e.StartCloud(t, emulatortest.WithDeploymentDuration(sc.Deployment))
	s.c.SeedDeployable(t, relaySoakOrg, relaySoakProject, stacks...)
	s.rr = e2e.NewRoundRobin("", "")
	s.proxy = httptest.NewServer(s.rr)
	t.Cleanup(s.proxy.Close)
	for i := range s.replicas {
		s.start(i)
	}
	select {
	case <-s.replicas[0].baseline:
	case <-s.replicas[1].baseline:
	case <-time.After(time.Minute):
		t.Fatal("no replica adopted the organization's baseline within a minute")
	}
	s.say("%d stacks in %d trees, %d relay edges through %s; two replicas on PostgreSQL", len(stacks), sc.Trees,
		len(edges), s.proxy.URL)
	s.c.RelayEdges(t, relaySoakOrg, s.proxy.URL, relaySoakSecret, edges...)

	res := relaySoakResult{Scenario: sc, Stacks: len(stacks)}
	s.c.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{
		{Status: http.StatusTooManyRequests, Every: 50, RetryAfter: "1"},
		{Status: http.StatusServiceUnavailable, Every: 40},
	}})
	s.c.ResetStats()
	ctx, stop := context.WithTimeout(t.Context(), sc.Duration)
	defer stop()
	started := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Go(func() {
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(sc.KillEvery):
				if took, ok := s.killAndRestart(ctx); ok {
					mu.Lock()
					res.Takeovers = append(res.Takeovers, took)
					mu.Unlock()
				}
				mu.Lock()
				res.Kills++
				mu.Unlock()
			}
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(sc.Sample)
		defer tick.Stop()
		for {
			sample := s.sample(time.Since(started))
			mu.Lock()
			res.Samples = append(res.Samples, sample)
			mu.Unlock()
			s.say("%5.0fs: steady replica %.1f MB, %.0f goroutines; lowest read limit %.0f; cascades %d, deployments %d, "+
				"database %.1f MB", sample.At.Seconds(), float64(sample.RSSKiB)/1024, sample.Goroutines,
				sample.ReadLimit, sample.Rows["relay_cascade"], sample.Rows["relay_deployment"],
				float64(sample.DBBytes)/(1<<20))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	tick := time.NewTicker(time.Second)
	for round := 0; ctx.Err() == nil; round++ {
		tree := s.trees[round%len(s.trees)]
		outputs := &emulator.StackOutputs{Plain: map[string]any{"round": round}}
		for _, stack := range tree[1:] {
			require.NoError(t, s.c.SetDeploymentBehaviour(relaySoakOrg, relaySoakProject, stack,
				emulator.DeploymentBehaviour{Outputs: outputs}))
		}
		// The version the update writes exists from some moment within the call: a relay cannot name it
		// before the call began.
		s.mu.Lock()
		s.rounds[round] = time.Now()
		s.mu.Unlock()
		_, err := s.c.FireUpdateWithOutputs(relaySoakOrg, relaySoakProject, tree[0], outputs)
		require.NoError(t, err)
		res.Updates++
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	wg.Wait()
	stats := s.c.Stats()
	res.Requests, res.Faults = stats.Total, stats.Faults
	s.c.SetFaults(emulator.Faults{})
	last := time.Now()
	s.say("%d updates, %d kills; waiting for every stack to deploy what changed above it", res.Updates, res.Kills)
	drainCtx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// Quiet is the emulator idle and no cascade running for longer than a poll: a change whose
	// delivery was lost with a killed replica has been found by then.
	var quietSince time.Time
	for drainCtx.Err() == nil && (quietSince.IsZero() || time.Since(quietSince) < sc.Poll+2*time.Second) {
		s.readCovers() // before --retain prunes the rows of the last deployments
		switch {
		case !s.c.Idle() || s.runningCascades() > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
			res.Drain = time.Since(last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.RunningAtEnd = s.runningCascades()
	res.Samples = append(res.Samples, s.sample(time.Since(started)))
	v := s.verdict()
	res.Violations, res.Deployments, res.Coalesced = v.violations, v.deployments, v.coalesced
	return res
}

// start runs replica i and points the proxy's slot i at it.
func (s *relaySoak) start(i int) {
	r := &relaySoakReplica{baseline: make(chan struct{})}
	var once sync.Once
	keep := lineWriter(func(line string) {
		var rec struct{ Msg, Replica string }
		if json.Unmarshal([]byte(line), &rec) != nil {
			return
		}
		switch {
		case rec.Msg == "listening":
			r.replica = rec.Replica
		case strings.HasPrefix(rec.Msg, "baseline adopted"):
			once.Do(func() { close(r.baseline) })
		}
	})
	if dir := os.Getenv("BENCH_RELAY_SOAK_LOGS"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("replica-%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY,
			0o644)
		require.NoError(s.t, err, "BENCH_RELAY_SOAK_LOGS")
		s.t.Cleanup(func() { _ = f.Close() })
		parse := keep
		keep = func(line string) {
			parse(line)
			_, _ = fmt.Fprintln(f, line)
		}
	}
	r.p = startRelayProcess(s.t, s.bin, relaySoakSecret, keep, "--addr", "127.0.0.1:0", "--db", s.sc.DB,
		"--api-url", s.c.URL, "--organization", relaySoakOrg, "--poll", s.sc.Poll.String(),
		"--retain", s.sc.Retain.String())
	s.replicas[i] = r
	s.rr.Set(i, r.p.url)
}

// killAndRestart waits, for at most half of KillEvery, until replica 1 runs the organization's
// schedule, kills it with SIGKILL, starts it again and, when it ran the schedule, returns how long
// until a live replica ran it again.
func (s *relaySoak) killAndRestart(ctx context.Context) (time.Duration, bool) {
	victim := s.replicas[1]
	deadline := time.Now().Add(s.sc.KillEvery / 2)
	for s.holder() != victim.replica && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	held := s.holder() == victim.replica
	require.NoError(s.t, victim.p.cmd.Process.Signal(syscall.SIGKILL))
	<-victim.p.ended
	killed := time.Now()
	s.start(1)
	if !held {
		s.say("killed replica 1 (it did not run the organization's schedule) and started it again")
		return 0, false
	}
	for {
		if h := s.holder(); h == s.replicas[0].replica || h == s.replicas[1].replica {
			took := time.Since(killed)
			s.say("killed replica 1, which ran the organization's schedule: a live replica runs it %s later",
				took.Round(100*time.Millisecond))
			return took, true
		}
		if time.Since(killed) > time.Minute {
			s.say("killed replica 1: no live replica ran the organization's schedule within a minute")
			return time.Minute, true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holder is the River client ID that runs the organization's job now, "" between two runs.
func (s *relaySoak) holder() string {
	var by string
	err := s.db.QueryRow(`SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job
WHERE kind = 'relay_org' AND state = 'running'`).Scan(&by)
	if err != nil {
		return ""
	}
	return by
}

// sample reads the steady replica's RSS and goroutines, the replicas' read limits (only the one running
// the organization's schedule makes requests), and the database's rows and size.
func (s *relaySoak) sample(at time.Duration) relaySoakSample {
	steady := s.replicas[0].p
	out := relaySoakSample{At: at, Rows: map[string]int64{}, ReadLimit: -1,
		RSSKiB: benchReadStatusKiB(fmt.Sprintf("/proc/%d/status", steady.cmd.Process.Pid), "VmRSS:")}
	for i, r := range s.replicas {
		resp, err := http.Get(r.p.url + "/metrics")
		if err != nil {
			continue // killed a moment ago
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			continue
		}
		if f := families["go_goroutines"]; i == 0 && f != nil && len(f.GetMetric()) == 1 {
			out.Goroutines = f.GetMetric()[0].GetGauge().GetValue()
		}
		for _, m := range families["auto_deploy_relay_cloud_request_limit"].GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "reads" &&
				(out.ReadLimit < 0 || m.GetGauge().GetValue() < out.ReadLimit) {
				out.ReadLimit = m.GetGauge().GetValue()
			}
		}
	}
	for _, table := range relaySoakTables {
		var n int64
		if s.db.QueryRow(`SELECT COUNT(*) FROM `+table).Scan(&n) == nil {
			out.Rows[table] = n
		}
	}
	_ = s.db.QueryRow(`SELECT pg_database_size(current_database())`).Scan(&out.DBBytes)
	s.readCovers()
	return out
}

// readCovers keeps what the relays recorded each deployment deployed against.
func (s *relaySoak) readCovers() {
	rows, err := s.db.Query(`SELECT deployment_id, covers FROM relay_deployment WHERE deployment_id <> ''`)
	if err != nil {
		return
	}
	defer func() { _ = rows.Close() }()
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var id, covers string
		var parsed map[string]int
		if rows.Scan(&id, &covers) == nil && json.Unmarshal([]byte(covers), &parsed) == nil {
			s.covers[id] = parsed
		}
	}
}

// runningCascades counts the cascades the relays still list as running.
func (s *relaySoak) runningCascades() int {
	var n int
	_ = s.db.QueryRow(`SELECT COUNT(*) FROM relay_cascade WHERE state = 'running'`).Scan(&n)
	return n
}

// relaySoakVerdict is what the emulator's records say of a soak (see the top of this file).
type relaySoakVerdict struct {
	violations  []string // of exactly once (a change deployed twice, or never) or of order
	deployments int
	coalesced   int // changes a deployment covered besides the newest
}

// verdict checks every deployment of the relays against the emulator's records.
func (s *relaySoak) verdict() relaySoakVerdict {
	s.readCovers()
	s.mu.Lock()
	defer s.mu.Unlock()
	var v relaySoakVerdict
	byStack := map[string][]emulator.Deployment{}
	for _, d := range s.c.Deployments() {
		byStack[d.Stack] = append(byStack[d.Stack], d)
	}
	outputs := func(stack string, version int) string {
		out, err := s.c.StackOutputs(relaySoakOrg, relaySoakProject, stack, version)
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return fmt.Sprint(out.Plain)
	}
	// ended is when version of stack came to be, at the latest: a root's update began, or a parent's
	// deployment ended.
	ended := func(stack string, version int) time.Time {
		if s.parent[stack] == "" {
			out, err := s.c.StackOutputs(relaySoakOrg, relaySoakProject, stack, version)
			if err == nil && out.Plain["round"] != nil {
				round, _ := strconv.Atoi(fmt.Sprint(out.Plain["round"]))
				return s.rounds[round]
			}
		}
		for _, d := range byStack[stack] {
			if d.StackVersion == version {
				return d.Finished
			}
		}
		return time.Time{} // the version it had before the soak
	}
	for _, tree := range s.trees {
		for _, stack := range tree[1:] {
			parent := s.parent[stack]
			ds := byStack[stack]
			v.deployments += len(ds)
			prev, prevOutputs := -1, ""
			for _, d := range ds {
				bad := func(format string, args ...any) {
					v.violations = append(v.violations, fmt.Sprintf("%s: deployment %d (started %s): ", stack, d.Version,
						d.Started.Format(soakClock))+fmt.Sprintf(format, args...))
				}
				if d.Status != emulator.StatusSucceeded {
					bad("%s", d.Status)
				}
				for _, pd := range byStack[parent] {
					if pd.StartOrder < d.StartOrder && (pd.EndOrder == 0 || d.StartOrder < pd.EndOrder) {
						bad("started while %s deployed (its deployment %d)", parent, pd.Version)
					}
				}
				version, ok := s.covers[d.ID][relaySoakProject+"/"+parent]
				if !ok {
					bad("the relays recorded no version of %s for it", parent)
					continue
				}
				at, out := ended(parent, version), outputs(parent, version)
				switch {
				case !at.Before(d.Started):
					bad("deployed against %s version %d, which ended after it started (%s)", parent, version,
						at.Format(soakClock))
				case version <= prev:
					bad("deployed against %s version %d, no newer than the deployment before it (%d): deployed twice",
						parent, version, prev)
				case prev >= 0 && out == prevOutputs:
					bad("deployed against %s version %d, whose outputs are those of version %d: nothing changed", parent,
						version, prev)
				}
				if prev >= 0 {
					v.coalesced += max(version-prev-1, 0)
				}
				prev, prevOutputs = version, out
			}
			if last := outputs(parent, 0); last != prevOutputs {
				v.violations = append(v.violations, fmt.Sprintf("%s: left waiting: %s's last outputs %s were never "+
					"deployed (its last deployment deployed against %s)", stack, parent, last, prevOutputs))
			}
		}
	}
	return v
}

// soakClock is how a violation shows the times it is about.
const soakClock = "15:04:05.000"

// lineWriter calls its func with each line written to it.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w(line)
	}
	return len(p), nil
}
