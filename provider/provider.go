package provider

import (
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// Name is the Pulumi package name.
const Name = "auto-deploy"

// Version is stamped at build time with -ldflags "-X ...provider.Version=v1.2.3".
var Version = "0.0.1-dev"

// New builds the provider; newClient decides how it reaches Pulumi Cloud (NewCloudClient
// in production, anything else in tests).
func New(newClient ClientFactory) (p.Provider, error) {
	clients := &clientSource{newClient: newClient}
	return infer.NewProviderBuilder().
		WithDisplayName("Auto Deploy").
		WithDescription("Keep dependent Pulumi stacks up to date: declare which stacks redeploy which, and the "+
			"provider manages the Pulumi Cloud deployment webhooks that do it.").
		WithKeywords("pulumi", "deployments", "webhooks", "kind/native", "category/utility").
		WithHomepage("https://github.com/autodeploy-dev/pulumi-auto-deploy").
		WithRepository("https://github.com/autodeploy-dev/pulumi-auto-deploy").
		WithPublisher("autodeploy-dev").
		WithNamespace("autodeploy-dev").
		WithLicense("Apache-2.0").
		WithPluginDownloadURL("github://api.github.com/autodeploy-dev/pulumi-auto-deploy").
		WithGoImportPath("github.com/autodeploy-dev/pulumi-auto-deploy/sdk/go/autodeploy").
		WithLanguageMap(languageMap()).
		WithConfig(infer.Config(&Config{})).
		WithResources(
			infer.Resource(&Webhook{clients: clients}),
		).
		WithModuleMap(map[tokens.ModuleName]tokens.ModuleName{"provider": "index"}).
		Build()
}

// languageMap names the SDK packages under our own publisher, never Pulumi's npm scope or
// PyPI prefix.
func languageMap() map[string]any {
	return map[string]any{
		"nodejs": map[string]any{
			"packageName":          "@autodeploy-dev/auto-deploy",
			"respectSchemaVersion": true,
			"dependencies":         map[string]any{"@pulumi/pulumi": "^3.259.0"},
		},
		"python": map[string]any{
			"packageName":          "autodeploy_dev_auto_deploy",
			"respectSchemaVersion": true,
			"pyproject":            map[string]any{"enabled": true},
			"requires":             map[string]any{"pulumi": ">=3.259.0,<4.0.0"},
		},
		"go": map[string]any{
			"importBasePath":                 "github.com/autodeploy-dev/pulumi-auto-deploy/sdk/go/autodeploy",
			"generateResourceContainerTypes": true,
			"respectSchemaVersion":           true,
		},
		"csharp": map[string]any{
			"rootNamespace":        "AutoDeployDev",
			"respectSchemaVersion": true,
			"packageReferences":    map[string]any{"Pulumi": "3.*"},
		},
	}
}
