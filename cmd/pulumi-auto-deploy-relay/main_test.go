package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
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
		err := run(t.Context(), tt.args, io.Discard, env(tt.env))
		assert.EqualError(t, err, tt.err, tt.name)
	}
}
