import * as autodeploy from "@autodeploy-dev/auto-deploy";
import * as pulumi from "@pulumi/pulumi";

// network/prod
// ├── database/prod
// │   └── app/prod
// └── cache/prod
// An update of any stack redeploys every stack below it, level by level. Edges are declared, and
// also derived from StackReferences: any of these projects' stacks that reads another's outputs
// is redeployed after it changes.
const graph = new autodeploy.DeploymentGraph("graph", {
    // On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
    organization: pulumi.getOrganization(),
    edges: {
        "network/prod": ["database/prod", "cache/prod"],
        "database/prod": ["app/prod"],
    },
    fromStackReferences: { projects: ["network", "database", "cache", "app", "web"] },
});

export const edgeCount = graph.edgeCount;
export const mermaid = graph.mermaid;

// The live graph, read back from Pulumi Cloud once the graph is in place: every deployment
// webhook of these projects' stacks, whoever made it.
const live = autodeploy.getDeploymentGraphOutput({
    organization: graph.organization,
    projects: ["network", "database", "cache", "app", "web"],
});
export const liveEdges = live.edges;
