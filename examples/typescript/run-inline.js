#!/usr/bin/env node
// run-inline.js runs a compiled TypeScript example as an Automation API inline program, so it
// needs only the Pulumi CLI and no Node.js language host. The program module runs unchanged:
// the inline program just require()s it, and whatever it exports becomes the stack outputs.
//
//   AUTO_DEPLOY_ACCESS_TOKEN=... node run-inline.js --action up --dir <program> \
//       --module bin/index.js --stack test --project <name> --api-url http://...
//
// The program's own config, if it has any, comes as JSON in AUTO_DEPLOY_EXAMPLE_CONFIG:
// {"key": {"value": "...", "secret": true}}.
//
// The Automation API and the program both load @pulumi/pulumi from <program>/node_modules,
// so there is one copy of the SDK in the process. The CLI is `pulumi` on PATH; the file
// backend, PULUMI_HOME and passphrase come from the environment. Engine output goes to
// stderr; the last line on stdout is one JSON object:
//   {"action", "pulumiVersion", "summary": {"result", "resourceChanges"}, "outputs": {name: {value, secret}}}
"use strict";

const fs = require("fs");
const path = require("path");
const { parseArgs } = require("util");

async function main() {
    const { values: args } = parseArgs({
        options: {
            action: { type: "string" },
            dir: { type: "string" },
            module: { type: "string", default: "bin/index.js" },
            stack: { type: "string" },
            project: { type: "string" },
            "api-url": { type: "string" },
            organization: { type: "string" },
        },
    });
    for (const name of ["action", "dir", "stack", "project"]) {
        if (!args[name]) {
            throw new Error(`missing --${name}`);
        }
    }
    if (args.action !== "up" && args.action !== "destroy") {
        throw new Error(`--action must be up or destroy, not ${args.action}`);
    }
    const dir = path.resolve(args.dir);
    const programModule = path.resolve(dir, args.module);
    if (!fs.existsSync(programModule)) {
        throw new Error(`no compiled program at ${programModule}: compile the example first`);
    }

    // The token goes into the stack's config as a secret and nowhere else: take it out of
    // the environment before the CLI, and the provider under it, inherit that. So does the
    // program's own config, AUTO_DEPLOY_EXAMPLE_CONFIG ({key: {value, secret}}), which may
    // hold secrets too.
    const token = process.env.AUTO_DEPLOY_ACCESS_TOKEN;
    delete process.env.AUTO_DEPLOY_ACCESS_TOKEN;
    const programConfig = JSON.parse(process.env.AUTO_DEPLOY_EXAMPLE_CONFIG || "{}");
    delete process.env.AUTO_DEPLOY_EXAMPLE_CONFIG;

    const automation = require(require.resolve("@pulumi/pulumi/automation", { paths: [dir] }));
    const stack = await automation.LocalWorkspace.createOrSelectStack(
        {
            stackName: args.stack,
            projectName: args.project,
            program: async () => require(programModule),
        },
        { workDir: dir },
    );
    const settings = await stack.workspace.projectSettings();
    if (settings.name !== args.project) {
        throw new Error(`${dir}/Pulumi.yaml names project ${settings.name}, not ${args.project}`);
    }
    if (args["api-url"]) {
        await stack.setConfig("auto-deploy:apiUrl", { value: args["api-url"] });
    }
    if (token) {
        await stack.setConfig("auto-deploy:accessToken", { value: token, secret: true });
    }
    if (args.organization) {
        // pulumi.getOrganization() is a placeholder on a file backend; this names the organization.
        await stack.setConfig("auto-deploy:organization", { value: args.organization });
    }
    for (const [key, value] of Object.entries(programConfig)) {
        await stack.setConfig(key, value);
    }

    const onOutput = (out) => process.stderr.write(out);
    const result = { action: args.action, pulumiVersion: stack.workspace.pulumiVersion };
    if (args.action === "up") {
        const up = await stack.up({ onOutput });
        result.summary = summarize(up.summary);
        result.outputs = up.outputs;
    } else {
        const destroy = await stack.destroy({ onOutput });
        result.summary = summarize(destroy.summary);
        result.outputs = await stack.outputs();
    }
    process.stdout.write(JSON.stringify(result) + "\n");
}

function summarize(summary) {
    return { result: summary.result, resourceChanges: summary.resourceChanges || {} };
}

main().catch((err) => {
    process.stderr.write(`run-inline: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
});
