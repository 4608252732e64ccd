package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/syncbuf"
)

func noEnv(string) string { return "" }

// startRun runs the command with args and env in the background and returns the base URL it prints
// first, its stderr so far and after, and stop, which ends the run (as the test's end does) and
// returns run's error.
func startRun(t *testing.T, args []string, env func(string) string) (base string, stderr *syncbuf.Buffer,
	stop func() error,
) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	outR, outW := io.Pipe()
	stderr = &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, outW, stderr, env)
		_ = outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSpace(line), stderr, func() error {
		cancel()
		return <-done
	}
}

func TestRunServesAndPrintsTheBaseURLFirst(t *testing.T) {
	t.Parallel()
	base, stderr, stop := startRun(t, []string{"--addr", "127.0.0.1:0", "--stacks", "acme/app/a, acme/app/b"},
		func(k string) string { return map[string]string{"EMULATOR_TOKEN": "env-token"}[k] })
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/stacks/acme/app/b/deployments/settings", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "token env-token")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "--stacks creates stacks with deployment settings")

	require.NoError(t, stop())
	assert.Contains(t, stderr.String(), "GET /api/stacks/acme/app/b/deployments/settings 200")
}

func TestRunRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"--addr", "127.0.0.1:0"}, "no token"},
		{"bad stacks", []string{"--token", "t", "--stacks", "acme/app"}, "org/project/stack"},
		{"bad stack name", []string{"--token", "t", "--addr", "127.0.0.1:0", "--stacks", "acme/app/a b"}, "stack name"},
		{"unknown flag", []string{"--nope"}, "nope"},
		{"negative duration", []string{"--token", "t", "--deployment-duration", "-1s"}, "--deployment-duration -1s is negative"},
		{"bad duration", []string{"--token", "t", "--deployment-duration", "soon"}, "deployment-duration"},
		{"negative concurrency", []string{"--token", "t", "--deployment-concurrency", "-2"},
			"--deployment-concurrency -2 is negative: give the number of deployments an organization may run at once, or 0 for no cap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout bytes.Buffer
			err := run(t.Context(), tc.args, &stdout, io.Discard, noEnv)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, stdout.String(), "nothing on stdout unless serving")
		})
	}
}

// --deployment-duration makes deployments timed, and --deployment-concurrency caps them.
func TestRunDeploymentDuration(t *testing.T) {
	t.Parallel()
	base, _, stop := startRun(t, []string{"--addr", "127.0.0.1:0", "--token", "t", "--quiet", "--stacks", "acme/app/a",
		"--deployment-duration", "1h", "--deployment-concurrency", "5"}, noEnv)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/_emulator/deployments/mode", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	assert.JSONEq(t, `{"mode":"timed","durationMs":3600000,"concurrency":5}`, string(body))

	require.NoError(t, stop())
}

func TestRunVersion(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"--version"}, &stdout, io.Discard, noEnv))
	assert.Equal(t, version+"\n", stdout.String())
}
