#!/usr/bin/env bash
# The demo behind `make demo`: start the Pulumi Cloud emulator, `pulumi up` the seed's
# a–f AutoDeployer graph against it, fire an update on stack a, and show the cascade.
# Everything runs from bin/ (built by make) in a throwaway Pulumi home and file backend.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
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

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

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
echo "emulator listening on $api"

export PATH="$bin:$PATH"
export PULUMI_HOME="$work/home" PULUMI_BACKEND_URL="file://$work/state" PULUMI_CONFIG_PASSPHRASE=demo
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
mkdir -p "$work/state"
cp -r "$root/examples/yaml/auto-deployer" "$work/program"
cd "$work/program"

step "pulumi up: the seed's a–f program (examples/yaml/auto-deployer/Pulumi.yaml)"
pulumi stack init demo --non-interactive >/dev/null
pulumi config set auto-deploy:apiUrl "$api"
pulumi config set --secret auto-deploy:accessToken "$token"
pulumi up --yes --non-interactive 2>&1 | grep -v "warning: using pulumi-resource-auto-deploy from \$PATH"

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
