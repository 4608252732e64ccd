//go:build e2e

package examples

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// faultyTree starts a Pulumi Cloud holding a tree of stacks (fanout children each) and a
// workspace whose program declares its edges, then makes the cloud follow the fault rules,
// with its counters reset.
func faultyTree(t *testing.T, stacks, fanout int, rules ...emulator.FaultRule) (*cloud, *workspace) {
	t.Helper()
	c := startCloud(t)
	w := newProgramWorkspace(t, e2e.TreeProgram(t, c.Cloud, stacks, fanout), c)
	c.SetFaults(emulator.Faults{Rules: rules})
	c.ResetStats()
	return c, w
}

// TestFaultyCloudLargeGraph: a 300-edge graph against a Pulumi Cloud that rate-limits
// every 7th request and fails every 11th. Every phase succeeds and every edge exists
// exactly once.
func TestFaultyCloudLargeGraph(t *testing.T) {
	t.Parallel()
	const stacks, fanout = 301, 3
	c, w := faultyTree(t, stacks, fanout,
		emulator.FaultRule{Status: http.StatusTooManyRequests, Every: 7, RetryAfter: "1"},
		emulator.FaultRule{Status: http.StatusServiceUnavailable, Every: 11})

	w.pulumi("up", "--yes", "--skip-preview", "--parallel", "32")
	s := c.Stats()
	t.Logf("create under faults: requests=%d faults=%d writes=%d webhooks=%d", s.Total, s.Faults, s.Writes,
		len(withoutMarks(c.Webhooks())))
	assert.Positive(t, s.Faults, "the faults were injected")
	e2e.AssertTree(t, c.Cloud, stacks, fanout)

	c.ResetStats()
	w.pulumi("up", "--yes", "--skip-preview", "--parallel", "32", "--expect-no-changes")
	assert.Zero(t, c.Stats().Writes)

	c.ResetStats()
	w.pulumi("destroy", "--yes", "--skip-preview", "--parallel", "32")
	s = c.Stats()
	t.Logf("destroy under faults: requests=%d faults=%d", s.Total, s.Faults)
	assert.Empty(t, c.Webhooks())
}

// TestProviderKilledMidCreate kills the plugin while one AutoDeployer is creating its
// webhooks. A user's refresh and up then converge: no webhook leaked, none duplicated.
func TestProviderKilledMidCreate(t *testing.T) {
	t.Parallel()
	const refs = 120
	c := startCloud(t)
	program := e2e.TreeProgram(t, c.Cloud, refs+1, refs) // s0 → s1..s120
	w := newProgramWorkspace(t, program, c)
	// A private copy of the plugin, first on PATH, so only this test's process is killed.
	plugin := w.privatePlugin()
	c.SetFaults(emulator.Faults{Latency: 20 * time.Millisecond})

	done := make(chan error, 1)
	go func() {
		_, err := w.run("up", "--yes", "--skip-preview")
		done <- err
	}()
	killed := false
	deadline := time.After(3 * time.Minute)
	for !killed {
		select {
		case err := <-done:
			t.Fatalf("pulumi up finished before the plugin could be killed (err=%v, %d webhooks)", err,
				len(withoutMarks(c.Webhooks())))
		case <-deadline:
			t.Fatal("no webhook creation started within 3 minutes")
		case <-time.After(5 * time.Millisecond):
			if n := len(withoutMarks(c.Webhooks())); n >= 20 && n < refs {
				killed = killProcess(t, plugin)
			}
		}
	}
	require.Error(t, <-done, "pulumi up must fail when its provider dies")
	partial := len(withoutMarks(c.Webhooks()))
	t.Logf("plugin killed with %d of %d webhooks created", partial, refs)
	require.Less(t, partial, refs)

	c.SetFaults(emulator.Faults{})
	w.pulumi("refresh", "--yes", "--skip-preview")
	w.pulumi("up", "--yes", "--skip-preview")
	e2e.AssertTree(t, c.Cloud, refs+1, refs)
	w.pulumi("destroy", "--yes", "--skip-preview")
	assert.Empty(t, c.Webhooks())
}

// TestSecretsStayOutOfStateAndLogs: the access token and a webhook's HMAC key never
// appear in plain text in the exported state, in `pulumi up` output, or in anything the
// provider logs at -v=9.
func TestSecretsStayOutOfStateAndLogs(t *testing.T) {
	t.Parallel()
	const hmac = "hmac-key-0f5e2d9c7b"
	c := startCloud(t)
	require.NoError(t, c.CreateStack("org", "network", "prod"))
	w := newProgramWorkspace(t, `name: secrets
runtime: yaml
config:
  hmac:
    type: string
    secret: true
resources:
  signed:
    type: auto-deploy:Webhook
    properties:
      organizationName: org
      projectName: network
      stackName: prod
      displayName: signed
      payloadUrl: https://hooks.example.com/pulumi
      active: true
      secret: ${hmac}
`, c)
	w.pulumi("config", "set", "--secret", "hmac", hmac)

	out := w.pulumi("up", "--yes")
	require.Len(t, withoutMarks(c.Webhooks()), 1)
	require.Equal(t, hmac, withoutMarks(c.Webhooks())[0].Secret, "the key reached Pulumi Cloud")
	assert.NotContains(t, out, testToken)
	assert.NotContains(t, out, hmac)

	// At -v=9 the engine traces every property of every RPC, secrets included, whatever
	// the provider: those trace lines are Pulumi's. Any other line is this provider's.
	w.edit("displayName: signed", "displayName: signed-v2")
	logs := w.pulumi("up", "--yes", "--skip-preview", "-v=9", "--logtostderr", "--logflow")
	require.Equal(t, "signed-v2", withoutMarks(c.Webhooks())[0].DisplayName, "the verbose run did call the provider")
	engineTrace := regexp.MustCompile(`"msg":"(Un)?[Mm]arshaling property for RPC\[`)
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, testToken) || strings.Contains(line, hmac) {
			assert.Regexp(t, engineTrace, line, "a secret in a log line that is not the engine's RPC trace")
		}
	}

	state := w.pulumi("stack", "export")
	assert.NotContains(t, state, testToken)
	assert.NotContains(t, state, hmac)
	// The state does hold both, encrypted: the checks above look in the right place.
	revealed := w.pulumi("stack", "export", "--show-secrets")
	assert.Contains(t, revealed, hmac)
	assert.Contains(t, revealed, testToken)
}

// killProcess SIGKILLs every running process whose executable is path (the engine's
// provider and the language host's schema loader both run the plugin) and reports
// whether it found any.
func killProcess(t *testing.T, path string) bool {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	killed := false
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			killed = syscall.Kill(pid, syscall.SIGKILL) == nil || killed
		}
	}
	return killed
}

// TestRateLimitHalvesAndSaysSoOnce: a Pulumi Cloud that answers 429 to every third read.
// The up succeeds with every edge once; the provider waits as each 429 asks, halves its
// bound on requests in flight, and says so in one line, not one per request.
func TestRateLimitHalvesAndSaysSoOnce(t *testing.T) {
	t.Parallel()
	const stacks, fanout = 40, 3
	c, w := faultyTree(t, stacks, fanout,
		emulator.FaultRule{Status: http.StatusTooManyRequests, Every: 3, Method: http.MethodGet, RetryAfter: "1", Limit: 30})
	out := w.pulumi("up", "--yes", "--skip-preview")
	s := c.Stats()
	t.Logf("up under 429s: requests=%d faults=%d writes=%d", s.Total, s.Faults, s.Writes)
	assert.Positive(t, s.Faults)
	// The CLI prints a diagnostic beside its resource as it goes, and once more in its summary.
	summary := out[strings.Index(out, "Diagnostics:"):]
	assert.Equal(t, 1, strings.Count(summary, "Pulumi Cloud is rate limiting this provider (429 Too Many "+
		"Requests)"), "one diagnostic in the whole run:\n%s", summary)
	assert.Contains(t, out, "waiting 1s before retrying, as it asked (Retry-After)")
	e2e.AssertTree(t, c.Cloud, stacks, fanout)
}
