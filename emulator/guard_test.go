package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoopbackHostAndOrigin(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.1:8383": true, "localhost": true, "LocalHost:80": true, "[::1]": true,
		"[::1]:8383": true, "127.3.4.5:1": true,
		"": false, "evil.example": false, "evil.example:8383": false, "localhost.evil.example": false,
		"0.0.0.0:8383": false, "192.168.1.2:8383": false, "[::]:8383": false, "127.0.0.1.nip.io": false,
	} {
		assert.Equal(t, want, loopbackHost(host), "Host %q", host)
	}
	for origin, want := range map[string]bool{
		"http://127.0.0.1:8383": true, "http://localhost:3000": true, "https://[::1]:8443": true,
		"null": false, "http://evil.example": false, "file://": false, "http://127.0.0.1.evil.example": false,
		"chrome-extension://abc": false,
	} {
		assert.Equal(t, want, loopbackOrigin(origin), "Origin %q", origin)
	}
}

// fillPattern turns a route pattern into a method and a path that reaches it.
func fillPattern(pattern string, values map[string]string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	for {
		i := strings.Index(path, "{")
		if i < 0 {
			return method, path
		}
		j := strings.Index(path[i:], "}") + i
		v, ok := values[path[i+1:j]]
		if !ok {
			v = "x"
		}
		path = path[:i] + v + path[j+1:]
	}
}

// fingerprint is everything an admin request could change, as JSON.
func fingerprint(t *testing.T, s *Server) string {
	t.Helper()
	behaviour, err := s.store.DeploymentBehaviourOf("acme", "app", "web")
	require.NoError(t, err)
	data, err := json.Marshal(map[string]any{
		"view": s.store.ConsoleView(), "stats": s.Stats(), "faults": s.CurrentFaults(), "mode": s.DeploymentMode(),
		"webhooks": s.Webhooks(), "deliveries": s.Deliveries(), "behaviour": toBehaviourWire(behaviour),
		"requests": len(s.Requests()), "updates": s.Updates(), "deliveryFaults": s.CurrentDeliveryFaults(),
	})
	require.NoError(t, err)
	return string(data)
}

// Every admin route that can change state refuses a request addressed to another host (DNS rebinding)
// or sent from another site, and changes nothing; the routes are read from what the server registered,
// so a route added later is checked too.
func TestAdminRoutesRefuseForeignHostsAndOrigins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web", "net")
	h.srv.SetManualDeployments(true)
	ref := must[map[string]any](t, h.call(http.MethodPost, "/api/stacks/acme/app/web/deployments",
		map[string]any{"operation": "update"}), http.StatusAccepted)
	h.srv.StartDeployments()
	values := map[string]string{"org": "acme", "project": "app", "stack": "web", "env": "shared",
		"id": ref["id"].(string), "upstreamProject": "app", "upstreamStack": "net", "file": "console.js"}

	refusals := []struct {
		name    string
		headers map[string]string
		host    string
		want    string
	}{
		{"another host", nil, "evil.example", `the Host header "evil.example" is not 127.0.0.1, [::1] or localhost`},
		{"another host on our port", nil, "evil.example:" + strings.Split(h.url, ":")[2], "DNS rebinding"},
		{"another site's page", map[string]string{"Origin": "http://evil.example"}, "",
			`the request comes from the page "http://evil.example"`},
		{"an opaque origin", map[string]string{"Origin": "null"}, "", `the request comes from the page "null"`},
		{"a cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", "Sec-Fetch-Site is cross-site"},
	}

	var changing []string
	for _, pattern := range h.srv.adminPatterns {
		method, path := fillPattern(pattern, values)
		if method == http.MethodGet {
			continue
		}
		changing = append(changing, pattern)
		for _, rf := range refusals {
			before := fingerprint(t, h.srv)
			r := h.sendTo(method, path, rf.host, map[string]any{"manual": false, "mode": "synchronous"}, rf.headers)
			assert.Contains(t, mustError(t, r, http.StatusForbidden), rf.want, "%s from %s", pattern, rf.name)
			assert.Equal(t, before, fingerprint(t, h.srv), "%s from %s changed the emulator", pattern, rf.name)
		}
	}
	for _, known := range []string{"POST /_emulator/seed", "POST /_emulator/stacks/{org}/{project}/{stack}/update",
		"PUT /_emulator/faults", "DELETE /_emulator/faults", "PUT /_emulator/deployments/mode",
		"PUT /_emulator/stacks/{org}/{project}/{stack}/deployment-behaviour", "POST /_emulator/deployments/{id}/finish"} {
		assert.Contains(t, changing, known, "the walk covers every state-changing route")
	}

	// The console page itself refuses a foreign POST before saying it only answers GET.
	assert.Contains(t, mustError(t, h.sendTo(http.MethodPost, "/", "evil.example", nil, nil), http.StatusForbidden), "DNS rebinding")
	assert.Equal(t, http.StatusMethodNotAllowed, h.send(http.MethodPost, "/", nil, nil).status)

	// What this machine sends goes through: any loopback Host, a loopback Origin, a same-origin fetch.
	for _, ok := range []struct {
		host    string
		headers map[string]string
	}{
		{"localhost:" + strings.Split(h.url, ":")[2], map[string]string{"Origin": h.url, "Sec-Fetch-Site": "same-origin"}},
		{"[::1]:8383", map[string]string{"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}},
		{"127.0.0.1", nil},
	} {
		r := h.sendTo(http.MethodPost, "/_emulator/stats/reset", ok.host, nil, ok.headers)
		assert.Equal(t, http.StatusNoContent, r.status, "Host %s: %s", ok.host, r.body)
	}
	// The API is the token's business, not the guard's.
	r := h.sendTo(http.MethodPost, "/api/stacks/acme/app", "evil.example", map[string]any{"stackName": "new"},
		map[string]string{"Authorization": "token " + testToken, "Origin": "http://evil.example"})
	assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// No GET of the admin API changes anything: reading every one leaves the emulator as it was, so the
// guard may let GETs through.
func TestAdminGetsChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	seedStacks(t, h.srv, "acme", "app", "web")
	values := map[string]string{"org": "acme", "project": "app", "stack": "web", "file": "console.js"}
	before := fingerprint(t, h.srv)
	n := 0
	for _, pattern := range h.srv.adminPatterns {
		method, path := fillPattern(pattern, values)
		if method != http.MethodGet {
			continue
		}
		n++
		r := h.sendTo(method, path, "evil.example", nil, map[string]string{"Origin": "http://evil.example"})
		assert.NotEqual(t, http.StatusForbidden, r.status, pattern)
	}
	assert.Greater(t, n, 10)
	assert.Equal(t, before, fingerprint(t, h.srv))
}
