using System.Collections.Generic;
using System.Collections.Immutable;
using Pulumi;
using AutoDeploy = AutoDeployDev.AutoDeploy;

// network/prod
// ├── database/prod
// │   └── app/prod
// └── cache/prod
// An update of any stack redeploys every stack below it, level by level.
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
    });

    return new Dictionary<string, object?>
    {
        ["edgeCount"] = graph.EdgeCount,
    };
});
