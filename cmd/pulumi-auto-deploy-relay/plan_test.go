package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/cloud"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

// planEmulator is an emulator holding org acme's stacks p/{stacks} and the relay edges specs
// (emulatortest.Cloud.RelayEdges).
func planEmulator(t *testing.T, stacks []string, specs ...string) *emulatortest.Cloud {
	t.Helper()
	emu := emulatortest.Start(t)
	emu.SeedDeployable(t, "acme", "p", stacks...)
	emu.RelayEdges(t, "acme", "https://relay.example.com", "", specs...)
	return emu
}

func TestPlanPrintsTheWavesInStartOrder(t *testing.T) {
	t.Parallel()
	emu := planEmulator(t, []string{"net", "db", "cache", "dns", "app"},
		"p/net>p/db", "p/net>p/cache", "p/net>p/dns!", "p/db>p/app", "p/cache>p/app")
	env := func(k string) string { return map[string]string{"PULUMI_ACCESS_TOKEN": emu.Token}[k] }
	var out bytes.Buffer
	// The stack may come before the flags or after them.
	for _, args := range [][]string{
		{"plan", "--organization", "acme", "--api-url", emu.URL, "p/net"},
		{"plan", "p/net", "--organization", "acme", "--api-url", emu.URL},
	} {
		out.Reset()
		require.NoError(t, run(t.Context(), args, &out, io.Discard, env))
		assert.Equal(t, `If acme/p/net changes, 4 stacks may deploy, in 2 waves:

WAVE  STACK    ESTIMATE        CRITICAL PATH  SKIPPED IF UNCHANGED
1     p/cache  1m0s (default)  yes            yes
1     p/db     1m0s (default)  no             yes
1     p/dns    1m0s (default)  no             no
2     p/app    1m0s (default)  yes            yes

Critical path: p/net → p/cache → p/app
Estimated duration: 2m0s, with nothing limiting how many stacks deploy at once
Estimates: the median of each stack's succeeded updates among its last 10 deployments; (default): no history, the median of the others' or 60s
`, out.String(), "%v", args)
	}

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"plan", "--organization", "acme", "--api-url", emu.URL, "p/app"},
		&out, io.Discard, env))
	assert.Equal(t, "No relay edge below acme/p/app delivers: a change of it deploys nothing through the relay.\n",
		out.String())
}

func TestPlanRefusals(t *testing.T) {
	t.Parallel()
	emu := planEmulator(t, []string{"a", "b"}, "p/a>p/b", "p/b>p/a")
	withToken := func(k string) string { return map[string]string{"PULUMI_ACCESS_TOKEN": emu.Token}[k] }
	noToken := func(string) string { return "" }
	cases := []struct {
		name string
		args []string
		env  func(string) string
		err  string
	}{
		{"no organization", []string{"p/a"}, withToken, "--organization is missing: name the Pulumi Cloud " +
			"organization of the stack (pulumi-auto-deploy-relay plan --organization ORG [--api-url URL] project/stack)"},
		{"invalid organization", []string{"--organization", "ac/me", "p/a"}, withToken,
			`--organization "ac/me" is not an organization name: 1-100 letters, digits, '-', '_' or '.'`},
		{"no stack", []string{"--organization", "acme"}, withToken, "plan takes one stack, the one whose change " +
			"to plan, as project/stack; got 0 (pulumi-auto-deploy-relay plan --organization ORG [--api-url URL] " +
			"project/stack)"},
		{"two stacks", []string{"--organization", "acme", "p/a", "p/b"}, withToken, "plan takes one stack, the " +
			"one whose change to plan, as project/stack; got 2 (pulumi-auto-deploy-relay plan --organization ORG " +
			"[--api-url URL] project/stack)"},
		{"invalid stack", []string{"--organization", "acme", "a"}, withToken,
			`stack "a" is not project/stack: each is 1-100 letters, digits, '-', '_' or '.'`},
		{"no token", []string{"--organization", "acme", "p/a"}, noToken, "PULUMI_ACCESS_TOKEN is not set: the " +
			"plan reads the stacks' webhooks and deployments from Pulumi Cloud with it"},
		{"a cycle", []string{"--organization", "acme", "--api-url", emu.URL, "p/a"}, withToken,
			"the relay edges below p/a form a cycle, so the relay deploys nothing on or below it; remove one of " +
				"its edges: p/a → p/b → p/a"},
	}
	for _, c := range cases {
		err := run(t.Context(), append([]string{"plan"}, c.args...), io.Discard, io.Discard, c.env)
		assert.EqualError(t, err, c.err, c.name)
	}
	err := run(t.Context(), []string{"plan", "--organization", "acme", "--api-url", emu.URL, "p/gone"}, io.Discard,
		io.Discard, withToken)
	assert.ErrorIs(t, err, cloud.ErrNotFound)
}

func TestServerStillRefusesArguments(t *testing.T) {
	t.Parallel()
	// Only a first argument "plan" is the subcommand; the server itself takes flags only.
	err := run(t.Context(), []string{"--db", "x.db", "plan"}, io.Discard, io.Discard, func(string) string { return "" })
	assert.EqualError(t, err, `unexpected arguments ["plan"]: the relay takes flags only (see -h)`)
}
