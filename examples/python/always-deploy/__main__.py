import pulumi
import autodeploy_dev_auto_deploy as auto_deploy

# network/prod
# ├── app/prod      alwaysDeploy: its image tag is built from network's commit, not read from its outputs
# └── cache/prod    deploys only when an output of network it reads changed
# Through the relay (docs/relay.md) a stack deploys after an update of its upstream only when one
# of the upstream's outputs changed. app/prod also depends on network/prod by other means, so it
# is listed in always_deploy: its edge carries alwaysDeploy=true, and the relay deploys it after
# every update of network/prod.
config = pulumi.Config()
graph = auto_deploy.DeploymentGraph(
    "graph",
    # On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
    organization=pulumi.get_organization(),
    edges={
        "network/prod": ["app/prod", "cache/prod"],
    },
    relay=auto_deploy.RelaySpecArgs(
        url=config.require("relayUrl"),
        secret=config.require_secret("relaySecret"),
    ),
    always_deploy=["app/prod"],
)

pulumi.export("edgeCount", graph.edge_count)
