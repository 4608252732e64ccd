package relay

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get answers a GET of url with its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

// listeningLine is the relay's "listening" log line.
func (h *harness) listeningLine() map[string]any {
	h.t.Helper()
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "listening" {
			return rec
		}
	}
	h.t.Fatalf("no listening line in:\n%s", h.logs.String())
	return nil
}

func TestWithAnAdminAddressTheHooksAddressServesOnlyHooksAndHealth(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	h := startRelay(t, emu, testDB(t), func(c *Config) { c.AdminAddr = "127.0.0.1:0" })
	admin := "http://" + h.r.AdminAddr()
	require.NotEqual(t, h.base, admin)
	line := h.listeningLine()
	assert.Equal(t, h.r.Addr(), line["addr"])
	assert.Equal(t, h.r.AdminAddr(), line["adminAddr"])

	status, _ := h.deliver(Event{Organization: testOrg, Project: "p", Stack: "root", Version: 2})
	assert.Equal(t, http.StatusAccepted, status, "deliveries on the hooks address")
	for _, path := range []string{"/v1/cascades", "/metrics", "/"} {
		status, _ := get(t, h.base+path)
		assert.Equal(t, http.StatusNotFound, status, "GET %s on the hooks address", path)
	}
	for _, base := range []string{h.base, admin} {
		status, body := get(t, base+"/healthz")
		assert.Equal(t, http.StatusOK, status, base)
		assert.JSONEq(t, `{"status":"ok"}`, body, base)
	}
	status, body := get(t, admin+"/v1/cascades")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `{"cascades":[`)
	status, body = get(t, admin+"/metrics")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `auto_deploy_relay_deliveries_total{result="accepted"} 1`)

	resp, err := http.Post(admin+HooksPath, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no deliveries on the admin address")
}

func TestWithoutAnAdminAddressTheAdminRoutesNeedALoopbackAddress(t *testing.T) {
	t.Parallel()
	t.Run("loopback", func(t *testing.T) {
		t.Parallel()
		h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
		assert.Equal(t, h.r.Addr(), h.r.AdminAddr())
		assert.Equal(t, h.r.Addr(), h.listeningLine()["adminAddr"])
		for _, path := range []string{"/v1/cascades", "/metrics"} {
			status, _ := get(t, h.base+path)
			assert.Equal(t, http.StatusOK, status, path)
		}
		assert.NotContains(t, h.logs.String(), "served nowhere")
	})
	t.Run("every interface", func(t *testing.T) {
		t.Parallel()
		h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t), func(c *Config) { c.Addr = "0.0.0.0:0" })
		_, port, err := net.SplitHostPort(h.r.Addr())
		require.NoError(t, err)
		base := "http://127.0.0.1:" + port
		assert.Empty(t, h.r.AdminAddr())
		assert.Equal(t, "", h.listeningLine()["adminAddr"])
		for _, path := range []string{"/v1/cascades", "/metrics"} {
			status, _ := get(t, base+path)
			assert.Equal(t, http.StatusNotFound, status, path)
		}
		status, _ := get(t, base+"/healthz")
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, h.logs.String(), `"msg":"the admin routes (GET /v1/cascades, GET /metrics) are served `+
			`nowhere: --addr is not a loopback address and --admin-addr is not set; set --admin-addr to a private `+
			`address to serve them"`)
	})
}

func TestDeliveriesOfAnotherOrganizationAreForbidden(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	h := startRelay(t, emu, testDB(t), func(c *Config) { c.Organizations = []string{"acme", "beta"} })
	status, out := h.deliver(Event{Organization: "other", Project: "p", Stack: "root", Version: 2})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, `the payload's organization "other" is not one this relay deploys in: it takes deliveries `+
		`of acme, beta only (--organization)`, out["error"])
	assert.Zero(t, h.accepted(), "a forbidden delivery queues nothing")
	assert.Equal(t, 1.0, metricValue(t, h.scrape(), "auto_deploy_relay_deliveries_total", "result=forbidden"))

	status, _ = h.deliver(Event{Organization: testOrg, Project: "p", Stack: "root", Version: 2})
	assert.Equal(t, http.StatusAccepted, status, "acme is one of the relay's")
	assert.Equal(t, 1, h.accepted())
	assert.Equal(t, []any{"acme", "beta"}, h.listeningLine()["organizations"])
}

func TestNewRefusesAnOrganizationThatIsNotAName(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Secret: testSecret, APIURL: "http://127.0.0.1:9", Token: "t", Organizations: []string{"acme", "acme/p"}})
	assert.EqualError(t, err, `--organization "acme/p" is not an organization name: 1-100 letters, digits, '-', `+
		`'_' or '.'`)
}

// waitClosed reads conn until the relay closes it, and returns what it sent before; it fails
// the test if the relay has not closed it within d.
func waitClosed(t *testing.T, conn net.Conn, d time.Duration) string {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(d)))
	data, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the relay did not close the connection within %s", d)
	}
	return string(data)
}

func dial(t *testing.T, addr, send string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = io.WriteString(conn, send)
	require.NoError(t, err)
	return conn
}

func TestSlowAndIdleClientsAreCutOff(t *testing.T) {
	t.Parallel()
	emu := newCloud(t, "root", "a", "b")
	h := startRelay(t, emu, testDB(t), func(c *Config) {
		c.HTTP = HTTPLimits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond,
			IdleTimeout: 300 * time.Millisecond}
	})
	addr := h.r.Addr()
	headers := dial(t, addr, "POST /v1/hooks HTTP/1.1\r\nHost: relay\r\nContent-Ty")
	body := dial(t, addr, "POST /v1/hooks HTTP/1.1\r\nHost: relay\r\nContent-Length: 100\r\n\r\n{\"organ")
	idle := dial(t, addr, "GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())

	// A genuine delivery goes through meanwhile.
	status, _ := h.deliver(Event{Organization: testOrg, Project: "p", Stack: "root", Version: 2})
	assert.Equal(t, http.StatusAccepted, status)

	waitClosed(t, headers, defaultWait)
	assert.Contains(t, waitClosed(t, body, defaultWait), `{"error":"the body did not arrive within the relay's `+
		`read timeout (400ms, headers included): send it at once"}`)
	waitClosed(t, idle, defaultWait)
}

func TestAConnectionBeyondTheCapWaitsForASlot(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t), func(c *Config) {
		c.HTTP = HTTPLimits{MaxConnections: 1, ReadHeaderTimeout: 2 * time.Second}
	})
	holder := dial(t, h.r.Addr(), "GET /healthz HTTP/1.1\r\n")
	// Its headers never end: it holds the only slot until the relay cuts it off.
	status, _ := get(t, h.base+"/healthz")
	assert.Equal(t, http.StatusOK, status)
	// The relay closed the holder before it took the second connection, so that close has
	// already arrived: the read finds it at once.
	assert.Empty(t, waitClosed(t, holder, 100*time.Millisecond),
		"the second connection was served only once the first was cut off")
}

func TestHTTPLimitsDefaults(t *testing.T) {
	t.Parallel()
	// docs/relay.md ("Routes") states these.
	assert.Equal(t, HTTPLimits{MaxConnections: 1024, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}, HTTPLimits{}.withDefaults())
	set := HTTPLimits{MaxConnections: 3, ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second,
		WriteTimeout: 3 * time.Second, IdleTimeout: 4 * time.Second, MaxHeaderBytes: 100}
	assert.Equal(t, set, set.withDefaults(), "what is set is kept")
}

func TestHeadersOverTheLimitAreRefused(t *testing.T) {
	t.Parallel()
	h := startRelay(t, newCloud(t, "root", "a", "b"), testDB(t))
	for _, tt := range []struct {
		size   int
		status int
	}{{8 << 10, http.StatusOK}, {32 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, err := http.NewRequest(http.MethodGet, h.base+"/healthz", nil)
		require.NoError(t, err)
		req.Header.Set("X-Padding", strings.Repeat("x", tt.size))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, tt.status, resp.StatusCode, "a header of %d bytes", tt.size)
	}
}
