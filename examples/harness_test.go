//go:build e2e

// Package examples runs the example programs through the real Pulumi CLI, language host
// and provider plugin against an in-process Pulumi Cloud emulator. `make test` builds
// the binaries into bin/ and passes their folder in AUTO_DEPLOY_BIN.
package examples

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
)

const testToken = "pul-e2e-test-token"

// binDir is where make put pulumi, the YAML host and the provider plugin.
func binDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AUTO_DEPLOY_BIN")
	require.NotEmpty(t, dir, "AUTO_DEPLOY_BIN is not set: run these tests with `make test`, which builds bin/")
	for _, name := range []string{"pulumi", "pulumi-language-yaml", "pulumi-resource-auto-deploy"} {
		_, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, "missing %s in %s: run `make tools build`", name, dir)
	}
	return dir
}

// cloud is an emulator served on a loopback port for one test.
type cloud struct {
	*emulator.Server
	URL string
}

func startCloud(t *testing.T) *cloud {
	t.Helper()
	return startCloudWith(t, emulator.Options{Token: testToken})
}

// startCloudWith is startCloud with the emulator's options chosen by the test.
func startCloudWith(t *testing.T, opts emulator.Options) *cloud {
	t.Helper()
	srv := emulator.New(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &cloud{Server: srv, URL: hs.URL}
}

// workspace is one copy of an example program with its own Pulumi home and file backend,
// so tests never share state.
type workspace struct {
	t   *testing.T
	dir string
	env []string
	bin string
}

func newWorkspace(t *testing.T, example string, c *cloud) *workspace {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(root, "program"), os.DirFS(example)))
	return setupWorkspace(t, root, c)
}

// newProgramWorkspace is newWorkspace for a program the test writes itself.
func newProgramWorkspace(t *testing.T, program string, c *cloud) *workspace {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "program"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "program", "Pulumi.yaml"), []byte(program), 0o600))
	return setupWorkspace(t, root, c)
}

// setupWorkspace gives root/program its own Pulumi home, file backend and stack "test"
// configured for the emulator.
func setupWorkspace(t *testing.T, root string, c *cloud) *workspace {
	t.Helper()
	w := &workspace{t: t, dir: filepath.Join(root, "program"), env: pulumiEnv(t, root, os.Environ()), bin: binDir(t)}
	w.pulumi("stack", "init", "test")
	w.pulumi("config", "set", "auto-deploy:apiUrl", c.URL)
	w.pulumi("config", "set", "--secret", "auto-deploy:accessToken", testToken)
	return w
}

// pulumiEnv extends base with what a Pulumi CLI, or an Automation API program, needs to
// keep its home and file backend under root and find the CLI, the YAML host and the plugin
// in bin/. The access token is left empty: each test passes it as stack config.
func pulumiEnv(t *testing.T, root string, base []string) []string {
	t.Helper()
	state := filepath.Join(root, "state")
	require.NoError(t, os.MkdirAll(state, 0o700))
	return append(base,
		"PATH="+binDir(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(root, "home"),
		"PULUMI_BACKEND_URL=file://"+state,
		"PULUMI_CONFIG_PASSPHRASE=e2e",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_ACCESS_TOKEN=",
	)
}

// pulumi runs the CLI and fails the test on a non-zero exit, showing its output.
func (w *workspace) pulumi(args ...string) string {
	w.t.Helper()
	out, err := w.run(args...)
	require.NoError(w.t, err, "pulumi %s failed:\n%s", strings.Join(args, " "), out)
	return out
}

// run runs the CLI and returns its combined output and error, for expected failures.
func (w *workspace) run(args ...string) (string, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, "pulumi"), append(args, "--non-interactive")...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// edit rewrites the program's Pulumi.yaml with replace applied, as a user editing it would.
func (w *workspace) edit(old, replacement string) {
	w.t.Helper()
	path := filepath.Join(w.dir, "Pulumi.yaml")
	data, err := os.ReadFile(path)
	require.NoError(w.t, err)
	require.Contains(w.t, string(data), old)
	require.NoError(w.t, os.WriteFile(path, []byte(strings.Replace(string(data), old, replacement, 1)), 0o600))
}

// runTool runs a build step (npm, tsc, pip, ...) in dir with env and returns its stdout,
// failing the test with both outputs if it fails or outlives timeout.
func runTool(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = errors.Join(err, ctx.Err())
	}
	require.NoError(t, err, "%s %s (in %s) failed:\n%s\n%s", name, strings.Join(args, " "), dir,
		stdout.String(), stderr.String())
	return stdout.String()
}

// hashFiles digests recipe and the named files of dir (names and contents) into a short
// key for a build cache: any change to either builds anew.
func hashFiles(t *testing.T, dir string, files []string, recipe string) string {
	t.Helper()
	h := sha256.New()
	io.WriteString(h, recipe+"\x00")
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		io.WriteString(h, f+"\x00")
		h.Write(data)
		io.WriteString(h, "\x00")
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// copyFiles copies the named files of from, relative paths kept, into to.
func copyFiles(t *testing.T, from, to string, files []string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(from, f))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(to, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(to, f), data, 0o644))
	}
}

// sourceFiles lists the regular files under root, relative and sorted, leaving out those
// (and the folders) skip names: what building or installing left there.
func sourceFiles(t *testing.T, root string, skip func(rel string, d fs.DirEntry) bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		switch {
		case skip(rel, d) && d.IsDir():
			return filepath.SkipDir
		case skip(rel, d) || !d.Type().IsRegular():
			return nil
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	require.NoError(t, err, "reading %s", root)
	slices.Sort(files)
	return files
}
