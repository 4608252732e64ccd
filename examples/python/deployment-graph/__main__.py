import pulumi
import autodeploy_dev_auto_deploy as auto_deploy

# network/prod
# ├── database/prod
# │   └── app/prod
# └── cache/prod
# An update of any stack redeploys every stack below it, level by level. Edges are declared, and
# also derived from StackReferences: any of these projects' stacks that reads another's outputs
# is redeployed after it changes.
graph = auto_deploy.DeploymentGraph(
    "graph",
    # On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
    organization=pulumi.get_organization(),
    edges={
        "network/prod": ["database/prod", "cache/prod"],
        "database/prod": ["app/prod"],
    },
    from_stack_references=auto_deploy.StackSelectionArgs(
        projects=["network", "database", "cache", "app", "web"],
    ),
)

pulumi.export("edgeCount", graph.edge_count)
pulumi.export("mermaid", graph.mermaid)

# The live graph, read back from Pulumi Cloud once the graph is in place: every deployment
# webhook of these projects' stacks, whoever made it.
live = auto_deploy.get_deployment_graph_output(
    organization=graph.organization,
    projects=["network", "database", "cache", "app", "web"],
)
pulumi.export("liveEdges", live.edges)
