//go:build e2e

package examples

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// pyPulumiVersion is the pulumi PyPI package the examples run with: the version of bin/pulumi.
const pyPulumiVersion = "3.259.0"

// pyVenvRecipe names how pythonVenv builds a virtualenv; change it when the recipe changes so
// cached virtualenvs built the old way are not reused.
const pyVenvRecipe = "python-venv-v1: venv + pip install pulumi==" + pyPulumiVersion + " <copy of sdk/python>"

// pyPrepare is the Python row of seedLanguages: it builds a virtualenv holding pulumi and
// the SDK from sdk/python, and runs each example program, unchanged, with
// examples/python/run_inline.py.
func pyPrepare(t *testing.T) func(t *testing.T, example, project string, c *cloud) seedProgram {
	t.Helper()
	python := pythonVenv(t)
	return func(t *testing.T, example, project string, c *cloud) seedProgram {
		t.Helper()
		return newPyProgram(t, python, example, project, c)
	}
}

func (p *pyProgram) up() map[string]int {
	p.t.Helper()
	return p.run("up").ResourceChanges
}

func (p *pyProgram) noOpUp() map[string]int {
	p.t.Helper()
	return p.run("up", "--expect-no-changes").ResourceChanges
}

func (p *pyProgram) destroy() map[string]int {
	p.t.Helper()
	return p.run("destroy").ResourceChanges
}

// checkCreated has nothing to add: run_inline.py reports only the resource changes.
func (p *pyProgram) checkCreated() {}

// pyProgram is one copy of a Python example with its own Pulumi home, file backend and
// Automation API workspace, run by examples/python/run_inline.py.
type pyProgram struct {
	t                          *testing.T
	python, runner             string
	dir, workDir, project, url string
	env                        []string
}

func newPyProgram(t *testing.T, python, example, project string, c *cloud) *pyProgram {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("python", example)
	dir := filepath.Join(root, "program")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries { // the program's own files only, not a venv someone made there
		if e.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
		}
	}
	require.FileExists(t, filepath.Join(dir, "__main__.py"))
	runner, err := filepath.Abs(filepath.Join("python", "run_inline.py"))
	require.NoError(t, err)
	env := append(e2e.PulumiEnv(t, root, pyBaseEnv()), "AUTO_DEPLOY_ACCESS_TOKEN="+testToken,
		"AUTO_DEPLOY_EXAMPLE_CONFIG="+exampleConfigJSON(t, example))
	return &pyProgram{
		t: t, python: python, runner: runner,
		dir: dir, workDir: filepath.Join(root, "workspace"), project: project, url: c.URL, env: env,
	}
}

// pyResult is the JSON line run_inline.py prints.
type pyResult struct {
	Action          string         `json:"action"`
	Result          string         `json:"result"`
	ResourceChanges map[string]int `json:"resourceChanges"`
	// Outputs are the stack's outputs after an up (secrets as null).
	Outputs map[string]json.RawMessage `json:"outputs"`
}

// run runs the program's stack "test" through run_inline.py and fails the test unless the
// operation succeeded.
func (p *pyProgram) run(action string, flags ...string) pyResult {
	p.t.Helper()
	var r pyResult
	stderr, took := runInline(p.t, p.env, &r, p.python, append([]string{p.runner,
		"--program", p.dir, "--project", p.project, "--stack", "test",
		"--work-dir", p.workDir, "--api-url", p.url, "--organization", configuredOrg, "--action", action}, flags...)...)
	require.Equal(p.t, "succeeded", r.Result, "%s:\n%s", action, stderr)
	p.t.Logf("%s %s: %s %v in %s", p.project, action, r.Result, r.ResourceChanges, took.Round(time.Millisecond))
	return r
}

// pythonVenv returns the python of a virtualenv holding pulumi==pyPulumiVersion and the SDK
// from sdk/python. It is cached in bin/.cache/python-venv-<hash>, the hash covering the
// SDK's files, the pins, the recipe and the base Python, so warm runs reuse it and any change
// builds a new one. A virtualenv is built in a temporary folder beside it and renamed into
// place, so concurrent test runs never see half a virtualenv.
func pythonVenv(t *testing.T) string {
	t.Helper()
	base, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 is not on PATH: the Python example tests need Python 3 "+
		"with the venv module (Debian: apt-get install python3 python3-venv)")
	out, err := exec.CommandContext(t.Context(), base, "-c",
		"import sys, venv, ensurepip; print(sys.version)").CombinedOutput()
	require.NoError(t, err, "%s cannot make virtualenvs (Debian: apt-get install python3-venv):\n%s", base, out)
	pyVersion := strings.TrimSpace(string(out))

	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	sdk := filepath.Join(repo, "sdk", "python")
	files := pySDKFiles(t, sdk)
	key := hashFiles(t, sdk, files, pyVenvRecipe+"\x00"+base+"\x00"+pyVersion)
	cache := filepath.Join(repo, "bin", ".cache")
	venv := filepath.Join(cache, "python-venv-"+key)
	python := filepath.Join(venv, "bin", "python")

	start := time.Now()
	if _, err := os.Stat(python); err == nil {
		msg, ok := pyCheckVenv(t, python)
		if ok {
			t.Logf("python venv (cached) %s: %s", venv, msg)
			return python
		}
		t.Logf("cached python venv %s is broken, rebuilding: %s", venv, msg)
		require.NoError(t, os.RemoveAll(venv))
	}

	// Installed from a copy, so building the SDK leaves no build/ or *.egg-info in sdk/python.
	buildIntoCache(t, venv, python, sdk, files, func(tmp, sdkCopy string) string {
		build := filepath.Join(tmp, "venv")
		runTool(t, 2*time.Minute, tmp, pyBaseEnv(), base, "-m", "venv", build)
		runTool(t, 10*time.Minute, tmp, pyBaseEnv(), filepath.Join(build, "bin", "python"), "-m", "pip", "install",
			"--disable-pip-version-check", "--no-input", "pulumi=="+pyPulumiVersion, sdkCopy)
		return build
	})
	msg, ok := pyCheckVenv(t, python)
	require.True(t, ok, "the new virtualenv %s cannot import the SDK: %s", venv, msg)
	t.Logf("python venv built in %s: %s: %s", time.Since(start).Round(time.Millisecond), venv, msg)
	return python
}

// pyCheckVenv imports pulumi and the SDK with the virtualenv's python, from outside the source
// tree, and checks their versions and that the SDK is the installed copy.
func pyCheckVenv(t *testing.T, python string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-I", "-c", `
import sys, importlib.metadata as md
import pulumi, pulumi.automation
import autodeploy_dev_auto_deploy as sdk
assert md.version("pulumi") == sys.argv[1], "pulumi " + md.version("pulumi")
assert sdk.__file__.startswith(sys.prefix), sdk.__file__
assert sdk.WebhookFormat.PULUMI_DEPLOYMENTS.value == "pulumi_deployments"
sdk.AutoDeployer, sdk.Webhook, sdk.Provider
print("pulumi", md.version("pulumi"), "autodeploy-dev-auto-deploy", md.version("autodeploy-dev-auto-deploy"))
`, pyPulumiVersion)
	cmd.Dir = os.TempDir()
	cmd.Env = pyBaseEnv()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err == nil
}

// pySDKFiles lists sdk/python's files, relative and sorted, without what building or
// running it leaves behind.
func pySDKFiles(t *testing.T, sdk string) []string {
	t.Helper()
	files := sourceFiles(t, sdk, func(_ string, d fs.DirEntry) bool {
		name := d.Name()
		if d.IsDir() {
			return name == "build" || name == "dist" || name == "__pycache__" ||
				strings.HasSuffix(name, ".egg-info") || strings.HasPrefix(name, ".")
		}
		return strings.HasSuffix(name, ".pyc")
	})
	require.Contains(t, files, "pyproject.toml", "no Python SDK in %s: run `make sdks`", sdk)
	return files
}

// pyBaseEnv is the environment without anything that would point Python elsewhere.
func pyBaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "PIP_USER",
			"PIP_TARGET", "PIP_PREFIX", "PIP_REQUIRE_VIRTUALENV":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONNOUSERSITE=1", "PYTHONDONTWRITEBYTECODE=1")
}
