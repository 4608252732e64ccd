//go:build e2e

// Package examples runs the example programs through the real Pulumi CLI, language host
// and provider plugin against an in-process Pulumi Cloud emulator. `make test` builds
// the binaries into bin/ and passes their folder in AUTO_DEPLOY_BIN. The harness that
// starts the emulator and runs the CLI is internal/e2e, shared with the benchmarks.
package examples

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator"
	"github.com/autodeploy-dev/pulumi-auto-deploy/emulator/emulatortest"
	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// testToken is the access token the emulator accepts and the workspaces configure.
const testToken = e2e.TestToken

// cloud is an emulator served on a loopback port for one test (internal/e2e), with the
// console-side calls of this package's tests (api).
type cloud struct {
	*e2e.Cloud
}

func startCloud(t *testing.T) *cloud {
	t.Helper()
	return &cloud{e2e.StartCloud(t)}
}

// startCloudWith is startCloud with the emulator's options chosen by the test.
func startCloudWith(t *testing.T, opts emulator.Options) *cloud {
	t.Helper()
	return &cloud{e2e.StartCloud(t, emulatortest.WithOptions(func(o *emulator.Options) { *o = opts }))}
}

// workspace is an e2e.Workspace under the names this package's tests use, fields
// included: one copy of a program with its own Pulumi home and file backend, so tests
// never share state. The CLI itself runs in internal/e2e.
type workspace struct {
	t   *testing.T
	dir string
	env []string
	bin string
}

func fromShared(s *e2e.Workspace) *workspace {
	return &workspace{t: s.T, dir: s.Dir, env: s.Env, bin: s.Bin}
}

// shared is w as the e2e.Workspace that runs its commands.
func (w *workspace) shared() *e2e.Workspace {
	return &e2e.Workspace{T: w.t, Dir: w.dir, Env: w.env, Bin: w.bin}
}

// newWorkspace copies the example program in the folder example into a workspace with a
// stack "test" configured for c.
func newWorkspace(t *testing.T, example string, c *cloud) *workspace {
	t.Helper()
	return fromShared(e2e.NewWorkspace(t, example, c.Cloud))
}

// newProgramWorkspace is newWorkspace for a program the test writes itself.
func newProgramWorkspace(t *testing.T, program string, c *cloud) *workspace {
	t.Helper()
	return fromShared(e2e.NewProgramWorkspace(t, program, c.Cloud))
}

// pulumi runs the CLI and fails the test on a non-zero exit, showing its output.
func (w *workspace) pulumi(args ...string) string {
	w.t.Helper()
	return w.shared().Pulumi(args...)
}

// run runs the CLI and returns its combined output and error, for expected failures.
func (w *workspace) run(args ...string) (string, error) {
	w.t.Helper()
	return w.shared().Run(args...)
}

// edit rewrites the program's Pulumi.yaml with replace applied, as a user editing it would.
func (w *workspace) edit(old, replacement string) {
	w.t.Helper()
	w.shared().Edit(old, replacement)
}

// privatePlugin gives w a copy of the provider plugin of its own, first on its PATH, and
// returns the copy's path (e2e.PrivatePlugin).
func (w *workspace) privatePlugin() string {
	w.t.Helper()
	s := w.shared()
	plugin := e2e.PrivatePlugin(w.t, s)
	w.env = s.Env
	return plugin
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

// buildIntoCache puts a build in place as final, a folder of the build cache. build runs in a
// temporary folder beside final, tmp, given a copy of the named files of sdk (so building leaves
// nothing in sdk), and returns the folder, inside tmp, that becomes final: renamed into place, so
// concurrent test runs never see half a build. When another run put its build in place first, its
// file ready must exist, and that build is kept.
func buildIntoCache(t *testing.T, final, ready, sdk string, files []string, build func(tmp, sdkCopy string) string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(final), 0o755))
	tmp, err := os.MkdirTemp(filepath.Dir(final), "."+filepath.Base(final)+"-build-")
	require.NoError(t, err)
	defer func() { _ = os.RemoveAll(tmp) }()
	sdkCopy := filepath.Join(tmp, "sdk")
	copyFiles(t, sdk, sdkCopy, files)
	if err := os.Rename(build(tmp, sdkCopy), final); err != nil {
		_, statErr := os.Stat(ready)
		require.NoError(t, statErr, "moving the build into %s: %v", final, err)
	}
}

// hashFiles digests recipe and the named files of dir (names and contents) into a short
// key for a build cache: any change to either builds anew.
func hashFiles(t *testing.T, dir string, files []string, recipe string) string {
	t.Helper()
	h := sha256.New()
	_, _ = io.WriteString(h, recipe+"\x00") // a hash.Hash never returns an error
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		_, _ = io.WriteString(h, f+"\x00")
		h.Write(data)
		_, _ = io.WriteString(h, "\x00")
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
