// Command sdkgen generates the Node.js, Python and Go SDKs of the auto-deploy provider from
// its schema.json:
//
//	sdkgen -schema schema.json -out sdk -lang nodejs,python,go -version 0.1.0
//
// It calls pulumi's code generators directly because `pulumi package gen-sdk` needs the
// language hosts, which cannot be fetched here. The C# SDK comes from tools/yaml/dotnetgen:
// its generator only exists in an older pulumi.
//
// Each language binds its own copy of the schema: the generators annotate the bound
// package as they run (Python renames enum values in it, and Go generated afterwards would
// name them WebhookFormat_PULUMI_DEPLOYMENTS). Each SDK is written to a staging directory
// beside its destination and swapped in whole, so files the schema no longer produces go
// away. The output carries no timestamps, so regenerating an unchanged schema rewrites the
// same bytes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/blang/semver"

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

// tool names the generator in the header of every generated file.
const tool = "pulumi-auto-deploy-sdkgen"

// pulumiSDK is the Go module the generated Go SDK depends on; its version is the one this
// generator was built with, the version the generated code is written for.
const pulumiSDK = "github.com/pulumi/pulumi/sdk/v3"

// goDirective is the minimum Go version written into the Go SDK's go.mod; `go mod tidy`
// raises it if the pulumi SDK needs more.
const goDirective = "1.25"

func main() {
	schemaPath := flag.String("schema", "schema.json", "the provider schema to generate from")
	out := flag.String("out", "sdk", "directory that receives one subdirectory per language")
	langs := flag.String("lang", "nodejs,python,go", "comma-separated languages: nodejs, python, go")
	version := flag.String("version", "", "the version the SDKs carry (required)")
	flag.Parse()

	if err := run(*schemaPath, *out, strings.Split(*langs, ","), *version); err != nil {
		fmt.Fprintf(os.Stderr, "sdkgen: %v\n", err)
		os.Exit(1)
	}
}

func run(schemaPath, out string, langs []string, version string) error {
	if version == "" {
		return errors.New("-version is required")
	}
	if _, err := semver.Parse(strings.TrimPrefix(version, "v")); err != nil {
		return fmt.Errorf("parse -version %q: %w", version, err)
	}
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	for _, lang := range langs {
		lang = strings.TrimSpace(lang)
		// Unmarshal each time: binding shares maps and slices with the spec.
		var spec schema.PackageSpec
		if err := json.Unmarshal(raw, &spec); err != nil {
			return fmt.Errorf("parse %s: %w", schemaPath, err)
		}
		spec.Version = strings.TrimPrefix(version, "v")
		pkg, err := bind(spec)
		if err != nil {
			return fmt.Errorf("bind %s: %w", schemaPath, err)
		}
		if err := generate(lang, pkg, out); err != nil {
			return fmt.Errorf("generate %s SDK: %w", lang, err)
		}
	}
	return nil
}

// bind validates the spec against the package metaschema and binds it.
func bind(spec schema.PackageSpec) (*schema.Package, error) {
	pkg, diags, err := schema.BindSpec(spec, noDependencies{}, schema.ValidationOptions{})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return pkg, nil
}

func generate(lang string, pkg *schema.Package, out string) error {
	switch lang {
	case "nodejs":
		files, err := nodejs.GeneratePackage(tool, pkg, nil, nil, false, noDependencies{})
		if err != nil {
			return err
		}
		return replaceDir(filepath.Join(out, "nodejs"), files)
	case "python":
		files, err := python.GeneratePackage(tool, pkg, nil, noDependencies{})
		if err != nil {
			return err
		}
		return replaceDir(filepath.Join(out, "python"), files)
	case "go":
		files, err := gogen.GeneratePackage(tool, pkg, nil)
		if err != nil {
			return err
		}
		return writeGoModule(out, pkg, files)
	default:
		return fmt.Errorf("unknown language %q (want nodejs, python or go)", lang)
	}
}

// writeGoModule writes the Go SDK as a module rooted at out: the packages under out/go,
// where the schema's importBasePath points, and go.mod and go.sum beside them. go.sum is
// computed by `go mod tidy`, starting from the one already there so its hashes are checked.
func writeGoModule(out string, pkg *schema.Package, files map[string][]byte) error {
	info, _ := pkg.Language["go"].(gogen.GoPackageInfo)
	modulePath, err := goModulePath(info.ImportBasePath, files)
	if err != nil {
		return err
	}
	sdkVersion, err := pulumiSDKVersion()
	if err != nil {
		return err
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(out, ".go-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	if err := writeFiles(filepath.Join(stage, "go"), files); err != nil {
		return err
	}
	goMod := fmt.Sprintf("module %s\n\ngo %s\n\nrequire %s %s\n", modulePath, goDirective, pulumiSDK, sdkVersion)
	if err := os.WriteFile(filepath.Join(stage, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	if sum, err := os.ReadFile(filepath.Join(out, "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(stage, "go.sum"), sum, 0o644); err != nil {
			return err
		}
	}
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = stage
	tidy.Stdout, tidy.Stderr = os.Stderr, os.Stderr
	if err := tidy.Run(); err != nil {
		return fmt.Errorf("go mod tidy: %w", err)
	}

	if err := swapDir(filepath.Join(stage, "go"), filepath.Join(out, "go")); err != nil {
		return err
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(out, name)); err != nil {
			return err
		}
	}
	return nil
}

// goModulePath derives the SDK's module path from importBasePath: the packages are written
// under <module>/go/, so importBasePath must be <module>/go/<package directory>.
func goModulePath(importBasePath string, files map[string][]byte) (string, error) {
	if importBasePath == "" {
		return "", errors.New("the schema has no language.go.importBasePath")
	}
	var dirs []string
	for name := range files {
		dir, _, nested := strings.Cut(name, "/")
		if nested && !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	if len(dirs) != 1 {
		return "", fmt.Errorf("expected the Go SDK in one package directory, got %v", dirs)
	}
	module, ok := strings.CutSuffix(importBasePath, path.Join("/go", dirs[0]))
	if !ok {
		return "", fmt.Errorf("importBasePath %q does not end in /go/%s", importBasePath, dirs[0])
	}
	return module, nil
}

// pulumiSDKVersion is the version of the pulumi Go SDK this generator was built with.
func pulumiSDKVersion() (string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build info to read the pulumi SDK version from")
	}
	for _, dep := range info.Deps {
		if dep.Path == pulumiSDK {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			return dep.Version, nil
		}
	}
	return "", fmt.Errorf("%s is not in this generator's build info", pulumiSDK)
}

// replaceDir makes dst hold exactly files.
func replaceDir(dst string, files map[string][]byte) error {
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	dir := filepath.Join(stage, "sdk")
	if err := writeFiles(dir, files); err != nil {
		return err
	}
	return swapDir(dir, dst)
}

// swapDir moves src to dst, replacing whatever dst held; dst is never half written.
func swapDir(src, dst string) error {
	old := dst + ".old"
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		if restore := os.Rename(old, dst); restore != nil && !errors.Is(restore, os.ErrNotExist) {
			return errors.Join(err, restore)
		}
		return err
	}
	return os.RemoveAll(old)
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// noDependencies is the schema loader for a package that references no other package: the
// generators only ask it about schema dependencies, and ours has none.
type noDependencies struct{}

func (noDependencies) LoadPackage(pkg string, _ *semver.Version) (*schema.Package, error) {
	return nil, fmt.Errorf("schema references package %q; sdkgen supports no dependencies", pkg)
}

func (noDependencies) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, fmt.Errorf("schema references package %q; sdkgen supports no dependencies", d.Name)
}

func (noDependencies) LoadPackageReference(pkg string, _ *semver.Version) (schema.PackageReference, error) {
	return nil, fmt.Errorf("schema references package %q; sdkgen supports no dependencies", pkg)
}

func (noDependencies) LoadPackageReferenceV2(
	_ context.Context, d *schema.PackageDescriptor,
) (schema.PackageReference, error) {
	return nil, fmt.Errorf("schema references package %q; sdkgen supports no dependencies", d.Name)
}
