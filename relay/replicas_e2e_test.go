//go:build e2e

package relay_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/pgtest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

// takeoverWait is what the relay promises: the organizations of a replica killed outright go on in
// another within 10 s (--rescue-after 5s of silent heartbeats, then a fetch of the queue).
const takeoverWait = 10 * time.Second

func TestRelayReplicasOnPostgresTakeOverTheOrganizationOfAReplicaKilledOutright(t *testing.T) {
	// root → a → b and a → c; a deploys for 3 s, long enough to kill the replica that follows it.
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
	require.Eventually(t, func() bool {
		return strings.Contains(replicas[0].logs.String()+replicas[1].logs.String(), `"msg":"baseline adopted`)
	}, e2eWait, 20*time.Millisecond, "the organization's baseline, before the update the test makes")
	proxy := httptest.NewServer(e2e.NewRoundRobin(replicas[0].base, replicas[1].base))
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
	require.NoError(t, emu.SetDeploymentBehaviour(e2eOrg, e2eProject, "a", emulator.DeploymentBehaviour{
		Duration: 3 * time.Second, Outputs: &emulator.StackOutputs{Plain: map[string]any{"a": 1}}}))

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
	holder := func() string {
		var by string
		err := db.QueryRowContext(t.Context(), `
SELECT attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE kind = 'relay_org' AND state = 'running'`).
			Scan(&by)
		if err == sql.ErrNoRows {
			return ""
		}
		require.NoError(t, err)
		return by
	}

	_, err = emu.FireUpdateWithOutputs(e2eOrg, e2eProject, "root", &emulator.StackOutputs{Plain: map[string]any{"v": 1}})
	require.NoError(t, err)
	waitFor("a deploying", e2eWait, func() bool {
		cs := cascades()
		return len(cs) == 1 && len(cs[0].Stacks) == 3 && cs[0].Stacks[0].DeploymentID != ""
	})
	var victim, survivor *relayProcess
	waitFor("a replica running the organization's schedule", e2eWait, func() bool {
		by := holder()
		for i, p := range replicas {
			if p.replica == by {
				victim, survivor = p, replicas[1-i]
			}
		}
		return victim != nil
	})
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	<-victim.done
	killed := time.Now()
	waitFor("the other replica running the organization's schedule", takeoverWait,
		func() bool { return holder() == survivor.replica })
	t.Logf("takeover: the surviving replica runs the organization's schedule %s after the SIGKILL",
		time.Since(killed).Round(100*time.Millisecond))

	waitFor("the cascade done and the emulator idle", e2eWait, func() bool {
		cs := cascades()
		return len(cs) == 1 && cs[0].State == "done" && emu.Idle()
	})
	c := cascades()[0]
	assert.Equal(t, map[string]relay.State{"a": "succeeded", "b": "succeeded", "c": "succeeded"}, states(c))
	deployed := map[string]emulator.Deployment{}
	for _, stack := range []string{"a", "b", "c"} {
		ds, err := emu.StackDeployments(e2eOrg, e2eProject, stack)
		require.NoError(t, err)
		require.Len(t, ds, 1, "%s deployed exactly once: nothing twice, nothing missed", stack)
		deployed[stack] = ds[0]
	}
	a := deployed["a"]
	require.True(t, a.Finished.After(killed), "a's deployment ended after the SIGKILL")
	for _, child := range []string{"b", "c"} {
		wait := deployed[child].Created.Sub(a.Finished)
		t.Logf("%s requested %s after its parent a ended", child, wait.Round(10*time.Millisecond))
		assert.Less(t, wait, takeoverWait, "%s's deployment requested within 10 s of its parent's end", child)
	}
	var left int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM relay_replica WHERE replica = $1`,
		victim.replica).Scan(&left))
	assert.Zero(t, left, "the killed replica is forgotten")
	assert.Contains(t, survivor.logs.String(), `"msg":"a replica stopped counting heartbeats: its jobs are handed on",`+
		`"dead_replica":"`+victim.replica+`"`)
}
