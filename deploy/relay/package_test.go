//go:build e2e

// Package deployrelay holds the relay's container image (Dockerfile) and an example Pulumi
// program that runs it on Kubernetes (kubernetes/). There is no docker or cluster where the
// tests run, so these tests check what can be checked without them: the release tarball's
// layout, that its binary is static and runs, that the image runs it as a non-root user, and
// that the example gives the relay what it reads.
package deployrelay

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	binary  = "pulumi-auto-deploy-relay"
	version = "0.1.0" // VERSION in the Makefile
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// TestReleaseTarballOfTheRelay builds the relay's release tarball for Linux on this machine's
// architecture with scripts/dist.sh, as `make dist` does for every platform, and checks its
// layout, SHA256SUMS and the binary in it: static, without cgo, and it runs.
func TestReleaseTarballOfTheRelay(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "python3"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "scripts/dist.sh needs %s", tool)
	}
	root := repoRoot(t)
	dist := t.TempDir()
	platform := "linux-" + runtime.GOARCH
	// A release tarball of an earlier run, which the new SHA256SUMS would not list.
	stale := filepath.Join(dist, "pulumi-resource-auto-deploy-v0.0.9-linux-amd64.tar.gz")
	require.NoError(t, os.WriteFile(stale, []byte("old"), 0o600))

	cmd := exec.Command("bash", filepath.Join(root, "scripts", "dist.sh"))
	cmd.Env = append(os.Environ(), "COMPONENTS=relay", "PLATFORMS=linux/"+runtime.GOARCH, "DIST="+dist,
		"VERSION=v"+version, "SOURCE_DATE_EPOCH=1700000000")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/dist.sh:\n%s", out)
	assert.NoFileExists(t, stale, "dist.sh replaces the previous release")

	asset := binary + "-v" + version + "-" + platform + ".tar.gz"
	data, err := os.ReadFile(filepath.Join(dist, asset))
	require.NoError(t, err, "the relay's tarball is named %s", asset)
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:])+"  "+asset+"\n", string(sums), "SHA256SUMS lists the tarball built")

	gz, err := gzip.NewReader(strings.NewReader(string(data)))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	entries := map[string]*tar.Header{}
	bin := filepath.Join(t.TempDir(), binary)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		entries[h.Name] = h
		assert.Equal(t, byte(tar.TypeReg), h.Typeflag, "%s is a regular file", h.Name)
		assert.Zero(t, h.Uid, "%s owner", h.Name)
		assert.Equal(t, int64(1700000000), h.ModTime.Unix(), "%s mtime is SOURCE_DATE_EPOCH", h.Name)
		if h.Name == binary {
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			require.NoError(t, err)
			_, err = io.CopyN(f, tr, h.Size)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
	}
	var names []string
	for name := range entries {
		names = append(names, name)
	}
	expected := []string{binary, "relay.md"}
	if _, err := os.Stat(filepath.Join(root, "LICENSE")); err == nil {
		expected = append(expected, "LICENSE")
	}
	assert.ElementsMatch(t, expected, names, "the relay binary at the root, with its documentation")
	require.Contains(t, entries, binary)
	assert.Equal(t, int64(0o755), entries[binary].Mode)

	assertStatic(t, bin)
	if runtime.GOOS == "linux" {
		help, err := exec.Command(bin, "-h").CombinedOutput()
		require.NoError(t, err, "%s -h:\n%s", binary, help)
		assert.Contains(t, string(help), "-db string")
		stamped, err := exec.Command(bin, "--version").Output()
		require.NoError(t, err, "%s --version", binary)
		assert.Equal(t, binary+" "+version+"\n", string(stamped), "the release's version is stamped in the binary")
	}
}

// assertStatic checks that the ELF binary at path needs no dynamic loader or shared library,
// and that Go built it without cgo.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	assert.Equal(t, "0", settings["CGO_ENABLED"], "go version -m: built without cgo")
	assert.Equal(t, "true", settings["-trimpath"], "go version -m: built with -trimpath")

	f, err := elf.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary asks for no dynamic loader")
		assert.NotEqual(t, elf.PT_DYNAMIC, p.Type, "a static binary has no dynamic section")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs, "a static binary needs no shared library")
}

// dockerfileStage is one FROM ... of a Dockerfile with its instructions, continuation lines
// joined.
type dockerfileStage struct {
	from         string
	instructions [][2]string // keyword (upper case), arguments
}

func parseDockerfile(t *testing.T, path string) []dockerfileStage {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	var stages []dockerfileStage
	var line string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		text := strings.TrimSpace(scanner.Text())
		if line == "" && (text == "" || strings.HasPrefix(text, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(text, "\\"); ok {
			line += rest + " "
			continue
		}
		line += text
		keyword, args, _ := strings.Cut(line, " ")
		keyword, args = strings.ToUpper(keyword), strings.TrimSpace(args)
		line = ""
		if keyword == "FROM" {
			stages = append(stages, dockerfileStage{from: args})
			continue
		}
		require.NotEmpty(t, stages, "%s: %s before the first FROM", path, keyword)
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, [2]string{keyword, args})
	}
	require.NoError(t, scanner.Err())
	return stages
}

func (s dockerfileStage) last(keyword string) string {
	value := ""
	for _, in := range s.instructions {
		if in[0] == keyword {
			value = in[1]
		}
	}
	return value
}

func TestTheImageRunsTheStaticRelayAsANonRootUser(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, "Dockerfile")
	require.GreaterOrEqual(t, len(stages), 2, "a build stage and the image")
	build, image := stages[0], stages[len(stages)-1]

	var buildCmd string
	for _, in := range build.instructions {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") {
			buildCmd = in[1]
		}
	}
	require.NotEmpty(t, buildCmd, "the build stage builds the relay")
	assert.Contains(t, buildCmd, "CGO_ENABLED=0", "a static binary, which distroless/static can run")
	assert.Contains(t, buildCmd, "./cmd/"+binary)
	assert.Contains(t, buildCmd, "-X github.com/autodeploy-dev/pulumi-auto-deploy/relay.Version=${VERSION}",
		"the image's relay says its version")

	assert.Regexp(t, `^(scratch|gcr\.io/distroless/static(-debian\d+)?(:\S+)?)$`, image.from,
		"the image holds the static binary alone")
	user := image.last("USER")
	m := regexp.MustCompile(`^(\d+)(?::(\d+))?$`).FindStringSubmatch(user)
	require.NotNil(t, m, "USER %q must be numeric, so that runAsNonRoot can check it", user)
	for _, id := range m[1:] {
		if id != "" {
			n, err := strconv.Atoi(id)
			require.NoError(t, err)
			assert.NotZero(t, n, "USER %q runs as root", user)
		}
	}

	entrypoint := image.last("ENTRYPOINT")
	require.True(t, strings.HasPrefix(entrypoint, `["`), "ENTRYPOINT in exec form, so that SIGTERM reaches the relay")
	program := strings.Split(entrypoint, `"`)[1]
	copied := false
	for _, in := range image.instructions {
		copied = copied || in[0] == "COPY" && strings.HasSuffix(in[1], " "+program)
	}
	assert.True(t, copied, "ENTRYPOINT runs %s, which the image copies in", program)
	assert.Contains(t, entrypoint, `"--addr", ":`+image.last("EXPOSE")+`"`, "the relay listens on the port exposed")
	assert.Contains(t, entrypoint, `"--db", "`+image.last("VOLUME")+`/`, "the database lives on the volume")
}

// TestTheKubernetesExampleGivesTheRelayWhatItReads checks the example program against the
// image and the command: the variables the relay reads, its arguments, port, volume, user and
// routes, and a single replica replaced by Recreate (one process owns the SQLite file).
func TestTheKubernetesExampleGivesTheRelayWhatItReads(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("kubernetes", "Pulumi.yaml"))
	require.NoError(t, err)
	var program struct {
		Runtime   string `yaml:"runtime"`
		Resources map[string]struct {
			Type       string         `yaml:"type"`
			Properties map[string]any `yaml:"properties"`
		} `yaml:"resources"`
	}
	require.NoError(t, yaml.Unmarshal(data, &program))
	assert.Equal(t, "yaml", program.Runtime)
	byType := map[string]map[string]any{}
	for name, r := range program.Resources {
		require.NotContains(t, byType, r.Type, "one %s (%s)", r.Type, name)
		byType[r.Type] = r.Properties
	}
	secret, deployment := byType["kubernetes:core/v1:Secret"], byType["kubernetes:apps/v1:Deployment"]
	require.NotNil(t, secret, "a Secret")
	require.NotNil(t, deployment, "a Deployment")

	command, err := os.ReadFile(filepath.Join(repoRoot(t), "cmd", binary, "main.go"))
	require.NoError(t, err)
	required := regexp.MustCompile(`errors\.New\("([A-Z_]+) is not set`).FindAllStringSubmatch(string(command), -1)
	require.NotEmpty(t, required, "the variables the relay cannot start without")
	var keys []string
	for k := range at[map[string]any](t, secret, "stringData") {
		keys = append(keys, k)
		assert.Contains(t, string(command), `getenv("`+k+`")`, "the relay reads %s", k)
	}
	for _, m := range required {
		assert.Contains(t, keys, m[1], "the Secret gives the relay %s", m[1])
	}

	spec := at[map[string]any](t, deployment, "spec")
	assert.Equal(t, 1, spec["replicas"])
	assert.Equal(t, "Recreate", at[string](t, spec, "strategy", "type"))
	pod := at[map[string]any](t, spec, "template", "spec")
	containers := at[[]any](t, pod, "containers")
	require.Len(t, containers, 1)
	container := containers[0].(map[string]any)

	image := parseDockerfile(t, "Dockerfile")
	final := image[len(image)-1]
	var entrypoint []string
	require.NoError(t, yaml.Unmarshal([]byte(final.last("ENTRYPOINT")), &entrypoint))
	var args []string
	for _, a := range at[[]any](t, container, "args") {
		args = append(args, a.(string))
	}
	assert.Equal(t, entrypoint[1:], args, "the same arguments as the image's ENTRYPOINT")
	port := at[[]any](t, container, "ports")[0].(map[string]any)
	assert.Equal(t, final.last("EXPOSE"), strconv.Itoa(port["containerPort"].(int)))
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		assert.Equal(t, "/healthz", at[string](t, container, probe, "httpGet", "path"), probe)
	}
	annotations := at[map[string]any](t, spec, "template", "metadata", "annotations")
	assert.Equal(t, "/metrics", annotations["prometheus.io/path"])
	var mounts []string
	for _, m := range at[[]any](t, container, "volumeMounts") {
		mounts = append(mounts, m.(map[string]any)["mountPath"].(string))
	}
	assert.Contains(t, mounts, final.last("VOLUME"), "the database's volume is mounted")
	uid, _, _ := strings.Cut(final.last("USER"), ":")
	assert.Equal(t, uid, strconv.Itoa(at[int](t, pod, "securityContext", "runAsUser")), "the image's user")
}

// at walks a decoded YAML document along keys and returns what it finds there as a T.
func at[T any](t *testing.T, doc map[string]any, keys ...string) T {
	t.Helper()
	var v any = doc
	for i, k := range keys {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s is not a mapping", strings.Join(keys[:i], "."))
		v, ok = m[k]
		require.True(t, ok, "no %s", strings.Join(keys[:i+1], "."))
	}
	out, ok := v.(T)
	require.True(t, ok, "%s is a %T", strings.Join(keys, "."), v)
	return out
}
