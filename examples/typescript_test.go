//go:build e2e

package examples

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/autodeploy-dev/pulumi-auto-deploy/internal/e2e"
)

// tsPulumiVersion is the @pulumi/pulumi npm package the examples run with: the version of
// bin/pulumi. The examples' package.json pin it and the SDK's ^ range must accept it.
const tsPulumiVersion = "3.259.0"

// tsSDKRecipe names how tsNodeSDK builds the SDK tarball; change it when the recipe changes so
// cached tarballs built the old way are not reused.
const tsSDKRecipe = "nodejs-sdk-v1: npm install + tsc + cp package.json bin/ + npm pack bin/"

// tsPrepare is the TypeScript row of seedLanguages: it compiles each example program,
// unchanged, against the Node SDK built from sdk/nodejs, with tsc --strict, and runs it
// with examples/typescript/run-inline.js. After the create it also checks the stack's
// outputs and that the access token is a secret.
func tsPrepare(t *testing.T) func(t *testing.T, example, project string, c *cloud) seedProgram {
	t.Helper()
	tsRequireNode(t)
	sdk := tsNodeSDK(t)
	return func(t *testing.T, example, project string, c *cloud) seedProgram {
		t.Helper()
		return newTSProgram(t, example, project, sdk, c)
	}
}

func (p *tsProgram) up() map[string]int {
	p.t.Helper()
	p.created = p.run("up")
	return p.created.Summary.ResourceChanges
}

func (p *tsProgram) noOpUp() map[string]int {
	p.t.Helper()
	return p.run("up").Summary.ResourceChanges
}

func (p *tsProgram) destroy() map[string]int {
	p.t.Helper()
	return p.run("destroy").Summary.ResourceChanges
}

// checkCreated checks the outputs of the first up and that the token is a secret.
func (p *tsProgram) checkCreated() {
	t := p.t
	t.Helper()
	r := p.created
	switch p.example {
	case "deployment-webhooks":
		assert.Empty(t, r.Outputs, "the program exports nothing")
	case "deployment-graph":
		// The graph's own count and picture, and the live graph the invoke read back after it.
		require.ElementsMatch(t, []string{"edgeCount", "mermaid", "liveEdges"}, tsKeys(r.Outputs))
		assert.JSONEq(t, "4", string(r.Outputs["edgeCount"].Value))
		var mermaid string
		require.NoError(t, json.Unmarshal(r.Outputs["mermaid"].Value, &mermaid))
		assert.Equal(t, 4, strings.Count(mermaid, " --> "), mermaid)
		assert.JSONEq(t, `{"network/prod": ["cache/prod", "database/prod"], "database/prod": ["app/prod"], `+
			`"app/prod": ["web/prod"]}`,
			string(r.Outputs["liveEdges"].Value))
	case "always-deploy":
		require.ElementsMatch(t, []string{"edgeCount"}, tsKeys(r.Outputs))
		assert.JSONEq(t, "2", string(r.Outputs["edgeCount"].Value))
	case "auto-deployer":
		// The program exports its six AutoDeployers; their outputs are the resources' properties.
		require.ElementsMatch(t, []string{"a", "b", "c", "d", "e", "f"}, tsKeys(r.Outputs))
		for name, out := range r.Outputs {
			assert.False(t, out.Secret, name)
			var ad struct {
				Ref                string   `json:"ref"`
				Organization       string   `json:"organization"`
				Project            string   `json:"project"`
				Stack              string   `json:"stack"`
				DownstreamRefs     []string `json:"downstreamRefs"`
				DownstreamWebhooks []string `json:"downstreamWebhooks"`
			}
			require.NoError(t, json.Unmarshal(out.Value, &ad), "output %s: %s", name, out.Value)
			assert.Equal(t, graphProject+"/"+name, ad.Ref, name)
			// getOrganization() gave the placeholder, which auto-deploy:organization replaced.
			assert.Equal(t, configuredOrg, ad.Organization, name)
			assert.Equal(t, graphProject, ad.Project, name)
			assert.Equal(t, name, ad.Stack, name)
			assert.Len(t, ad.DownstreamWebhooks, len(ad.DownstreamRefs), name)
			for _, hook := range ad.DownstreamWebhooks {
				assert.Regexp(t, `^autodeploy-[0-9a-f]{16}$`, hook, name)
			}
		}
		assert.JSONEq(t, `"dependency-example/a"`, string(tsJSONField(t, r.Outputs["a"].Value, "ref")))
		assert.JSONEq(t, `["dependency-example/b","dependency-example/c"]`,
			string(tsJSONField(t, r.Outputs["a"].Value, "downstreamRefs")))
		assert.JSONEq(t, `["dependency-example/d","dependency-example/e","dependency-example/f"]`,
			string(tsJSONField(t, r.Outputs["b"].Value, "downstreamRefs")))
	default:
		require.Failf(t, "no output checks", "for the TypeScript example %s", p.example)
	}
	p.assertTokenIsSecret()
}

// tsProgram is one copy of a TypeScript example, with its dependencies installed and compiled,
// its own Pulumi home and file backend, run by examples/typescript/run-inline.js.
type tsProgram struct {
	t                                    *testing.T
	example, runner, dir, project, state string
	url                                  string
	env                                  []string
	created                              tsResult // what the first up printed
}

// newTSProgram copies examples/typescript/<example> to a temporary folder, points its
// @autodeploy-dev/auto-deploy dependency at the SDK tarball, installs its dependencies with
// npm, checks there is one @pulumi/pulumi, and compiles it with tsc --strict.
func newTSProgram(t *testing.T, example, project, sdkTarball string, c *cloud) *tsProgram {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "program")
	tsCopyTree(t, filepath.Join("typescript", example), dir)
	for _, f := range []string{"index.ts", "package.json", "tsconfig.json", "Pulumi.yaml"} {
		require.FileExists(t, filepath.Join(dir, f))
	}

	// The example pins @pulumi/pulumi to the CLI's version; only the SDK, which is not
	// published, comes from elsewhere: the tarball built from sdk/nodejs.
	pkgPath := filepath.Join(dir, "package.json")
	data, err := os.ReadFile(pkgPath)
	require.NoError(t, err)
	var pkg map[string]any
	require.NoError(t, json.Unmarshal(data, &pkg), "%s", pkgPath)
	deps, _ := pkg["dependencies"].(map[string]any)
	require.NotNil(t, deps, "%s has no dependencies", pkgPath)
	assert.Equal(t, tsPulumiVersion, deps["@pulumi/pulumi"],
		"%s must pin @pulumi/pulumi to the CLI's version", pkgPath)
	require.Contains(t, deps, "@autodeploy-dev/auto-deploy")
	deps["@autodeploy-dev/auto-deploy"] = "file:" + sdkTarball
	data, err = json.MarshalIndent(pkg, "", "    ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pkgPath, data, 0o600))

	start := time.Now()
	tsExec(t, 10*time.Minute, dir, "npm", "install", "--no-audit", "--no-fund", "--prefer-offline")
	installed := time.Since(start)
	// One @pulumi/pulumi: the SDK's ^ range must have been met by the program's pin. Two
	// copies would each keep their own runtime state, and resources would go missing.
	out := tsExec(t, time.Minute, dir, "npm", "ls", "@pulumi/pulumi", "--all", "--parseable")
	copies := strings.Fields(out)
	require.Equal(t, []string{filepath.Join(dir, "node_modules", "@pulumi", "pulumi")}, copies,
		"want exactly one @pulumi/pulumi in node_modules; npm ls:\n%s",
		tsExecOutput(t, dir, "npm", "ls", "@pulumi/pulumi", "--all"))
	assert.Equal(t, tsPulumiVersion, tsPackageVersion(t, copies[0]))
	assert.FileExists(t, filepath.Join(dir, "node_modules", "@autodeploy-dev", "auto-deploy", "index.d.ts"))

	start = time.Now()
	tsExec(t, 5*time.Minute, dir, "node", filepath.Join("node_modules", "typescript", "bin", "tsc"),
		"-p", "tsconfig.json", "--strict")
	require.FileExists(t, filepath.Join(dir, "bin", "index.js"))
	t.Logf("%s: npm install %s, tsc %s", example, installed.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond))

	runner, err := filepath.Abs(filepath.Join("typescript", "run-inline.js"))
	require.NoError(t, err)
	state := filepath.Join(root, "state")
	env := append(e2e.PulumiEnv(t, root, os.Environ()), "AUTO_DEPLOY_ACCESS_TOKEN="+testToken,
		"AUTO_DEPLOY_EXAMPLE_CONFIG="+exampleConfigJSON(t, example))
	return &tsProgram{t: t, example: example, runner: runner, dir: dir, project: project, state: state, url: c.URL,
		env: env}
}

// tsResult is the JSON line run-inline.js prints.
type tsResult struct {
	Action        string `json:"action"`
	PulumiVersion string `json:"pulumiVersion"`
	Summary       struct {
		Result          string         `json:"result"`
		ResourceChanges map[string]int `json:"resourceChanges"`
	} `json:"summary"`
	Outputs map[string]struct {
		Value  json.RawMessage `json:"value"`
		Secret bool            `json:"secret"`
	} `json:"outputs"`
}

// run runs up or destroy on the program's stack "test" and fails the test unless the
// operation succeeded with bin/pulumi.
func (p *tsProgram) run(action string) tsResult {
	p.t.Helper()
	var r tsResult
	stderr, took := runInline(p.t, p.env, &r, "node", p.runner, "--action", action, "--dir", p.dir,
		"--module", filepath.Join("bin", "index.js"), "--stack", "test", "--project", p.project,
		"--api-url", p.url, "--organization", configuredOrg)
	require.Equal(p.t, "succeeded", r.Summary.Result, "%s:\n%s", action, stderr)
	require.Equal(p.t, tsPulumiVersion, r.PulumiVersion, "the Automation API must use bin/pulumi")
	p.t.Logf("%s %s: %s %v in %s", p.project, action, r.Summary.Result, r.Summary.ResourceChanges,
		took.Round(time.Millisecond))
	return r
}

// assertTokenIsSecret checks that the runner set the access token as a secret: encrypted in
// the stack's config file and in no file of the backend's state.
func (p *tsProgram) assertTokenIsSecret() {
	p.t.Helper()
	config, err := os.ReadFile(filepath.Join(p.dir, "Pulumi.test.yaml"))
	require.NoError(p.t, err)
	assert.Regexp(p.t, `auto-deploy:accessToken:\s+secure: `, string(config))
	assert.Contains(p.t, string(config), "auto-deploy:apiUrl: "+p.url)
	assert.NotContains(p.t, string(config), testToken)
	err = filepath.WalkDir(p.state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		assert.NotContains(p.t, string(data), testToken, "the access token is in plain text in %s", path)
		return nil
	})
	require.NoError(p.t, err)
}

// tsRequireNode fails the test unless node (18 or later, for util.parseArgs) and npm are on PATH.
func tsRequireNode(t *testing.T) {
	t.Helper()
	const need = "the TypeScript example tests need Node.js 18 or later and npm on PATH"
	_, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH: %s", need)
	_, err = exec.LookPath("npm")
	require.NoError(t, err, "npm is not on PATH: %s", need)
	version := strings.TrimSpace(tsExecOutput(t, ".", "node", "--version"))
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0])
	require.NoError(t, err, "node --version printed %q", version)
	require.GreaterOrEqual(t, major, 18, "node is %s: %s", version, need)
}

// tsNodeSDK returns an npm tarball of the Node SDK built from sdk/nodejs as its README says:
// npm install, tsc, and package.json copied into bin/, which is the package. It is cached in
// bin/.cache/nodejs-sdk-<hash>/, the hash covering the SDK's files and the recipe, so warm
// runs reuse it and any change to the SDK builds a new one. The build happens in a copy, so
// sdk/nodejs gets no node_modules, bin/ or package-lock.json, in a temporary folder renamed
// into place, so concurrent test runs never see half a build.
//
// A tarball rather than the bin/ folder: npm links a file: folder instead of copying it, and
// Node would then resolve the SDK's @pulumi/pulumi from the build's own node_modules, a
// second copy beside the program's.
func tsNodeSDK(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	sdk := filepath.Join(repo, "sdk", "nodejs")
	files := tsSDKFiles(t, sdk)
	cache := filepath.Join(repo, "bin", ".cache")
	final := filepath.Join(cache, "nodejs-sdk-"+hashFiles(t, sdk, files, tsSDKRecipe))
	tarball := filepath.Join(final, "auto-deploy.tgz")
	if _, err := os.Stat(tarball); err == nil {
		t.Logf("node SDK (cached): %s", tarball)
		return tarball
	}

	start := time.Now()
	buildIntoCache(t, final, tarball, sdk, files, func(tmp, src string) string {
		tsExec(t, 10*time.Minute, src, "npm", "install", "--no-audit", "--no-fund", "--prefer-offline")
		tsExec(t, 5*time.Minute, src, "node", filepath.Join("node_modules", "typescript", "bin", "tsc"))
		for _, f := range []string{"package.json", "README.md"} {
			if data, err := os.ReadFile(filepath.Join(src, f)); err == nil {
				require.NoError(t, os.WriteFile(filepath.Join(src, "bin", f), data, 0o644))
			}
		}
		out := tsExec(t, 2*time.Minute, filepath.Join(src, "bin"), "npm", "pack", "--json", "--pack-destination", tmp)
		var packed []struct {
			Filename string `json:"filename"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &packed), "npm pack --json printed:\n%s", out)
		require.Len(t, packed, 1, "npm pack --json printed:\n%s", out)
		build := filepath.Join(tmp, "out")
		require.NoError(t, os.MkdirAll(build, 0o755))
		require.NoError(t, os.Rename(filepath.Join(tmp, packed[0].Filename), filepath.Join(build, "auto-deploy.tgz")))
		return build
	})
	t.Logf("node SDK built in %s: %s", time.Since(start).Round(time.Millisecond), tarball)
	return tarball
}

// tsSDKFiles lists sdk/nodejs's files, relative and sorted, without what building it leaves
// behind.
func tsSDKFiles(t *testing.T, sdk string) []string {
	t.Helper()
	files := sourceFiles(t, sdk, func(rel string, d fs.DirEntry) bool {
		if d.IsDir() {
			return rel == "node_modules" || rel == "bin" || strings.HasPrefix(d.Name(), ".")
		}
		return rel == "package-lock.json"
	})
	require.Contains(t, files, "package.json", "no Node SDK in %s: run `make sdks`", sdk)
	return files
}

// tsCopyTree copies an example's own files, leaving out what installing or compiling it in
// place would have left there.
func tsCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "node_modules" || rel == "bin" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if !d.Type().IsRegular() || rel == "package-lock.json" ||
			(strings.HasPrefix(rel, "Pulumi.") && rel != "Pulumi.yaml") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	require.NoError(t, err, "copying %s", src)
}

// tsExec runs a command for installing or compiling and fails the test with its output; it
// returns stdout.
func tsExec(t *testing.T, timeout time.Duration, dir, name string, args ...string) string {
	t.Helper()
	return runTool(t, timeout, dir, append(os.Environ(), "npm_config_update_notifier=false"), name, args...)
}

// tsExecOutput runs a command for its combined output, whether or not it fails.
func tsExecOutput(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// tsPackageVersion reads the version from an installed package's package.json.
func tsPackageVersion(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	require.NoError(t, err)
	var pkg struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(data, &pkg))
	return pkg.Version
}

// tsJSONField returns one field of a JSON object.
func tsJSONField(t *testing.T, object json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(object, &fields), "%s", object)
	require.Contains(t, fields, name, "%s", object)
	return fields[name]
}

func tsKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
