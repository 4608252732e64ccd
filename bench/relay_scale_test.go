//go:build e2e && bench

package bench

import (
	"database/sql"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for making each scenario's database
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// TestBenchRelayScale runs the cascade relay over layered DAGs (relay_scale_harness_test.go), with its
// state in a SQLite file and once more on PostgreSQL: a throwaway server (internal/pgtest), or the
// database BENCH_RELAY_DB names (postgres://…, empty, the relay's alone for the run);
// BENCH_RELAY_DB=sqlite runs SQLite alone. The scenarios (BENCH_RELAY_ONLY picks one by its number):
//
//  1. 2,000 stacks (20 layers of 100), 50 ms deployments, two cascades: each at most the critical path
//     plus 10 s, at most 7 requests per deployed stack; then what an idle poll costs.
//  2. 500 stacks (10 layers of 50), mixed deployments of 100 ms to 1.2 s, --max-deployments 25: the
//     second cascade (the relay knows the durations by then) at most 1.15 × max(critical path, total
//     work ÷ 25), never more than 25 deployments in flight.
//  3. 10,000 stacks (20 layers of 500), 50 ms deployments, one cascade: the relay under 300 MB; its
//     wall time is reported.
//
// `make bench-scale` and `make bench-relay-scale` run it; it prints the markdown sections of
// BENCHMARKS.md, both databases side by side, and writes them to BENCH_RELAY_SCALE_OUT if set. It
// asserts the targets, so a run that misses one fails after printing its report.
func TestBenchRelayScale(t *testing.T) {
	// (Each scenario on PostgreSQL gets a database of its own on the one server: a relay adopts the
	// organization it finds, and another scenario's would not be this one's.)
	databases := []string{""}
	switch url := os.Getenv("BENCH_RELAY_DB"); url {
	case "sqlite":
	case "":
		databases = append(databases, pgtest.Start(t))
	default:
		databases = append(databases, url)
	}
	scenarios := []relayScaleScenario{
		{Layers: 20, Width: 100, Deployment: 50 * time.Millisecond, Poll: 2 * time.Second, Rounds: 2, IdleProbe: true},
		{Layers: 10, Width: 50, Deployment: 100 * time.Millisecond, Poll: 5 * time.Second, Rounds: 2, MaxDeployments: 25,
			Mixed: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond}},
		{Layers: 20, Width: 500, Deployment: 50 * time.Millisecond, Poll: 5 * time.Second, Rounds: 1, TimeReported: true},
	}
	started := time.Now()
	var report strings.Builder
	for i, sc := range scenarios {
		if only := os.Getenv("BENCH_RELAY_ONLY"); only != "" && only != fmt.Sprint(i+1) {
			continue
		}
		var results []relayScaleResult
		for _, db := range databases {
			sc.DB = freshDatabase(t, db, fmt.Sprintf("relay_scale_%d", i+1))
			results = append(results, runRelayScale(t, sc,
				func(line string) { fmt.Printf("%7.1fs %s\n", time.Since(started).Seconds(), line) }))
		}
		report.WriteString(relayScaleReport(results, benchMachine()) + "\n")
		for _, res := range results {
			for i, r := range res.Rounds {
				if sc.MaxDeployments > 0 && i == 0 {
					continue // the relay learns the durations in the first cascade
				}
				if res.Target() > 0 {
					assert.LessOrEqual(t, r.Wall, res.Target(), "%s, %s, cascade %d: wall time", res.Title(), res.Database, i+1)
				}
				assert.LessOrEqual(t, float64(r.Requests)/float64(r.Deployments), 7.0,
					"%s, %s, cascade %d: requests per deployed stack", res.Title(), res.Database, i+1)
			}
			assert.Less(t, res.PeakRSSKiB, int64(300<<10), "%s, %s: relay peak RSS in KiB", res.Title(), res.Database)
			if res.IdlePoll != nil {
				assert.Empty(t, res.IdlePoll, "%s: an idle poll costs only the stack list's pages", res.Database)
				assert.Equal(t, map[string]int{"GET /api/stacks/{org}/{project}/{stack}/hooks": relayScaleIdleStacks},
					res.MovedPoll, "%s: one request per stack whose version moved", res.Database)
			}
		}
	}
	fmt.Println(report.String())
	if path := os.Getenv("BENCH_RELAY_SCALE_OUT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report.String()), 0o644))
	}
}

// freshDatabase returns, for a PostgreSQL URL, the URL of a new empty database named name on the same
// server; "" (SQLite: each run makes a file of its own) stays "".
func freshDatabase(t *testing.T, url, name string) string {
	t.Helper()
	if url == "" {
		return ""
	}
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	_, err = db.ExecContext(t.Context(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	u, err := neturl.Parse(url)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}
