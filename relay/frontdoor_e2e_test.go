//go:build e2e

package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/edge"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

// The relay's front door (issue 26) against the relay binary: slow clients cut off while
// deliveries go through, a cap on the connections it holds, the admin routes only on the admin
// address, and deliveries of another organization refused.

// The relay's default timeouts (relay.HTTPLimits), and how late a cut-off may come on a busy
// machine.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	cutOffMargin      = 5 * time.Second
)

// Requests that never end: their headers, or their body, arrive a byte a second.
const (
	dribbledHeaders = "POST /v1/hooks HTTP/1.1\r\nHost: relay\r\nContent-Ty"
	dribbledBody    = "POST /v1/hooks HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n" +
		"Content-Length: 4096\r\n\r\n{"
)

// restartWith stops the relay and starts it again on the same database with flags.
func (e *e2eEnv) restartWith(flags ...string) {
	e.t.Helper()
	require.NoError(e.t, e.relay.cmd.Process.Signal(syscall.SIGTERM))
	<-e.relay.done
	e.relay = runRelay(e.t, e.emu, "127.0.0.1:0", e.db, flags...)
}

// listening is the relay's "listening" log line.
func (p *relayProcess) listening(t *testing.T) (addr, adminAddr string) {
	t.Helper()
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var rec struct{ Msg, Addr, AdminAddr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			return rec.Addr, rec.AdminAddr
		}
	}
	t.Fatalf("no listening line:\n%s", p.logs.String())
	return "", ""
}

// openFDs counts the file descriptors the process pid holds.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err, "counting the relay's file descriptors needs Linux's /proc")
	return len(fds)
}

// slowClient is a connection that sent the start of a request and adds a byte a second, as a
// slowloris client does, until the relay closes it.
type slowClient struct {
	opened time.Time
	closed chan struct{}
	// closedAt and answer (what the relay sent before closing) are set before closed is.
	closedAt time.Time
	answer   string
}

func startSlowClients(t *testing.T, addr, head string, n int) []*slowClient {
	t.Helper()
	clients := make([]*slowClient, n)
	for i := range clients {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		c := &slowClient{opened: time.Now(), closed: make(chan struct{})}
		_, err = io.WriteString(conn, head)
		require.NoError(t, err)
		go func() {
			var answer bytes.Buffer
			_, _ = io.Copy(&answer, conn)
			c.closedAt, c.answer = time.Now(), answer.String()
			close(c.closed)
		}()
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-c.closed:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte("x")); err != nil {
						return
					}
				}
			}
		}()
		clients[i] = c
	}
	return clients
}

func stillOpen(clients []*slowClient) int {
	n := 0
	for _, c := range clients {
		select {
		case <-c.closed:
		default:
			n++
		}
	}
	return n
}

// waitCutOff waits for the relay to close every client, and checks that it closed each within
// limit of its opening.
func waitCutOff(t *testing.T, clients []*slowClient, limit time.Duration) {
	t.Helper()
	var slowest time.Duration
	for _, c := range clients {
		select {
		case <-c.closed:
		case <-time.After(time.Until(c.opened.Add(limit + e2eWait))):
			t.Fatalf("the relay still holds a slow client opened %s ago", time.Since(c.opened))
		}
		slowest = max(slowest, c.closedAt.Sub(c.opened))
	}
	assert.LessOrEqual(t, slowest, limit+cutOffMargin, "the longest a slow client was held")
}

func TestRelayCutsOffSlowClientsWhileADeliveryGoesThrough(t *testing.T) {
	e := newEnv(t, "root", "a")
	e.edge("root", "a", e2eSecret)
	pid := e.relay.cmd.Process.Pid
	idleFDs := openFDs(t, pid)
	addr := strings.TrimPrefix(e.relay.base, "http://")
	const each = 150
	headers := startSlowClients(t, addr, dribbledHeaders, each)
	bodies := startSlowClients(t, addr, dribbledBody, each)
	e.waitFor("the relay holding every slow client", func() bool { return openFDs(t, pid) >= idleFDs+2*each })

	e.fire("root", map[string]any{"v": 1}, nil)
	var delivery emulator.Delivery
	e.emu.WaitFor(t, "the delivery answered", func() bool {
		ds := e.emu.Deliveries()
		if len(ds) == 1 && !ds[0].Pending {
			delivery = ds[0]
			return true
		}
		return false
	})
	assert.Equal(t, http.StatusAccepted, delivery.ResponseCode, delivery.ResponseBody)
	resp, err := http.Get(e.relay.base + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Positive(t, stillOpen(bodies), "the delivery and /healthz were answered while slow clients were connected")
	c := e.waitDone(1)
	assert.Equal(t, map[string]relay.State{"a": "succeeded"}, states(c))

	waitCutOff(t, headers, readHeaderTimeout)
	waitCutOff(t, bodies, readTimeout)
	for _, c := range bodies {
		assert.Contains(t, c.answer, "HTTP/1.1 408 Request Timeout")
	}
	assert.Equal(t, float64(each), e.scrape()["deliveries_total{result=invalid}"], "each slow body")
	e.waitFor("the relay's descriptors back to idle", func() bool { return openFDs(t, pid) <= idleFDs+5 })
}

func TestRelayHoldsNoMoreConnectionsThanItsCap(t *testing.T) {
	e := newEnv(t)
	const maxConns, clients = 50, 200
	e.restartWith("--max-connections", fmt.Sprint(maxConns))
	pid := e.relay.cmd.Process.Pid
	idleFDs := openFDs(t, pid)
	slow := startSlowClients(t, strings.TrimPrefix(e.relay.base, "http://"), dribbledHeaders, clients)
	// A probe waits its turn among them; the relay answers it once the header timeout frees a slot.
	healthz := make(chan int, 1)
	go func() {
		resp, err := http.Get(e.relay.base + "/healthz")
		if err != nil {
			healthz <- 0
			return
		}
		_ = resp.Body.Close()
		healthz <- resp.StatusCode
	}()
	peak := 0
	e.waitFor("every slow client cut off", func() bool {
		peak = max(peak, openFDs(t, pid))
		return stillOpen(slow) == 0
	})
	assert.LessOrEqual(t, peak, idleFDs+maxConns+5, "descriptors held at the peak, idle %d", idleFDs)
	assert.Greater(t, peak, idleFDs+maxConns-5, "the cap was reached")
	select {
	case status := <-healthz:
		assert.Equal(t, http.StatusOK, status)
	case <-time.After(e2eWait):
		t.Fatal("/healthz was not answered once the slow clients were cut off")
	}
}

func TestRelayServesTheAdminRoutesOnlyOnTheAdminAddress(t *testing.T) {
	e := newEnv(t, "root", "a")
	e.restartWith("--admin-addr", "127.0.0.1:0")
	hooksAddr, adminAddr := e.relay.listening(t)
	require.NotEqual(t, hooksAddr, adminAddr)
	e.edge("root", "a", e2eSecret)
	e.fire("root", map[string]any{"v": 1}, nil)

	// The same relay, seen from the admin address.
	adminProcess := *e.relay
	adminProcess.base = "http://" + adminAddr
	admin := *e
	admin.relay = &adminProcess
	c := admin.waitDone(1)
	assert.Equal(t, map[string]relay.State{"a": "succeeded"}, states(c), "the delivery reached the hooks address")
	assert.Positive(t, admin.scrape()["deliveries_total{result=accepted}"])

	status := func(method, url string) int {
		req, err := http.NewRequest(method, url, strings.NewReader("{}"))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/v1/cascades", "/metrics", "/"} {
		assert.Equal(t, http.StatusNotFound, status(http.MethodGet, e.relay.base+path), "GET %s on the hooks address", path)
	}
	assert.Equal(t, http.StatusOK, status(http.MethodGet, e.relay.base+"/healthz"))
	assert.Equal(t, http.StatusOK, status(http.MethodGet, adminProcess.base+"/healthz"))
	assert.Equal(t, http.StatusNotFound, status(http.MethodPost, adminProcess.base+relay.HooksPath),
		"no deliveries on the admin address")
}

func TestRelayRefusesAnotherOrganization(t *testing.T) {
	e := newEnv(t, "root", "a")
	const other = "other"
	e.emu.SeedDeployable(t, other, e2eProject, "root", "x")
	e.restartWith("--organization", e2eOrg)
	// Someone who knows the relay's secret points a webhook of their organization at it.
	target := e2eProject + "/x"
	_, err := e.client.CreateWebhook(t.Context(), cloud.WebhookScope{Organization: other, Project: e2eProject, Stack: "root"},
		cloud.Webhook{Name: edge.Name(target), DisplayName: "another organization's edge", Active: true,
			PayloadURL: edge.Form{RelayURL: e.relay.base}.PayloadURL(target), Format: "raw", Secret: e2eSecret})
	require.NoError(t, err)
	_, err = e.emu.FireUpdateWithOutputs(other, e2eProject, "root", &emulator.StackOutputs{Plain: map[string]any{"v": 1}})
	require.NoError(t, err)
	e.emu.WaitIdle(t)
	deliveries := e.emu.Deliveries()
	require.Len(t, deliveries, 1)
	assert.Equal(t, http.StatusForbidden, deliveries[0].ResponseCode)
	assert.JSONEq(t, `{"error":"the payload's organization \"other\" is not one this relay deploys in: it takes `+
		`deliveries of acme only (--organization)"}`, deliveries[0].ResponseBody)
	assert.Empty(t, e.cascades())
	ds, err := e.emu.StackDeployments(other, e2eProject, "x")
	require.NoError(t, err)
	assert.Empty(t, ds)
	m := e.scrape()
	assert.Equal(t, 1.0, m["deliveries_total{result=forbidden}"])
	assert.Zero(t, m["deliveries_total{result=accepted}"])

	// Its own organization's updates go on as before.
	e.edge("root", "a", e2eSecret)
	e.fire("root", map[string]any{"v": 1}, nil)
	assert.Equal(t, map[string]relay.State{"a": "succeeded"}, states(e.waitDone(1)))
}
