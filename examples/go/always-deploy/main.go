package main

import (
	"github.com/autodeploy-dev/pulumi-auto-deploy/sdk/go/autodeploy"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// network/prod
// ├── app/prod      alwaysDeploy: its image tag is built from network's commit, not read from its outputs
// └── cache/prod    deploys only when an output of network it reads changed
// Through the relay (docs/relay.md) a stack deploys after an update of its upstream only when one
// of the upstream's outputs changed. app/prod also depends on network/prod by other means, so it
// is listed in AlwaysDeploy: its edge carries alwaysDeploy=true, and the relay deploys it after
// every update of network/prod.
func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		graph, err := autodeploy.NewDeploymentGraph(ctx, "graph", &autodeploy.DeploymentGraphArgs{
			// On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
			Organization: pulumi.String(ctx.Organization()),
			Edges: pulumi.StringArrayMap{
				"network/prod": pulumi.ToStringArray([]string{"app/prod", "cache/prod"}),
			},
			Relay: &autodeploy.RelaySpecArgs{
				Url:    pulumi.String(cfg.Require("relayUrl")),
				Secret: cfg.RequireSecret("relaySecret"),
			},
			AlwaysDeploy: pulumi.ToStringArray([]string{"app/prod"}),
		})
		if err != nil {
			return err
		}
		ctx.Export("edgeCount", graph.EdgeCount)
		return nil
	})
}
