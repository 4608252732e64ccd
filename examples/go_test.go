//go:build e2e

package examples

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// inlineRunner turns a Go example into an Automation API inline program: the example's
// main.go is compiled unchanged except that main becomes exampleMain and pulumi.Run
// hands its program to the runner instead of running it.
const inlineRunner = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var program pulumi.RunFunc

func captureProgram(f pulumi.RunFunc, _ ...pulumi.RunOption) { program = f }

func main() {
	exampleMain()
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, action string) error {
	stack, err := auto.UpsertStackInlineSource(ctx, os.Getenv("STACK"), os.Getenv("PROJECT"), program)
	if err != nil {
		return err
	}
	if err := stack.SetConfig(ctx, "auto-deploy:apiUrl", auto.ConfigValue{Value: os.Getenv("API_URL")}); err != nil {
		return err
	}
	token := auto.ConfigValue{Value: os.Getenv("API_TOKEN"), Secret: true}
	if err := stack.SetConfig(ctx, "auto-deploy:accessToken", token); err != nil {
		return err
	}
	// ctx.Organization() is a placeholder on a file backend; this names the organization.
	if err := stack.SetConfig(ctx, "auto-deploy:organization", auto.ConfigValue{Value: os.Getenv("ORGANIZATION")}); err != nil {
		return err
	}
	// The program's own config: {"key": {"value": "...", "secret": true}}.
	var programConfig map[string]struct {
		Value  string
		Secret bool
	}
	if err := json.Unmarshal([]byte(os.Getenv("EXAMPLE_CONFIG")), &programConfig); err != nil {
		return err
	}
	for key, v := range programConfig {
		if err := stack.SetConfig(ctx, key, auto.ConfigValue{Value: v.Value, Secret: v.Secret}); err != nil {
			return err
		}
	}
	switch action {
	case "up":
		res, err := stack.Up(ctx)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(res.Summary.ResourceChanges)
	case "destroy":
		res, err := stack.Destroy(ctx, optdestroy.Remove())
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(res.Summary.ResourceChanges)
	}
	return fmt.Errorf("unknown action %q", action)
}
`

// goPrepare is the Go row of seedLanguages: each example's main.go is compiled against
// sdk/go with inlineRunner, which prints the resource changes of every operation.
func goPrepare(*testing.T) func(t *testing.T, example, project string, c *cloud) seedProgram {
	return func(t *testing.T, example, project string, c *cloud) seedProgram {
		t.Helper()
		return &goProgram{t: t, run: goRunner(t, "go/"+example, project, c)}
	}
}

// goProgram is a Go example built by goRunner.
type goProgram struct {
	t   *testing.T
	run func(action string) map[string]int
}

func (p *goProgram) up() map[string]int {
	p.t.Helper()
	return p.run("up")
}

func (p *goProgram) noOpUp() map[string]int {
	p.t.Helper()
	return p.run("up")
}

func (p *goProgram) destroy() map[string]int {
	p.t.Helper()
	return p.run("destroy")
}

// checkCreated has nothing to add: the runner reports only the resource changes.
func (p *goProgram) checkCreated() {}

// goRunner builds the example as an inline program and returns a function that runs an
// action ("up" or "destroy") with it, failing the test on error, and returns the
// action's resource changes.
func goRunner(t *testing.T, example, project string, c *cloud) func(action string) map[string]int {
	t.Helper()
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	source, err := os.ReadFile(filepath.Join(example, "main.go"))
	require.NoError(t, err)
	program := strings.Replace(string(source), "func main() {", "func exampleMain() {", 1)
	program = strings.Replace(program, "pulumi.Run(", "captureProgram(", 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "program.go"), []byte(program), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "runner.go"), []byte(inlineRunner), 0o600))
	mod, err := os.ReadFile(filepath.Join(example, "go.mod"))
	require.NoError(t, err)
	mod = []byte(strings.Replace(string(mod), "=> ../../../sdk", "=> "+filepath.Join(repo, "sdk"), 1))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o600))
	sum, err := os.ReadFile(filepath.Join(example, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600))

	goCmd := func(args ...string) {
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GONOSUMDB=github.com/pulumi")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	goCmd("mod", "tidy")
	goCmd("build", "-o", "runner", ".")

	env := append(e2e.PulumiEnv(t, t.TempDir(), os.Environ()),
		"STACK=test", "PROJECT="+project, "API_URL="+c.URL, "API_TOKEN="+testToken,
		"ORGANIZATION="+configuredOrg, "EXAMPLE_CONFIG="+exampleConfigJSON(t, example))
	return func(action string) map[string]int {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(dir, "runner"), action)
		cmd.Env = env
		out, err := cmd.Output()
		var stderr string
		if exitErr, ok := err.(*exec.ExitError); ok {
			stderr = string(exitErr.Stderr)
		}
		require.NoError(t, err, "%s %s:\n%s\n%s", example, action, out, stderr)
		var changes map[string]int
		require.NoError(t, json.Unmarshal(out, &changes), "%s", out)
		return changes
	}
}
