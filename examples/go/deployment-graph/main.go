package main

import (
	"github.com/autodeploy-dev/pulumi-auto-deploy/sdk/go/autodeploy"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// network/prod
// ├── database/prod
// │   └── app/prod
// └── cache/prod
// An update of any stack redeploys every stack below it, level by level.
func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		graph, err := autodeploy.NewDeploymentGraph(ctx, "graph", &autodeploy.DeploymentGraphArgs{
			// On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
			Organization: pulumi.String(ctx.Organization()),
			Edges: pulumi.StringArrayMap{
				"network/prod":  pulumi.ToStringArray([]string{"database/prod", "cache/prod"}),
				"database/prod": pulumi.ToStringArray([]string{"app/prod"}),
			},
		})
		if err != nil {
			return err
		}
		ctx.Export("edgeCount", graph.EdgeCount)
		return nil
	})
}
