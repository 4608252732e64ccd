#!/usr/bin/env bash
# The demo behind `make demo`: start the Pulumi Cloud emulator, `pulumi up` the seed's
# a–f AutoDeployer graph against it, fire an update on stack a, and show the cascade; then
# the same graph as one DeploymentGraph, then derived from the stacks' StackReferences, and
# the live graph read back as a Mermaid picture.
# Everything runs from bin/ (built by make) in a throwaway Pulumi home and file backend, into
# which the plugin is installed from this machine's release tarball, as a user would install it.
#
# Environment: VERSION (default 0.1.0), DIST (where `make dist-host` put the tarball, default
# bin/dist-host), GO (default go).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
version=${VERSION:-0.1.0}
go=${GO:-go}
tarball="${DIST:-$bin/dist-host}/pulumi-resource-auto-deploy-v$version-$("$go" env GOOS)-$("$go" env GOARCH).tar.gz"
[ -f "$tarball" ] || { echo "no $tarball: run \`make dist-host\` (or \`make demo\`)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/auto-deploy-demo.XXXXXX")
token="demo-token-$RANDOM$RANDOM"
project=dependency-example
org=pulumi

emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Bold headings on a terminal, plain text in a CI log.
if [ -t 1 ]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
fi

step "Starting the Pulumi Cloud emulator with stacks a–f of $org/$project (each with deployment settings)"
stacks=$(printf "$org/$project/%s," a b c d e f)
"$bin/pulumi-cloud-emulator" --addr 127.0.0.1:0 --token "$token" --stacks "${stacks%,}" --quiet \
  >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do
  [ -s "$work/emulator.out" ] && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.err" >&2; exit 1; }
  sleep 0.1
done
api=$(head -n 1 "$work/emulator.out")
# What Pulumi Cloud knows of the stacks' programs: b and c read a's outputs through a
# StackReference, and d, e and f read b's.
for pair in b:a c:a d:b e:b f:b; do
  curl -fsS -X POST "$api/_emulator/stacks/$org/$project/${pair%%:*}/references" \
    -d "{\"upstream\":\"$project/${pair##*:}\"}" >/dev/null
done
echo "emulator listening on $api"
echo "its console, while the demo runs: $api/ (the graph, each stack's deployments, a button to fire an update)"

# PATH gets the CLI and the YAML language host from bin/, but not the plugin: pulumi takes the
# plugin from its plugin cache, where the install below puts it. A pulumi-resource-auto-deploy
# elsewhere on the caller's PATH is ignored too.
mkdir -p "$work/bin" "$work/state"
ln -s "$bin/pulumi" "$bin/pulumi-language-yaml" "$work/bin/"
export PATH="$work/bin:$PATH"
export PULUMI_HOME="$work/home" PULUMI_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=demo
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true

# init_stack makes stack "demo" of the program in the current folder, pointed at the emulator.
init_stack() {
  pulumi stack init demo --non-interactive >/dev/null
  pulumi config set auto-deploy:apiUrl "$api"
  pulumi config set --secret auto-deploy:accessToken "$token"
}

step "pulumi plugin install: auto-deploy $version from ${tarball#"$root"/}"
pulumi plugin install resource auto-deploy "$version" --file "$tarball"
pulumi plugin ls

cp -r "$root/examples/yaml/auto-deployer" "$work/program"
cd "$work/program"

step "pulumi up: the seed's a–f program (examples/yaml/auto-deployer/Pulumi.yaml)"
init_stack
pulumi up --yes --non-interactive

step "Deployment webhooks now in Pulumi Cloud"
curl -fsS "$api/_emulator/webhooks" | python3 "$root/scripts/show.py" webhooks

step "A successful update of stack a: the webhooks redeploy everything below it"
curl -fsS -X POST "$api/_emulator/stacks/$org/$project/a/update" | python3 "$root/scripts/show.py" cascade

step "pulumi up again: nothing to change, no request to Pulumi Cloud"
curl -fsS -X POST "$api/_emulator/stats/reset" >/dev/null
pulumi up --yes --non-interactive --skip-preview --expect-no-changes 2>&1 | grep -A1 "^Resources:" || true
curl -fsS "$api/_emulator/stats" | python3 "$root/scripts/show.py" stats

step "pulumi destroy: the webhooks are removed"
pulumi destroy --yes --non-interactive --skip-preview 2>&1 | grep -A1 "^Resources:" || true
curl -fsS "$api/_emulator/webhooks" | python3 "$root/scripts/show.py" webhooks

step "The same a–f graph as one DeploymentGraph: one resource instead of six"
mkdir -p "$work/graph"
cat >"$work/graph/Pulumi.yaml" <<EOF
name: demo-graph
runtime: yaml
resources:
  graph:
    type: auto-deploy:DeploymentGraph
    properties:
      organization: $org
      edges:
        $project/a: [$project/b, $project/c]
        $project/b: [$project/d, $project/e, $project/f]
EOF
cd "$work/graph"
init_stack
pulumi up --yes --non-interactive
curl -fsS -X POST "$api/_emulator/stacks/$org/$project/a/update" | python3 "$root/scripts/show.py" cascade

step "The same graph derived from the stacks' StackReferences: nothing to change"
cat >"$work/graph/Pulumi.yaml" <<EOF
name: demo-graph
runtime: yaml
resources:
  graph:
    type: auto-deploy:DeploymentGraph
    properties:
      organization: $org
      fromStackReferences:
        projects: [$project]
EOF
pulumi up --yes --non-interactive --skip-preview 2>&1 | grep -A2 "^Resources:" || true

step "f's program starts reading c's outputs: the next preview wires c → f"
curl -fsS -X POST "$api/_emulator/stacks/$org/$project/f/references" -d "{\"upstream\":\"$project/c\"}" >/dev/null
pulumi preview --diff --non-interactive 2>&1 | sed -n "/^Previewing/,/^Resources:/p" | grep -v "^$\|^Resources:" || true
pulumi up --yes --non-interactive --skip-preview 2>&1 | grep -A2 "^Resources:" || true

step "The live graph, read back with getDeploymentGraph (Mermaid: paste it into a README)"
mkdir -p "$work/reader"
cat >"$work/reader/Pulumi.yaml" <<EOF
name: demo-reader
runtime: yaml
variables:
  live:
    fn::invoke:
      function: auto-deploy:index:getDeploymentGraph
      arguments:
        organization: $org
outputs:
  mermaid: \${live.mermaid}
EOF
cd "$work/reader"
init_stack
pulumi up --yes --non-interactive --skip-preview >/dev/null
pulumi stack output mermaid

if [ -t 0 ] && [ -z "${CI:-}" ]; then
  step "The console is at $api/ : press Enter to destroy the graph and stop the emulator"
  read -r
fi

step "pulumi destroy: the graph's webhooks are removed"
cd "$work/graph"
pulumi destroy --yes --non-interactive --skip-preview 2>&1 | grep -A1 "^Resources:" || true
curl -fsS "$api/_emulator/webhooks" | python3 "$root/scripts/show.py" webhooks
