import pulumi
import autodeploy_dev_auto_deploy as auto_deploy

# What an update of network/prod would redeploy through the cascade relay, before it is made: the
# stacks below it in the order the relay would start them, the critical path, how long it would
# take, and what would be skipped if the update left network/prod's outputs as they were.
plan = auto_deploy.get_cascade_plan(
    # On a backend without Pulumi Cloud this is a placeholder: set auto-deploy:organization.
    organization=pulumi.get_organization(),
    stack="network/prod",
)

pulumi.export("waves", plan.waves)
pulumi.export("criticalPath", plan.critical_path)
pulumi.export("estimatedSeconds", plan.estimated_seconds)
pulumi.export("skippedIfUnchanged", plan.skipped_if_unchanged)
