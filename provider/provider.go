package provider

import (
	"context"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// Name is the Pulumi package name.
const Name = "auto-deploy"

// Version is stamped at build time with -ldflags "-X ...provider.Version=v1.2.3".
var Version = "0.0.1-dev"

// New builds the provider; newClient decides how it reaches Pulumi Cloud (NewCloudClient
// in production, anything else in tests).
func New(newClient ClientFactory) (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
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
		WithConfig(infer.Config(&Config{newClient: newClient})).
		WithResources(
			infer.Resource(&Webhook{}),
			infer.Resource(&AutoDeployer{}),
			infer.Resource(&DeploymentGraph{}),
		).
		WithFunctions(infer.Function(&GetDeploymentGraph{}), infer.Function(&GetCascadePlan{})).
		WithModuleMap(map[tokens.ModuleName]tokens.ModuleName{"provider": "index"}).
		Build()
	if err != nil {
		return p.Provider{}, err
	}
	return configIsNotIdentity(withResourceURN(previewUnknownRefs(prov))), nil
}

const autoDeployerToken = "auto-deploy:index:AutoDeployer"

// previewUnknownRefs makes an AutoDeployer's ref and webhook names unknown in a preview
// where the inputs they derive from are unknown. infer can mark an output always known
// (what refs need to flow between AutoDeployers in preview) but not "known when its
// inputs are", so the exception is applied here.
func previewUnknownRefs(prov p.Provider) p.Provider {
	mark := func(inputs, outputs property.Map) property.Map {
		if inputs.Get("project").HasComputed() || inputs.Get("stack").HasComputed() {
			outputs = outputs.Set("ref", property.New(property.Computed))
		}
		if inputs.Get("downstreamRefs").HasComputed() {
			outputs = outputs.Set("downstreamWebhooks", property.New(property.Computed))
		}
		return outputs
	}
	create, update := prov.Create, prov.Update
	prov.Create = func(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
		resp, err := create(ctx, req)
		if err == nil && req.DryRun && req.Urn.Type() == autoDeployerToken {
			resp.Properties = mark(req.Properties, resp.Properties)
		}
		return resp, err
	}
	prov.Update = func(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
		resp, err := update(ctx, req)
		if err == nil && req.DryRun && req.Urn.Type() == autoDeployerToken {
			resp.Properties = mark(req.Inputs, resp.Properties)
		}
		return resp, err
	}
	return prov
}

type urnKey struct{}

// withResourceURN puts the URN of the resource each request is about into its context:
// infer's requests do not carry it, and it is what an edge's owner is recorded as.
func withResourceURN(prov p.Provider) p.Provider {
	with := func(ctx context.Context, urn presource.URN) context.Context {
		return context.WithValue(ctx, urnKey{}, string(urn))
	}
	check, create, read, update, del := prov.Check, prov.Create, prov.Read, prov.Update, prov.Delete
	prov.Check = func(ctx context.Context, req p.CheckRequest) (p.CheckResponse, error) {
		return check(with(ctx, req.Urn), req)
	}
	prov.Create = func(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
		return create(with(ctx, req.Urn), req)
	}
	prov.Read = func(ctx context.Context, req p.ReadRequest) (p.ReadResponse, error) {
		return read(with(ctx, req.Urn), req)
	}
	prov.Update = func(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
		return update(with(ctx, req.Urn), req)
	}
	prov.Delete = func(ctx context.Context, req p.DeleteRequest) error {
		return del(with(ctx, req.Urn), req)
	}
	return prov
}

// resourceURN is the URN withResourceURN recorded.
func resourceURN(ctx context.Context) string {
	urn, _ := ctx.Value(urnKey{}).(string)
	return urn
}

// configIsNotIdentity makes every provider configuration change an update of the
// provider, never a replacement: a new token, a token moved between config, environment
// and `pulumi login`, or another spelling of the API URL reaches the same webhooks, and
// replacing the provider would replace every resource, whose create-before-delete then
// deleted the very webhooks the new resource had just adopted. infer replaces the
// provider on any config change.
func configIsNotIdentity(prov p.Provider) p.Provider {
	diffConfig := prov.DiffConfig
	prov.DiffConfig = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := diffConfig(ctx, req)
		if err != nil {
			return resp, err
		}
		for key, d := range resp.DetailedDiff {
			switch d.Kind {
			case p.AddReplace:
				d.Kind = p.Add
			case p.DeleteReplace:
				d.Kind = p.Delete
			case p.UpdateReplace:
				d.Kind = p.Update
			}
			resp.DetailedDiff[key] = d
		}
		resp.DeleteBeforeReplace = false
		return resp, nil
	}
	return prov
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
