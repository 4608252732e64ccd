package main

import (
	"github.com/autodeploy-dev/pulumi-auto-deploy/sdk/go/autodeploy"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// network/prod
// ├── database/prod
// │   └── app/prod
// └── cache/prod
// An update of any stack redeploys every stack below it, level by level. Edges are declared, and
// also derived from StackReferences: any of these projects' stacks that reads another's outputs
// is redeployed after it changes.
func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		graph, err := autodeploy.NewDeploymentGraph(ctx, "graph", &autodeploy.DeploymentGraphArgs{
			// On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
			Organization: pulumi.String(ctx.Organization()),
			Edges: pulumi.StringArrayMap{
				"network/prod":  pulumi.ToStringArray([]string{"database/prod", "cache/prod"}),
				"database/prod": pulumi.ToStringArray([]string{"app/prod"}),
			},
			FromStackReferences: &autodeploy.StackSelectionArgs{
				Projects: pulumi.ToStringArray([]string{"network", "database", "cache", "app", "web"}),
			},
		})
		if err != nil {
			return err
		}
		ctx.Export("edgeCount", graph.EdgeCount)
		ctx.Export("mermaid", graph.Mermaid)

		// The live graph, read back from Pulumi Cloud once the graph is in place: every
		// deployment webhook of these projects' stacks, whoever made it.
		live := autodeploy.LookupDeploymentGraphOutput(ctx, autodeploy.LookupDeploymentGraphOutputArgs{
			Organization: graph.Organization,
			Projects:     pulumi.ToStringArray([]string{"network", "database", "cache", "app", "web"}),
		})
		ctx.Export("liveEdges", live.Edges())
		return nil
	})
}
