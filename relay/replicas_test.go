package relay

import (
	"database/sql"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
)

// Replicas on one PostgreSQL database watching each other's heartbeats (replicas.go) and waking each
// other's jobs (notify.go), in this process; relay/replicas_e2e_test.go kills a relay process outright.

// holder is the replica whose run holds organization org's job, or "" when none runs it.
func holder(t *testing.T, db *sql.DB, org string) (replica string, attemptedAt time.Time) {
	t.Helper()
	err := db.QueryRowContext(t.Context(), `
SELECT attempted_by[array_length(attempted_by, 1)], attempted_at FROM river_job
WHERE kind = 'relay_org' AND state = 'running' AND args->>'organization' = $1`, org).Scan(&replica, &attemptedAt)
	if err == sql.ErrNoRows {
		return "", time.Time{}
	}
	require.NoError(t, err)
	return replica, attemptedAt
}

func TestTheJobsOfASilentReplicaAreHandedOnAndALiveOnesStay(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a")
	emu.SeedDeployable(t, "beta", "p", "x")
	dbURL := pgtest.Start(t)
	both := func(c *Config) { c.Organizations, c.RescueAfter = []string{testOrg, "beta"}, time.Second }
	// A first relay makes both organizations' jobs and stops; then two replicas that the database
	// still knows hold them, as if they ran: "dead" counts no heartbeat any more, "alive" one every
	// 200ms.
	require.NoError(t, startRelay(t, emu, dbURL, both).stop())
	db, err := sql.Open("pgx", dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.ExecContext(t.Context(), `INSERT INTO relay_replica (replica, beats, started_ms) VALUES
	('dead', 7, 0), ('alive', 1, 0)`)
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), `
UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = now(),
	attempted_by = array_append(attempted_by, CASE args->>'organization' WHEN $1 THEN 'dead' ELSE 'alive' END)
WHERE kind = 'relay_org'`, testOrg)
	require.NoError(t, err)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.Context().Done():
				return
			case <-tick.C:
				_, _ = db.ExecContext(t.Context(), `UPDATE relay_replica SET beats = beats + 1 WHERE replica = 'alive'`)
			}
		}
	}()

	started := time.Now()
	h := startRelay(t, emu, dbURL, both)
	require.Eventually(t, func() bool {
		by, _ := holder(t, db, testOrg)
		return by == h.r.jobs.ID()
	}, defaultWait, pollEvery, "the silent replica's organization was never taken over")
	tookOver := time.Since(started)
	t.Logf("the silent replica's organization ran here %s after this replica started (--rescue-after 1s)",
		tookOver.Round(10*time.Millisecond))
	assert.Less(t, tookOver, 5*time.Second, "a second of silence, then a fetch of the queue")
	h.waitLog(`"msg":"a replica stopped counting heartbeats: its jobs are handed on","dead_replica":"dead"`)
	var left int
	require.NoError(t, db.QueryRowContext(t.Context(),
		`SELECT COUNT(*) FROM relay_replica WHERE replica = 'dead'`).Scan(&left))
	assert.Zero(t, left, "the silent replica is forgotten")
	assert.InDelta(t, 1, testutil.ToFloat64(h.r.metrics.replicasTakenOver), 0)

	// Three times --rescue-after later, the replica that still counts keeps its organization.
	time.Sleep(3 * time.Second)
	by, _ := holder(t, db, "beta")
	assert.Equal(t, "alive", by, "a replica that counts its heartbeats keeps its jobs")
	assert.InDelta(t, 1, testutil.ToFloat64(h.r.metrics.replicasTakenOver), 0)
}

func TestADeliveryToOneReplicaWakesTheRunInAnother(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a")
	dbURL := pgtest.Start(t)
	// The replicas poll every ten minutes: between two polls, only a wake makes the run that holds
	// the organization look at once.
	seldom := func(c *Config) { c.PollInterval = 10 * time.Minute }
	replicas := []*harness{startRelay(t, emu, dbURL, seldom), startRelay(t, emu, dbURL, seldom)}
	db := replicas[0].r.db
	var running, other *harness
	var runStarted time.Time
	require.Eventually(t, func() bool {
		by, at := holder(t, db, testOrg)
		for i, h := range replicas {
			if by == h.r.jobs.ID() {
				running, other, runStarted = h, replicas[1-i], at
			}
		}
		return running != nil
	}, defaultWait, pollEvery)
	// The edge's deliveries go to the replica that does not run the organization.
	other.edge("p/root", "p/a")
	fired := time.Now()
	other.fire("p/root", map[string]any{"v": 1})
	require.Eventually(t, func() bool { return len(other.deployments("p/a")) == 1 }, defaultWait, pollEvery)
	requested := other.deployments("p/a")[0].Created
	t.Logf("a deployment requested %s after the update whose delivery reached the other replica",
		requested.Sub(fired).Round(time.Millisecond))
	assert.Less(t, requested.Sub(fired), 3*time.Second)
	other.waitLog(`"msg":"delivery accepted"`)
	assert.NotContains(t, running.logs.String(), `"msg":"delivery accepted"`)
	by, at := holder(t, db, testOrg)
	assert.Equal(t, running.r.jobs.ID(), by, "the run that deployed is the one that held the organization")
	assert.True(t, at.Equal(runStarted), "the same run, woken, not a new one")
}
