//go:build e2e

package examples

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

const (
	distPluginName = "auto-deploy"
	distVersion    = "0.1.0" // VERSION in the Makefile, which `make dist` stamps into the tarballs
	distBinary     = "pulumi-resource-auto-deploy"
)

var distPlatforms = []string{
	"darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64", "windows-amd64", "windows-arm64",
}

// TestPluginInstall installs the provider from this machine's release tarball (`make dist-host`,
// or `make dist` with all six) the two ways a user would, with `pulumi plugin install --file`
// and `--server`, and then runs a YAML program that can find the provider nowhere but in the
// plugin cache.
func TestPluginInstall(t *testing.T) {
	t.Parallel()
	dist := distDir(t)
	platform := runtime.GOOS + "-" + runtime.GOARCH
	asset := distAsset(platform)
	tarball := filepath.Join(dist, asset)
	want := checkDistTarball(t, tarball, platform)

	t.Run("file", func(t *testing.T) {
		home := filepath.Join(t.TempDir(), "home")
		p := newCacheOnlyWorkspace(t, home, t.TempDir())
		p.pulumi("plugin", "install", "resource", distPluginName, distVersion, "--file", tarball)
		assertPluginInstalled(t, p, home, want)
	})

	// The home the plugin is installed in from the server, where the program below finds it.
	// It belongs to the parent test: a subtest's TempDir is gone when the subtest ends.
	serverHome := filepath.Join(t.TempDir(), "home")
	if !t.Run("server", func(t *testing.T) {
		var mu sync.Mutex
		var requests []string
		files := http.FileServer(http.Dir(dist))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			requests = append(requests, r.Method+" "+r.URL.Path)
			mu.Unlock()
			files.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)

		p := newCacheOnlyWorkspace(t, serverHome, t.TempDir())
		p.pulumi("plugin", "install", "resource", distPluginName, distVersion, "--server", srv.URL)
		mu.Lock()
		assert.Equal(t, []string{"GET /" + asset}, requests, "requests to the plugin server")
		mu.Unlock()
		assertPluginInstalled(t, p, serverHome, want)
	}) {
		t.FailNow()
	}

	t.Run("program", func(t *testing.T) {
		c := startCloud(t)
		seedWebhookStacks(t, c)

		// A later version in the cache that cannot run: a program that does not pin the version
		// gets the highest installed one, so only a pinned program gets past it.
		decoy := filepath.Join(t.TempDir(), distBinary)
		require.NoError(t, os.WriteFile(decoy, []byte("#!/bin/sh\n"+
			"echo 'decoy auto-deploy 0.2.0 started: the program did not ask for "+distVersion+"' >&2\n"+
			"exit 1\n"), 0o755))

		root := t.TempDir()
		w := newCacheOnlyWorkspace(t, serverHome, filepath.Join(root, "program"))
		require.NoError(t, os.CopyFS(w.dir, os.DirFS("yaml/deployment-webhooks")))
		w.pulumi("plugin", "install", "resource", distPluginName, "0.2.0", "--file", decoy)
		state := filepath.Join(root, "state")
		require.NoError(t, os.MkdirAll(state, 0o700))
		w.env = append(w.env,
			"PULUMI_BACKEND_URL=file://"+state,
			"PULUMI_CONFIG_PASSPHRASE=e2e",
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		)
		w.pulumi("stack", "init", "test")
		w.pulumi("config", "set", "auto-deploy:apiUrl", c.URL)
		w.pulumi("config", "set", "--secret", "auto-deploy:accessToken", testToken)

		out, err := w.run("preview")
		require.Error(t, err, "an unpinned program should have got the highest installed version, the decoy:\n%s", out)
		assert.Contains(t, out, "decoy auto-deploy 0.2.0 started")
		assert.Empty(t, c.Webhooks())

		// Pin the version as a user would in YAML: options.version on each resource.
		for _, name := range []string{"databaseWebhook", "computeWebhook"} {
			head := "  " + name + ":\n    type: auto-deploy:Webhook\n"
			w.edit(head, head+"    options:\n      version: "+distVersion+"\n")
		}
		w.pulumi("up", "--yes")
		hooks := hooksByDisplayName(t, c)
		require.Len(t, hooks, 2)
		assert.Equal(t, "database/prod", hooks["deploy-database"].PayloadURL)
		assert.Equal(t, "compute/prod", hooks["deploy-compute"].PayloadURL)
		assert.Equal(t, []string{distVersion}, stackProviderVersions(t, w), "versions of the auto-deploy provider in the stack")

		w.pulumi("destroy", "--yes", "--skip-preview")
		assert.Empty(t, c.Webhooks())
	})
}

// distDir is where `make dist-host` (bin/dist-host) or `make dist` (dist/) put the release
// tarballs.
func distDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("AUTO_DEPLOY_DIST")
	require.NotEmpty(t, dir,
		"AUTO_DEPLOY_DIST is not set: run these tests with `make test-e2e`, which builds this machine's "+
			"release tarball with `make dist-host`")
	_, err := os.Stat(filepath.Join(dir, "SHA256SUMS"))
	require.NoError(t, err, "no release in %s: run `make dist-host` or `make dist`", dir)
	return dir
}

func distAsset(platform string) string {
	return "pulumi-resource-" + distPluginName + "-v" + distVersion + "-" + platform + ".tar.gz"
}

// checkDistTarball checks SHA256SUMS against the tarballs present, which must include this
// platform's (`make dist-host` builds only that one, `make dist` all six), and the layout of
// this platform's, and returns the SHA-256 of the plugin binary in it.
func checkDistTarball(t *testing.T, tarball, platform string) string {
	t.Helper()
	dist := filepath.Dir(tarball)
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	require.NoError(t, err)
	listed := map[string]string{}
	scanner := bufio.NewScanner(strings.NewReader(string(sums)))
	for scanner.Scan() {
		sum, name, ok := strings.Cut(scanner.Text(), "  ")
		require.True(t, ok, "SHA256SUMS line %q", scanner.Text())
		if strings.HasPrefix(name, "pulumi-auto-deploy-relay-") {
			continue // `make dist` releases the relay too (deploy/relay tests its tarball)
		}
		listed[name] = sum
	}
	require.Contains(t, distPlatforms, platform, "a platform `make dist` releases")
	var names []string
	for _, p := range distPlatforms {
		data, err := os.ReadFile(filepath.Join(dist, distAsset(p)))
		if p != platform && errors.Is(err, fs.ErrNotExist) {
			continue // `make dist-host` builds this platform's tarball alone
		}
		require.NoError(t, err, "no tarball for %s: run `make dist-host` or `make dist`", p)
		names = append(names, distAsset(p))
		sum := sha256.Sum256(data)
		assert.Equal(t, hex.EncodeToString(sum[:]), listed[distAsset(p)], "SHA256SUMS entry of %s", distAsset(p))
	}
	assert.ElementsMatch(t, names, slices.Collect(maps.Keys(listed)), "files in SHA256SUMS")

	f, err := os.Open(tarball)
	require.NoError(t, err, "no tarball for %s: run `make dist-host` or `make dist`", platform)
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	entries := map[string]*tar.Header{}
	var binarySum string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		entries[h.Name] = h
		if h.Name == distBinary+distExeSuffix() {
			hash := sha256.New()
			_, err := io.Copy(hash, tr)
			require.NoError(t, err)
			binarySum = hex.EncodeToString(hash.Sum(nil))
		}
	}
	require.Contains(t, entries, distBinary+distExeSuffix(), "the plugin binary must be at the root of the tarball")
	assert.Equal(t, int64(0o755), entries[distBinary+distExeSuffix()].Mode)
	assert.NotContains(t, entries, "PulumiPlugin.yaml", "a binary plugin has no PulumiPlugin.yaml")
	for name, h := range entries {
		assert.NotContains(t, name, "/", "tarball entries are flat")
		assert.Equal(t, byte(tar.TypeReg), h.Typeflag, "%s is a regular file", name)
		assert.Zero(t, h.Uid, "%s owner", name)
	}
	return binarySum
}

func distExeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// newCacheOnlyWorkspace runs pulumi in dir with its own Pulumi home, where the auto-deploy
// plugin can only come from the plugin cache: PATH has pulumi and the YAML language host but
// no pulumi-resource-auto-deploy, and pulumi is told to ignore plugins on PATH anyway.
func newCacheOnlyWorkspace(t *testing.T, home, dir string) *workspace {
	t.Helper()
	src := e2e.BinDir(t)
	bin := t.TempDir()
	for _, name := range []string{"pulumi", "pulumi-language-yaml"} {
		require.NoError(t, os.Symlink(filepath.Join(src, name), filepath.Join(bin, name)))
	}
	path := []string{bin}
	for _, entry := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(entry, distBinary+distExeSuffix())); err == nil {
			continue
		}
		path = append(path, entry)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "PULUMI_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"PATH="+strings.Join(path, string(os.PathListSeparator)),
		"PULUMI_HOME="+home,
		"PULUMI_IGNORE_AMBIENT_PLUGINS=true",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_ACCESS_TOKEN=",
	)
	require.NoError(t, os.MkdirAll(dir, 0o700))
	return &workspace{t: t, dir: dir, env: env, bin: bin}
}

var distPluginListLine = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(distPluginName) + `\s+resource\s+` +
	regexp.QuoteMeta(distVersion) + `\s`)

// assertPluginInstalled checks that `pulumi plugin ls` lists the plugin and that the plugin cache
// holds the very binary of the tarball.
func assertPluginInstalled(t *testing.T, p *workspace, home, binarySum string) {
	t.Helper()
	out := p.pulumi("plugin", "ls")
	assert.Regexp(t, distPluginListLine, out, "pulumi plugin ls")
	path := filepath.Join(home, "plugins", "resource-"+distPluginName+"-v"+distVersion, distBinary+distExeSuffix())
	data, err := os.ReadFile(path)
	require.NoError(t, err, "the plugin binary in the plugin cache")
	sum := sha256.Sum256(data)
	assert.Equal(t, binarySum, hex.EncodeToString(sum[:]), "the installed binary is the tarball's")
}

// stackProviderVersions returns the version inputs of the auto-deploy providers in the stack.
func stackProviderVersions(t *testing.T, w *workspace) []string {
	t.Helper()
	cmd := w.pulumi("stack", "export")
	var exported struct {
		Deployment struct {
			Resources []struct {
				Type   string         `json:"type"`
				Inputs map[string]any `json:"inputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	require.NoError(t, json.Unmarshal([]byte(cmd), &exported), "pulumi stack export:\n%s", cmd)
	var versions []string
	for _, r := range exported.Deployment.Resources {
		if r.Type == "pulumi:providers:"+distPluginName {
			v, _ := r.Inputs["version"].(string)
			versions = append(versions, v)
		}
	}
	return versions
}
