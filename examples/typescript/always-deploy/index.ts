import * as autodeploy from "@autodeploy-dev/auto-deploy";
import * as pulumi from "@pulumi/pulumi";

// network/prod
// ├── app/prod      alwaysDeploy: its image tag is built from network's commit, not read from its outputs
// └── cache/prod    deploys only when an output of network it reads changed
// Through the relay (docs/relay.md) a stack deploys after an update of its upstream only when one
// of the upstream's outputs changed. app/prod also depends on network/prod by other means, so it
// is listed in alwaysDeploy: its edge carries alwaysDeploy=true, and the relay deploys it after
// every update of network/prod.
const config = new pulumi.Config();
const graph = new autodeploy.DeploymentGraph("graph", {
    // On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
    organization: pulumi.getOrganization(),
    edges: {
        "network/prod": ["app/prod", "cache/prod"],
    },
    relay: { url: config.require("relayUrl"), secret: config.requireSecret("relaySecret") },
    alwaysDeploy: ["app/prod"],
});

export const edgeCount = graph.edgeCount;
