using System.Collections.Generic;
using System.Collections.Immutable;
using Pulumi;
using AutoDeploy = AutoDeployDev.AutoDeploy;

// network/prod
// ├── app/prod      alwaysDeploy: its image tag is built from network's commit, not read from its outputs
// └── cache/prod    deploys only when an output of network it reads changed
// Through the relay (docs/relay.md) a stack deploys after an update of its upstream only when one
// of the upstream's outputs changed. app/prod also depends on network/prod by other means, so it
// is listed in AlwaysDeploy: its edge carries alwaysDeploy=true, and the relay deploys it after
// every update of network/prod.
return await Deployment.RunAsync(() =>
{
    var config = new Config();
    var graph = new AutoDeploy.DeploymentGraph("graph", new()
    {
        // On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
        Organization = Deployment.Instance.OrganizationName,
        Edges =
        {
            { "network/prod", ImmutableArray.Create("app/prod", "cache/prod") },
        },
        Relay = new AutoDeploy.Inputs.RelaySpecArgs
        {
            Url = config.Require("relayUrl"),
            Secret = config.RequireSecret("relaySecret"),
        },
        AlwaysDeploy = { "app/prod" },
    });

    return new Dictionary<string, object?>
    {
        ["edgeCount"] = graph.EdgeCount,
    };
});
