// Command dotnetgen generates the C# SDK of the auto-deploy provider from its schema.json:
//
//	dotnetgen -schema schema.json -out sdk/dotnet -logo tools/sdkgen/logo.png -version 0.1.0
//
// pulumi's C# generator left pkg/v3 after v3.206.0, the version the YAML host in this
// module is pinned to, so it lives here rather than beside the other languages in
// tools/sdkgen. The generator fetches the package logo with http.Get; a file transport
// serves it the logo this repository ships, so generation needs no network and always
// writes the same logo.png. The output replaces -out whole and carries no timestamps.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/pkg/v3/codegen/dotnet"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

// tool names the generator in the header of every generated file.
const tool = "pulumi-auto-deploy-dotnetgen"

func main() {
	schemaPath := flag.String("schema", "schema.json", "the provider schema to generate from")
	out := flag.String("out", "sdk/dotnet", "directory that receives the C# SDK; replaced whole")
	logo := flag.String("logo", "tools/sdkgen/logo.png", "PNG packed into the NuGet package as its icon")
	version := flag.String("version", "", "the version the SDK carries (required)")
	flag.Parse()

	if err := run(*schemaPath, *out, *logo, *version); err != nil {
		fmt.Fprintf(os.Stderr, "dotnetgen: %v\n", err)
		os.Exit(1)
	}
}

func run(schemaPath, out, logo, version string) error {
	if version == "" {
		return errors.New("-version is required")
	}
	version = strings.TrimPrefix(version, "v")
	if _, err := semver.Parse(version); err != nil {
		return fmt.Errorf("parse -version %q: %w", version, err)
	}
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("parse %s: %w", schemaPath, err)
	}
	spec.Version = version

	pkg, diags, err := schema.BindSpec(spec, noDependencies{}, schema.ValidationOptions{})
	if err != nil {
		return fmt.Errorf("bind %s: %w", schemaPath, err)
	}
	if diags.HasErrors() {
		return fmt.Errorf("bind %s: %w", schemaPath, diags)
	}

	logoDir, err := filepath.Abs(filepath.Dir(logo))
	if err != nil {
		return err
	}
	if _, err := os.Stat(logo); err != nil {
		return fmt.Errorf("logo: %w", err)
	}
	transport, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return errors.New("http.DefaultTransport is not an *http.Transport")
	}
	transport.RegisterProtocol("file", http.NewFileTransport(http.Dir(logoDir)))
	pkg.LogoURL = "file:///" + filepath.Base(logo)

	files, err := dotnet.GeneratePackage(tool, pkg, nil, nil)
	if err != nil {
		return fmt.Errorf("generate C# SDK: %w", err)
	}
	if png := files["logo.png"]; len(png) < 8 || string(png[1:4]) != "PNG" {
		return fmt.Errorf("logo.png from %s is not a PNG", logo)
	}
	return replaceDir(out, files)
}

// replaceDir makes dst hold exactly files, staging them beside dst and swapping the
// directories so dst is never half written.
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
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}

	old := dst + ".old"
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(dir, dst); err != nil {
		if restore := os.Rename(old, dst); restore != nil && !errors.Is(restore, os.ErrNotExist) {
			return errors.Join(err, restore)
		}
		return err
	}
	return os.RemoveAll(old)
}

// noDependencies is the schema loader for a package that references no other package.
type noDependencies struct{}

func (noDependencies) LoadPackage(pkg string, _ *semver.Version) (*schema.Package, error) {
	return nil, fmt.Errorf("schema references package %q; dotnetgen supports no dependencies", pkg)
}

func (noDependencies) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, fmt.Errorf("schema references package %q; dotnetgen supports no dependencies", d.Name)
}

func (noDependencies) LoadPackageReference(pkg string, _ *semver.Version) (schema.PackageReference, error) {
	return nil, fmt.Errorf("schema references package %q; dotnetgen supports no dependencies", pkg)
}

func (noDependencies) LoadPackageReferenceV2(
	_ context.Context, d *schema.PackageDescriptor,
) (schema.PackageReference, error) {
	return nil, fmt.Errorf("schema references package %q; dotnetgen supports no dependencies", d.Name)
}
