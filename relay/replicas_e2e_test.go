//go:build e2e

package relay_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

// takeoverWait is what the relay promises: a replica killed mid-step has its cascade taken
// over by another within a minute (--rescue-after 15s; River's rescuer runs every 30s, its
// scheduler every 5s).
const takeoverWait = 60 * time.Second

// roundRobin is a load balancer in front of relay replicas: each request goes to the next
// replica, and to the one after when that one does not answer (a dead process).
type roundRobin struct {
	backends []string
	next     atomic.Uint64
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	first := rr.next.Add(1)
	for i := range uint64(len(rr.backends)) {
		out, err := http.NewRequestWithContext(req.Context(), req.Method,
			rr.backends[(first+i)%uint64(len(rr.backends))]+req.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Header = req.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		return
	}
	http.Error(w, "no relay replica answered", http.StatusBadGateway)
}

func TestRelayReplicasOnPostgresTakeOverAReplicaKilledMidStep(t *testing.T) {
	// root → a → b and a → c; a's deployment runs long enough to kill a replica during it.
	emu := emulatortest.Start(t, emulatortest.WithDeploymentDuration(150*time.Millisecond))
	emu.SeedDeployable(t, e2eOrg, e2eProject, "root", "a", "b", "c")
	client, err := cloud.New(nil, emu.URL, emu.Token)
	require.NoError(t, err)
	dbURL := pgtest.Start(t)
	db, err := sql.Open("pgx", dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	replicas := []*relayProcess{runRelay(t, emu, "127.0.0.1:0", dbURL), runRelay(t, emu, "127.0.0.1:0", dbURL)}
	require.NotEqual(t, replicas[0].replica, replicas[1].replica)
	proxy := httptest.NewServer(&roundRobin{backends: []string{replicas[0].base, replicas[1].base}})
	t.Cleanup(proxy.Close)
	for _, e := range [][2]string{{"root", "a"}, {"a", "b"}, {"a", "c"}} {
		target := e2eProject + "/" + e[1]
		_, err := client.CreateWebhook(t.Context(),
			cloud.WebhookScope{Organization: e2eOrg, Project: e2eProject, Stack: e[0]},
			cloud.Webhook{Name: edge.Name(target), DisplayName: "auto-deploy: " + target,
				PayloadURL: edge.Form{RelayURL: proxy.URL}.PayloadURL(target), Active: true, Format: "raw",
				Filters: []string{"update_succeeded"}, Secret: e2eSecret})
		require.NoError(t, err)
	}
	require.NoError(t, emu.SetDeploymentBehaviour(e2eOrg, e2eProject, "a", emulator.DeploymentBehaviour{Duration: 3 * time.Second}))

	cascades := func() []relay.CascadeView {
		resp, err := http.Get(proxy.URL + "/v1/cascades")
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		var out struct{ Cascades []relay.CascadeView }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out.Cascades
	}
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s", within, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	_, err = emu.FireUpdateWithOutputs(e2eOrg, e2eProject, "root", &emulator.StackOutputs{Plain: map[string]any{"v": 1}})
	require.NoError(t, err)
	waitFor("a deploying", e2eWait, func() bool {
		cs := cascades()
		return len(cs) == 1 && len(cs[0].Stacks) == 3 && cs[0].Stacks[0].DeploymentID != ""
	})

	// Every Cloud request now takes 500ms, so each step of the cascade runs that long at least:
	// a replica caught within 200ms of starting a step dies in the middle of it.
	emu.SetFaults(emulator.Faults{Latency: 500 * time.Millisecond})
	var jobID int64
	var holder string
	waitFor("a replica starting a step of the cascade", e2eWait, func() bool {
		err := db.QueryRowContext(t.Context(), `
SELECT id, attempted_by[array_length(attempted_by, 1)] FROM river_job
WHERE kind = 'relay_org' AND state = 'running' AND now() - attempted_at < interval '200 milliseconds'`).
			Scan(&jobID, &holder)
		return err == nil
	})
	victim, survivor := replicas[0], replicas[1]
	if holder == survivor.replica {
		victim, survivor = survivor, victim
	}
	require.Equal(t, holder, victim.replica, "the step runs on one of the two replicas")
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	<-victim.done
	killed := time.Now()
	var state, by string
	require.NoError(t, db.QueryRowContext(t.Context(), `
SELECT state, attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE id = $1`, jobID).Scan(&state, &by))
	require.Equal(t, []string{"running", victim.replica}, []string{state, by},
		"the replica died in the middle of the step, leaving the job running")

	emu.SetFaults(emulator.Faults{})
	waitFor("the other replica taking the cascade over", takeoverWait, func() bool {
		var by string
		err := db.QueryRowContext(t.Context(), `
SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE id = $1`, jobID).Scan(&by)
		require.NoError(t, err)
		return by == survivor.replica
	})
	t.Logf("takeover: the surviving replica ran the cascade's step %s after the SIGKILL",
		time.Since(killed).Round(100*time.Millisecond))

	waitFor("the cascade done and the emulator idle", e2eWait, func() bool {
		cs := cascades()
		return len(cs) == 1 && cs[0].State == "done" && emu.Idle()
	})
	c := cascades()[0]
	assert.Equal(t, map[string]relay.State{"a": "succeeded", "b": "succeeded", "c": "succeeded"}, states(c))
	for _, stack := range []string{"a", "b", "c"} {
		ds, err := emu.StackDeployments(e2eOrg, e2eProject, stack)
		require.NoError(t, err)
		assert.Len(t, ds, 1, "%s deployed exactly once: nothing twice, nothing missed", stack)
	}
}
