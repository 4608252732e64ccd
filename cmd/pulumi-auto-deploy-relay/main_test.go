package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/relay"
)

func TestRunRefusesWhatItCannotStartWith(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	both := map[string]string{"PULUMI_ACCESS_TOKEN": "pul-x", "AUTO_DEPLOY_RELAY_SECRET": "s"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		err  string
	}{
		{name: "no token", env: map[string]string{"AUTO_DEPLOY_RELAY_SECRET": "s"},
			err: "PULUMI_ACCESS_TOKEN is not set: the relay needs a Pulumi Cloud access token to read stacks and " +
				"webhooks and to start deployments"},
		{name: "no secret", env: map[string]string{"PULUMI_ACCESS_TOKEN": "pul-x"},
			err: "AUTO_DEPLOY_RELAY_SECRET is not set: the relay needs the HMAC secret its webhooks sign deliveries " +
				"with (the DeploymentGraph's relay secret)"},
		{name: "stray argument", args: []string{"serve"}, env: both,
			err: `unexpected arguments ["serve"]: the relay takes flags only (see -h)`},
		{name: "bad API URL", args: []string{"--api-url", "ftp://x"}, env: both,
			err: `cloud: base URL "ftp://x" must use http or https`},
		{name: "no connections", args: []string{"--max-connections", "0"}, env: both,
			err: "--max-connections 0 must be at least 1"},
		{name: "not an organization", args: []string{"--organization", "acme", "--organization", "acme/p"}, env: both,
			err: `--organization "acme/p" is not an organization name: 1-100 letters, digits, '-', '_' or '.'`},
		{name: "no retention", args: []string{"--retain", "0s"}, env: both,
			err: `invalid value "0s" for flag -retain: "0s" is not a retention: a duration of at least 1s, such as 30d, ` +
				`36h or 90m`},
	}
	for _, tt := range tests {
		err := run(t.Context(), tt.args, io.Discard, io.Discard, env(tt.env))
		assert.EqualError(t, err, tt.err, tt.name)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// No token or secret is needed to ask for the version.
	err := run(t.Context(), []string{"--version"}, &out, io.Discard, func(string) string { return "" })
	assert.NoError(t, err)
	assert.Equal(t, "pulumi-auto-deploy-relay "+relay.Version+"\n", out.String())
}

func TestTheFlagsOfTheFrontDoorReachTheRelay(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PULUMI_ACCESS_TOKEN": "pul-x", "AUTO_DEPLOY_RELAY_SECRET": "s"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The relay starts, says where it listens, and is stopped.
	var logs bytes.Buffer
	stopOnListening := writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte(`"msg":"listening"`)) {
			cancel()
		}
		return logs.Write(p)
	})
	err := run(ctx, []string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--organization", "acme",
		"--organization", "beta", "--db", filepath.Join(t.TempDir(), "relay.db")}, io.Discard, stopOnListening,
		func(k string) string { return env[k] })
	require.NoError(t, err)
	var listening struct {
		Msg, Addr, AdminAddr string
		Organizations        []string
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if json.Unmarshal([]byte(line), &listening) == nil && listening.Msg == "listening" {
			break
		}
	}
	require.Equal(t, "listening", listening.Msg, logs.String())
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, listening.Addr)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, listening.AdminAddr)
	assert.NotEqual(t, listening.Addr, listening.AdminAddr)
	assert.Equal(t, []string{"acme", "beta"}, listening.Organizations)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRetention(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "36h": 36 * time.Hour,
		"90m": 90 * time.Minute, "1s": time.Second} {
		var r retention
		require.NoError(t, r.Set(in), in)
		assert.Equal(t, want, time.Duration(r), in)
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "0d", "500ms", "30 days", "x"} {
		var r retention
		assert.EqualError(t, r.Set(in), fmt.Sprintf("%q is not a retention: a duration of at least 1s, such as 30d, 36h "+
			"or 90m", in), in)
	}
	r := retention(relay.DefaultRetain)
	assert.Equal(t, "30d", r.String(), "the default as -h shows it")
}
