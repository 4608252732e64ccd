//go:build e2e

package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// configuredOrg is the auto-deploy:organization the TypeScript and Python runners set: their
// programs pass pulumi.getOrganization(), which on a file backend is the placeholder
// "organization", and the provider replaces the placeholder with the configured one.
const configuredOrg = "acme"

// seedLanguage is one language the seed programs are written in, run as Automation API
// inline programs (there is no Node.js, Python or Go language host here) through
// bin/pulumi and the provider plugin. YAML, which has a language host, runs the same
// programs through the CLI in yaml_*_test.go.
type seedLanguage struct {
	name string
	// org is the organization the auto-deployer program's stacks are in.
	org string
	// prepare checks the language's toolchain and builds what its programs share (the SDK
	// package, a virtualenv), then returns how to build one program: the example's folder
	// name, its Pulumi project, and the emulator it runs against.
	prepare func(t *testing.T) func(t *testing.T, example, project string, c *cloud) seedProgram
}

// seedProgram is one seed program built for one language, with its own Pulumi home and
// file backend, run on its stack "test". Each call fails the test unless the operation
// succeeded, and returns the operation's resource changes.
type seedProgram interface {
	up() map[string]int
	// noOpUp runs up again on an unchanged program (with --expect-no-changes where the
	// runner takes it).
	noOpUp() map[string]int
	destroy() map[string]int
	// checkCreated checks what only this language's runner can tell after the first up,
	// such as the stack's outputs.
	checkCreated()
}

// runInline runs an example's Automation API runner (run_inline.py, run-inline.js) with env and
// decodes the JSON line it prints last into result. It fails the test when the runner fails,
// outlives five minutes or prints no such line, and returns the runner's stderr, for the caller's
// checks of the result, and how long it ran.
func runInline(t *testing.T, env []string, result any, name string, args ...string) (stderr string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &errOut
	start := time.Now()
	err := cmd.Run()
	runner := filepath.Base(args[0])
	require.NoError(t, err, "%s %s failed:\n%s\n%s", runner, strings.Join(args[1:], " "), stdout.String(),
		errOut.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), result),
		"%s printed no result line:\n%s\n%s", runner, stdout.String(), errOut.String())
	return errOut.String(), time.Since(start)
}

var seedLanguages = []seedLanguage{
	{name: "TypeScript", org: configuredOrg, prepare: tsPrepare},
	{name: "Python", org: configuredOrg, prepare: pyPrepare},
	{name: "Go", org: "pulumi", prepare: goPrepare}, // the Go program names its organization
}

// seedExample is one seed program, as every language writes it.
type seedExample struct {
	name    string // the example's folder under each language's folder
	project string // its Pulumi project
	// seed creates the stacks the program points at; org is the language's.
	seed func(t *testing.T, c *cloud, org string)
	// creates is what the first up creates, the stack resource included, and what, the
	// resources in words; edges is how many webhooks it writes, and nothing else.
	creates, edges int
	what           string
	// assertCreated checks the webhooks the program left and the deployments they set off.
	assertCreated func(t *testing.T, c *cloud, org string)
}

var seedExamples = []seedExample{
	{
		// One deployment webhook on each upstream stack, with the seed's fields: an update of
		// network redeploys database, then compute.
		name: "deployment-webhooks", project: "deployment-webhooks",
		seed:    func(t *testing.T, c *cloud, _ string) { seedWebhookStacks(t, c) },
		creates: 3, edges: 2, what: "the stack and 2 webhooks",
		assertCreated: func(t *testing.T, c *cloud, _ string) { assertSeedWebhooks(t, c) },
	},
	{
		// Exactly the 5 edges, 2 on a and 3 on b: an update of a redeploys b, c, d, e and f
		// once each.
		name: "auto-deployer", project: graphProject,
		seed:    seedGraphStacks,
		creates: 7, edges: 5, what: "the stack and 6 AutoDeployers",
		assertCreated: assertSeedGraph,
	},
	{
		// examples/*/always-deploy: network → app and network → cache through the relay, app's
		// edge carrying alwaysDeploy. The relay need not run: nothing is delivered here.
		name: "always-deploy", project: "always-deploy",
		seed:    func(t *testing.T, c *cloud, _ string) { alwaysDeployStacks(t, c, configuredOrg) },
		creates: 2, edges: 2, what: "the stack and the DeploymentGraph",
		assertCreated: func(t *testing.T, c *cloud, _ string) { assertAlwaysDeployExample(t, c, configuredOrg) },
	},
	{
		// The tree of examples/*/deployment-graph as one DeploymentGraph. Every language passes
		// getOrganization(), the file backend's placeholder, which auto-deploy:organization
		// replaces: the stacks are in the configured organization whatever the language.
		name: "deployment-graph", project: "deployment-graph",
		seed:    func(t *testing.T, c *cloud, _ string) { graphExampleStacks(t, c, configuredOrg) },
		creates: 2, edges: 4, what: "the stack and the DeploymentGraph",
		assertCreated: func(t *testing.T, c *cloud, _ string) { assertGraphExample(t, c, configuredOrg) },
	},
}

// exampleConfigValue is one value of an example program's own config.
type exampleConfigValue struct {
	Value  string `json:"value"`
	Secret bool   `json:"secret"`
}

// exampleRelayURL is the relay the always-deploy examples' edges deliver to: no relay runs
// there, and none needs to, since nothing is delivered in these tests.
const exampleRelayURL = "https://relay.example.com"

// exampleConfigs is what each example program's own config holds, by example folder name:
// the runners set it before the first up.
var exampleConfigs = map[string]map[string]exampleConfigValue{
	"always-deploy": {
		"relayUrl":    {Value: exampleRelayURL},
		"relaySecret": {Value: "example-relay-secret", Secret: true},
	},
}

// exampleConfigJSON is an example's own config as the runners read it (AUTO_DEPLOY_EXAMPLE_CONFIG,
// EXAMPLE_CONFIG): {"key": {"value", "secret"}}, {} for none. example may be a path: its last
// element names it.
func exampleConfigJSON(t *testing.T, example string) string {
	t.Helper()
	config := exampleConfigs[filepath.Base(example)]
	if config == nil {
		config = map[string]exampleConfigValue{}
	}
	data, err := json.Marshal(config)
	require.NoError(t, err)
	return string(data)
}

// TestSeedPrograms runs every seed program in every language of seedLanguages against the
// emulator: create, which must write exactly the edges and leave what the seed describes,
// a no-op up that writes nothing, and destroy, which leaves nothing.
func TestSeedPrograms(t *testing.T) {
	t.Parallel()
	e2e.BinDir(t)
	for _, lang := range seedLanguages {
		t.Run(lang.name, func(t *testing.T) {
			t.Parallel()
			build := lang.prepare(t)
			for _, ex := range seedExamples {
				t.Run(ex.name, func(t *testing.T) {
					t.Parallel()
					c := startCloud(t)
					ex.seed(t, c, lang.org)
					p := build(t, ex.name, ex.project, c)

					// Create: the edges and nothing else written, each marked on its target, written
					// pending, then in place.
					c.ResetStats()
					assert.Equal(t, map[string]int{"create": ex.creates}, p.up(), ex.what)
					assert.Equal(t, 3*ex.edges, c.Stats().Writes, "routes: %v", c.Stats().ByRoute)
					require.Len(t, withoutMarks(c.Webhooks()), ex.edges, "webhooks: %+v", withoutMarks(c.Webhooks()))
					ex.assertCreated(t, c, lang.org)
					p.checkCreated()

					assertNoOpUp(t, c, p.noOpUp)

					assert.Equal(t, map[string]int{"delete": ex.creates}, p.destroy())
					assert.Empty(t, c.Webhooks())
				})
			}
		})
	}
}
