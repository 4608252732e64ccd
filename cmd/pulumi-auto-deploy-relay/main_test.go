package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"

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
