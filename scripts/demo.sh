#!/usr/bin/env bash
# The demo behind `make demo`: start the Pulumi Cloud emulator, `pulumi up` the seed's
# a–f AutoDeployer graph against it, fire an update on stack a, and show the cascade; then
# the same graph as one DeploymentGraph, then derived from the stacks' StackReferences, and
# the live graph read back as a Mermaid picture; last, a diamond with direct webhooks and then
# through the cascade relay (bin/pulumi-auto-deploy-relay), switched in one `pulumi up`, and the
# relay's plan of what a change of a would redeploy.
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
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
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

step "pulumi destroy: the graph's webhooks are removed"
cd "$work/graph"
pulumi destroy --yes --non-interactive --skip-preview 2>&1 | grep -A1 "^Resources:" || true
curl -fsS "$api/_emulator/webhooks" | python3 "$root/scripts/show.py" webhooks

# The cascade relay. Deployments now run on timers (300 ms each), so the order in which
# stacks deploy shows. The relay schedules the demo's organization from its start, and reads its
# stack list every 5 s (default 30 s) to find updates no delivery announced.
relay="" relay_secret="demo-relay-secret-$RANDOM$RANDOM"
curl -fsS -X PUT "$api/_emulator/deployments/mode" -d '{"mode":"timed","durationMs":300}' >/dev/null
deployment_count() { curl -fsS "$api/_emulator/deployments" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
# wait_idle waits until no deployment runs or waits and, once the relay runs, it lists $1 cascades, none running.
wait_idle() {
  for _ in $(seq 300); do
    curl -fsS "$api/_emulator/deployments" |
      python3 -c 'import json,sys; sys.exit(any(d["status"] in ("not-started","running") for d in json.load(sys.stdin)))' &&
      { [ -z "$relay" ] || curl -fsS "$relay/v1/cascades" | python3 -c 'import json,sys; cs=json.load(sys.stdin)["cascades"]
sys.exit(len(cs) != int(sys.argv[1]) or any(c["state"] == "running" for c in cs))' "$1"; } && return 0
    sleep 0.1
  done
  echo "the cascade did not end within 30 s" >&2 && exit 1
}
# fire_a records an update of a that leaves its outputs as they were, waits for what it sets
# off, and shows the deployments it made.
fire_a() {
  local mark
  mark=$(deployment_count)
  curl -fsS -X POST "$api/_emulator/stacks/$org/$project/a/update" >/dev/null
  wait_idle "${1:-}"
  curl -fsS "$api/_emulator/deployments" | python3 "$root/scripts/show.py" deployments "$mark"
}
# diamond_program writes the diamond's DeploymentGraph, with the relay block $1 if given.
diamond_program() {
  printf '%s\n' "name: demo-relay" "runtime: yaml" "config:" "  relaySecret: {type: string, secret: true}" \
    "resources:" "  diamond:" "    type: auto-deploy:DeploymentGraph" "    properties:" "      organization: $org" \
    ${1:+"$1"} "      edges:" "        $project/a: [$project/b, $project/c]" "        $project/b: [$project/d]" \
    "        $project/c: [$project/d]" "        $project/d: [$project/e, $project/f]" >Pulumi.yaml
}

step "A diamond as one DeploymentGraph: a → b, a → c, b → d, c → d, d → e, d → f"
mkdir -p "$work/relay" && cd "$work/relay"
diamond_program
init_stack
pulumi config set --secret relaySecret "$relay_secret"
pulumi up --yes --non-interactive --skip-preview 2>&1 | grep -A1 "^Resources:" || true

step "An update of a with direct pulumi_deployments webhooks: d deploys once per path, and so do e and f"
fire_a

step "Starting the cascade relay: bin/pulumi-auto-deploy-relay --addr 127.0.0.1:0 --organization $org --db $work/relay.db"
PULUMI_ACCESS_TOKEN="$token" AUTO_DEPLOY_RELAY_SECRET="$relay_secret" "$bin/pulumi-auto-deploy-relay" \
  --addr 127.0.0.1:0 --organization "$org" --db "$work/relay.db" --api-url "$api" --poll 5s 2>"$work/relay.log" &
relay_pid=$!
for _ in $(seq 100); do
  addr=$(grep -m1 '"msg":"listening"' "$work/relay.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["addr"])' 2>/dev/null) && break
  kill -0 "$relay_pid" 2>/dev/null || { cat "$work/relay.log" >&2; exit 1; }
  sleep 0.1
done
relay="http://$addr"
echo "relay listening on $relay; its secret is the stack's config relaySecret (pulumi config set --secret)"

step "pulumi up: the same graph with relay: {url: $relay, secret: \${relaySecret}}, each webhook changed in place"
diamond_program "      relay: {url: \"$relay\", secret: \"\${relaySecret}\"}"
curl -fsS -X POST "$api/_emulator/stats/reset" >/dev/null
pulumi up --yes --non-interactive --skip-preview 2>&1 | grep -A1 "^Resources:" || true
curl -fsS "$api/_emulator/stats" | python3 "$root/scripts/show.py" writes
curl -fsS "$api/_emulator/webhooks" | python3 "$root/scripts/show.py" webhooks

step "An update of a through the relay: every stack below it deploys once, d after both b and c"
fire_a 1
curl -fsS "$relay/v1/cascades" | python3 "$root/scripts/show.py" relay-cascade

step "An update of a that changes none of its outputs: nothing deploys (GET $relay/v1/cascades)"
fire_a 2
curl -fsS "$relay/v1/cascades" | python3 "$root/scripts/show.py" relay-cascade

step "What would a change of a redeploy, before it is made? bin/pulumi-auto-deploy-relay plan --organization $org $project/a"
PULUMI_ACCESS_TOKEN="$token" "$bin/pulumi-auto-deploy-relay" plan --organization "$org" --api-url "$api" "$project/a"
echo "(Pulumi Cloud times updates in whole seconds, so the demo's 0.3 s deployments are estimated at 0s)"
echo "the same as JSON: GET $relay/v1/plan?organization=$org&stack=$project/a; in a program: getCascadePlan"
echo "the relay's status page, its graph and cascades as they run: $relay/?organization=$org"

if [ -t 0 ] && [ -z "${CI:-}" ]; then
  step "The console is at $api/ : press Enter to destroy the graph and stop the relay and the emulator"
  read -r
fi

step "pulumi destroy: the diamond's webhooks are removed"
cd "$work/relay"
pulumi destroy --yes --non-interactive --skip-preview 2>&1 | grep -A1 "^Resources:" || true
curl -fsS "$api/_emulator/webhooks" | python3 "$root/scripts/show.py" webhooks
