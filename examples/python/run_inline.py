"""Run an unchanged Pulumi Python program as an Automation API inline program.

There is no Python language host on these machines, so the e2e tests (examples/python_test.go)
run each example's __main__.py through this script with the virtualenv's python:

    python run_inline.py --program examples/python/auto-deployer --project dependency-example \
        --stack test --work-dir /tmp/ws --api-url http://127.0.0.1:1234 --action up

The access token comes from the AUTO_DEPLOY_ACCESS_TOKEN environment variable, not the command
line, and is stored as a secret in the stack's config; the program's own config, if it has any,
from AUTO_DEPLOY_EXAMPLE_CONFIG, as JSON: {"key": {"value": "...", "secret": true}}. Everything else the CLI needs (PATH with
pulumi and the provider plugin first, PULUMI_HOME, PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE)
comes from the environment. The CLI's progress goes to stderr; the last line on stdout is one
JSON object describing the result.
"""

import argparse
import json
import os
import runpy
import sys

import pulumi.automation as auto


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", required=True, help="folder holding the program's __main__.py")
    parser.add_argument("--project", required=True, help="Pulumi project name")
    parser.add_argument("--stack", required=True, help="stack name")
    parser.add_argument("--work-dir", required=True, help="workspace folder, kept between runs")
    parser.add_argument("--api-url", required=True, help="Pulumi Cloud API URL for auto-deploy:apiUrl")
    parser.add_argument("--organization", help="auto-deploy:organization: pulumi.get_organization() is a "
                        "placeholder on a file backend, which this names")
    parser.add_argument("--action", required=True, choices=["up", "destroy"])
    parser.add_argument("--expect-no-changes", action="store_true", help="fail an up that changes anything")
    args = parser.parse_args()

    token = os.environ.get("AUTO_DEPLOY_ACCESS_TOKEN")
    if not token:
        parser.error("AUTO_DEPLOY_ACCESS_TOKEN is not set")
    # Out of the environment the CLI and the provider inherit: it may hold secrets.
    program_config = json.loads(os.environ.pop("AUTO_DEPLOY_EXAMPLE_CONFIG", "{}"))

    program_dir = os.path.abspath(args.program)
    main_py = os.path.join(program_dir, "__main__.py")
    if not os.path.isfile(main_py):
        parser.error(f"no __main__.py in {program_dir}")
    os.makedirs(args.work_dir, exist_ok=True)
    # A Pulumi program runs in its own folder, as the Python language host would run it.
    os.chdir(program_dir)

    def program() -> None:
        runpy.run_path(main_py, run_name="__main__")

    stack = auto.create_or_select_stack(
        stack_name=args.stack,
        project_name=args.project,
        program=program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=os.path.abspath(args.work_dir),
            project_settings=auto.ProjectSettings(name=args.project, runtime="python"),
        ),
    )
    stack.set_config("auto-deploy:apiUrl", auto.ConfigValue(value=args.api_url))
    stack.set_config("auto-deploy:accessToken", auto.ConfigValue(value=token, secret=True))
    if args.organization:
        stack.set_config("auto-deploy:organization", auto.ConfigValue(value=args.organization))
    for key, value in program_config.items():
        stack.set_config(key, auto.ConfigValue(value=value["value"], secret=value.get("secret", False)))

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.action == "up":
        result = stack.up(on_output=progress, expect_no_changes=args.expect_no_changes or None)
        outputs = {k: (None if v.secret else v.value) for k, v in result.outputs.items()}
    else:
        result = stack.destroy(on_output=progress)
        outputs = {}

    summary = result.summary
    print(
        json.dumps(
            {
                "action": args.action,
                "project": args.project,
                "stack": args.stack,
                "result": summary.result,
                "resourceChanges": summary.resource_changes or {},
                "outputs": outputs,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
