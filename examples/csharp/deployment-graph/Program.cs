using System.Collections.Generic;
using System.Collections.Immutable;
using Pulumi;
using AutoDeploy = AutoDeployDev.AutoDeploy;

// network/prod
// ├── database/prod
// │   └── app/prod
// └── cache/prod
// An update of any stack redeploys every stack below it, level by level. Edges are declared, and
// also derived from StackReferences: any of these projects' stacks that reads another's outputs
// is redeployed after it changes.
return await Deployment.RunAsync(() =>
{
    var graph = new AutoDeploy.DeploymentGraph("graph", new()
    {
        // On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
        Organization = Deployment.Instance.OrganizationName,
        Edges =
        {
            { "network/prod", ImmutableArray.Create("database/prod", "cache/prod") },
            { "database/prod", ImmutableArray.Create("app/prod") },
        },
        FromStackReferences = new AutoDeploy.Inputs.StackSelectionArgs
        {
            Projects = { "network", "database", "cache", "app", "web" },
        },
    });

    // The live graph, read back from Pulumi Cloud: every deployment webhook of these
    // projects' stacks, whoever made it.
    var live = AutoDeploy.GetDeploymentGraph.Invoke(new()
    {
        Organization = graph.Organization,
        Projects = { "network", "database", "cache", "app", "web" },
    });

    return new Dictionary<string, object?>
    {
        ["edgeCount"] = graph.EdgeCount,
        ["mermaid"] = graph.Mermaid,
        ["liveEdges"] = live.Apply(g => g.Edges),
    };
});
