//go:build e2e

// Package e2e is the harness the end-to-end tests (examples/) and the benchmarks (bench/)
// share: the binaries `make` built into bin/, an in-process Pulumi Cloud emulator on a
// loopback port, and workspaces that run the real Pulumi CLI against it, each with its
// own Pulumi home and file backend so tests never share state.
//
// `make test-e2e`, `make bench` and `make bench-scale` build the binaries and pass their
// folder in AUTO_DEPLOY_BIN. Every file carries the e2e build tag.
package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
)

// TestToken is the access token the emulator accepts and the workspaces configure.
const TestToken = "pul-e2e-test-token"

// CLITimeout is how long one CLI command may take unless the caller says otherwise.
const CLITimeout = 5 * time.Minute

// BinDir is where make put pulumi, the YAML host and the provider plugin.
func BinDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("AUTO_DEPLOY_BIN")
	require.NotEmpty(t, dir, "AUTO_DEPLOY_BIN is not set: run these tests with `make test`, which builds bin/")
	for _, name := range []string{"pulumi", "pulumi-language-yaml", "pulumi-resource-auto-deploy"} {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "missing %s in %s: run `make tools build`", name, dir)
	}
	return dir
}

// Cloud is an emulator served on a loopback port for one test.
type Cloud = emulatortest.Cloud

// StartCloud serves an emulator that accepts TestToken until the test ends; opts, applied
// after that, may change it or set anything else emulatortest.Start takes.
func StartCloud(t testing.TB, opts ...emulatortest.Option) *Cloud {
	t.Helper()
	return emulatortest.Start(t, append([]emulatortest.Option{emulatortest.WithToken(TestToken)}, opts...)...)
}

// PulumiEnv extends base with what a Pulumi CLI, or an Automation API program, needs to
// keep its home and file backend under root and find the CLI, the YAML host and the plugin
// in bin/. The access token is left empty: each test passes it as stack config.
func PulumiEnv(t testing.TB, root string, base []string) []string {
	t.Helper()
	state := filepath.Join(root, "state")
	require.NoError(t, os.MkdirAll(state, 0o700))
	return append(base,
		"PATH="+BinDir(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(root, "home"),
		"PULUMI_BACKEND_URL=file://"+state,
		"PULUMI_CONFIG_PASSPHRASE=e2e",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_ACCESS_TOKEN=",
	)
}

// Workspace is one program folder where the Pulumi CLI runs with Env.
type Workspace struct {
	T   *testing.T
	Dir string   // the program: Pulumi.yaml and the stack's config file
	Env []string // the CLI's whole environment
	Bin string   // the folder holding the pulumi binary that runs
}

// NewWorkspace copies the example program in the folder example into a workspace with its
// own Pulumi home, file backend and stack "test" configured for c.
func NewWorkspace(t *testing.T, example string, c *Cloud) *Workspace {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(root, "program"), os.DirFS(example)))
	return setupWorkspace(t, root, c)
}

// NewProgramWorkspace is NewWorkspace for a YAML program the test writes itself.
func NewProgramWorkspace(t *testing.T, program string, c *Cloud) *Workspace {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "program"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "program", "Pulumi.yaml"), []byte(program), 0o600))
	return setupWorkspace(t, root, c)
}

// setupWorkspace gives root/program its own Pulumi home, file backend and stack "test"
// configured for the emulator.
func setupWorkspace(t *testing.T, root string, c *Cloud) *Workspace {
	t.Helper()
	w := &Workspace{T: t, Dir: filepath.Join(root, "program"), Env: PulumiEnv(t, root, os.Environ()), Bin: BinDir(t)}
	w.Pulumi("stack", "init", "test")
	w.Pulumi("config", "set", "auto-deploy:apiUrl", c.URL)
	w.Pulumi("config", "set", "--secret", "auto-deploy:accessToken", TestToken)
	return w
}

// Pulumi runs the CLI and fails the test on a non-zero exit, showing its output.
func (w *Workspace) Pulumi(args ...string) string {
	w.T.Helper()
	out, err := w.Run(args...)
	require.NoError(w.T, err, "pulumi %s failed:\n%s", strings.Join(args, " "), out)
	return out
}

// Run runs the CLI for at most CLITimeout and returns its combined output and error, for
// expected failures.
func (w *Workspace) Run(args ...string) (string, error) {
	w.T.Helper()
	out, _, err := w.RunTimed(CLITimeout, args...)
	return out, err
}

// RunTimed runs the CLI, with --non-interactive, for at most timeout. It returns the
// combined output, the CPU time (user and system) of the command and of the children it
// reaped, and the error.
func (w *Workspace) RunTimed(timeout time.Duration, args ...string) (string, time.Duration, error) {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(w.T.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.Bin, "pulumi"), append(args, "--non-interactive")...)
	cmd.Dir = w.Dir
	cmd.Env = w.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return out.String(), cpu, err
}

// Edit rewrites the program's Pulumi.yaml with the first old replaced, as a user editing it
// would; old must be there.
func (w *Workspace) Edit(old, replacement string) {
	w.T.Helper()
	program := w.ReadProgram()
	require.Contains(w.T, program, old)
	w.WriteProgram(strings.Replace(program, old, replacement, 1))
}

// ReadProgram returns the program's Pulumi.yaml.
func (w *Workspace) ReadProgram() string {
	w.T.Helper()
	data, err := os.ReadFile(filepath.Join(w.Dir, "Pulumi.yaml"))
	require.NoError(w.T, err)
	return string(data)
}

// WriteProgram replaces the program's Pulumi.yaml.
func (w *Workspace) WriteProgram(program string) {
	w.T.Helper()
	require.NoError(w.T, os.WriteFile(filepath.Join(w.Dir, "Pulumi.yaml"), []byte(program), 0o600))
}

// PrependPath puts dir first on the CLI's PATH, so that a binary there wins.
func (w *Workspace) PrependPath(dir string) {
	for i, kv := range w.Env {
		if strings.HasPrefix(kv, "PATH=") {
			w.Env[i] = "PATH=" + dir + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
}

// CopyFile copies from to a new executable file to.
func CopyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// PrivatePlugin copies the provider plugin into a folder of its own and puts that folder
// first on w's PATH, so the test can tell this workspace's plugin processes from any
// other test's by their executable. It returns the copy's path.
func PrivatePlugin(t *testing.T, w *Workspace) string {
	t.Helper()
	private := t.TempDir()
	plugin := filepath.Join(private, "pulumi-resource-auto-deploy")
	CopyFile(t, filepath.Join(BinDir(t), "pulumi-resource-auto-deploy"), plugin)
	w.PrependPath(private)
	return plugin
}
