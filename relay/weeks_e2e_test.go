//go:build e2e

package relay_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

// What lets the relay binary run for weeks without a restart: the Cloud client's limits grow back after
// a burst of 429s, and --retain prunes what finished long ago.

func TestRelayLimitsRecoverAfterABurstOf429s(t *testing.T) {
	stacks := []string{"root"}
	for i := range 8 {
		stacks = append(stacks, fmt.Sprintf("s%d", i))
	}
	e := newEnv(t, stacks...)
	for _, s := range stacks[1:] {
		e.edge("root", s, e2eSecret)
	}
	readLimit := func() float64 { return e.scrape()["cloud_request_limit{kind=reads}"] }
	require.Equal(t, 32.0, readLimit())

	// The relay's plan route reads through the same client as its schedule: 17 reads a plan (root's
	// webhooks, then each child's and its deployment history), eight at once. Plans run without a
	// pause, so the limit has traffic to shrink under and to grow back with.
	stop := make(chan struct{})
	var planners sync.WaitGroup
	for range 4 {
		planners.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(e.relay.base + "/v1/plan?organization=" + e2eOrg + "&stack=" + e2eProject + "/root")
				if err == nil {
					_ = resp.Body.Close()
				}
			}
		})
	}
	defer func() {
		close(stop)
		planners.Wait()
	}()
	e.emu.SetFaults(emulator.Faults{Rules: []emulator.FaultRule{{Status: http.StatusTooManyRequests,
		Method: http.MethodGet, RetryAfter: "0"}}})
	lowest := 32.0
	e.waitFor("the read limit halved to 4 or less", func() bool {
		lowest = min(lowest, readLimit())
		return lowest <= 4
	})
	e.emu.SetFaults(emulator.Faults{})
	burstEnded := time.Now()
	e.waitFor("the read limit back to 32", func() bool { return readLimit() == 32 })
	t.Logf("the read limit went down to %.0f and back to 32 %s after the burst",
		lowest, time.Since(burstEnded).Round(100*time.Millisecond))
	assert.Equal(t, 16.0, e.scrape()["cloud_request_limit{kind=writes}"], "no write was refused")
}

func TestRelayPrunesWhatRetainNoLongerKeeps(t *testing.T) {
	const retain = 3 * time.Second
	e := newEnv(t, "root", "a", "other", "hung")
	e.restartWith("--retain", retain.String())
	e.edge("root", "a", e2eSecret)
	e.edge("other", "hung", e2eSecret)
	e.behave("hung", emulator.DeploymentBehaviour{Hang: true})

	e.fire("other", map[string]any{"v": 1}, nil)
	e.waitFor("hung deploying", func() bool {
		cs := e.cascades()
		return len(cs) == 1 && cs[0].Stacks[0].DeploymentID != ""
	})
	running := e.cascades()[0]
	e.fire("root", map[string]any{"v": 1}, nil)
	e.waitFor("root's cascade done", func() bool {
		cs := e.cascades()
		return len(cs) == 2 && cs[0].State == "done"
	})
	done := e.cascades()[0]
	e.waitFor("root's cascade pruned", func() bool { return len(e.cascades()) == 1 })
	t.Logf("pruned %s after it finished (--retain %s)", time.Since(done.Updated).Round(100*time.Millisecond), retain)
	cs := e.cascades()
	assert.Equal(t, running.ID, cs[0].ID, "the running cascade is kept")
	assert.Equal(t, "running", cs[0].State)
	assert.Greater(t, time.Since(cs[0].Created), retain, "older than --retain, and kept")

	// The relay holds its SQLite file: its rows are read once it stopped.
	require.NoError(t, e.relay.cmd.Process.Signal(syscall.SIGTERM))
	<-e.relay.done
	db, err := sql.Open("sqlite", e.db)
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	count := func(query string, args ...any) int {
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), query, args...).Scan(&n))
		return n
	}
	assert.Zero(t, count(`SELECT COUNT(*) FROM relay_cascade WHERE id = $1`, done.ID))
	assert.Zero(t, count(`SELECT COUNT(*) FROM relay_cascade_stack WHERE cascade_id = $1`, done.ID))
	assert.Equal(t, 1, count(`SELECT COUNT(*) FROM relay_cascade_stack WHERE cascade_id = $1`, running.ID))
	assert.Equal(t, 0, count(`SELECT COUNT(*) FROM relay_deployment WHERE stack = 'a'`), "a's ended deployment is pruned")
	assert.Equal(t, 1, count(`SELECT COUNT(*) FROM relay_deployment WHERE stack = 'hung' AND ended_ms = 0`),
		"the deployment in flight is kept")
}
