#!/usr/bin/env bash
# The demo: installs the toolchain, brings up one lab host, builds the example app, deploys the
# quickstart (Pulumi.yaml at the repo root) with `pulumi up` on a local backend, prints its URL.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=env.sh
source scripts/env.sh
bash scripts/lab.sh up
LAB=/run/berth-lab/lab.json
host=$(jq -r '.hosts[0].address' "$LAB")
registry=$(jq -r '.registry.plain' "$LAB")
version=${BERTH_DEMO_VERSION:-v1}
image="$registry/berth/demo:$version"
echo "[berth demo] building the example app $image"
docker build -q --build-arg "VERSION=$version" --build-arg "BASE=$(jq -r .images.base "$LAB")" -t "$image" examples/app >/dev/null
docker push -q "$image" >/dev/null
pulumi stack select dev 2>/dev/null || pulumi stack init dev --secrets-provider passphrase
pulumi config set host "$host"
pulumi config set hostKey "$(jq -r '.hosts[0].hostKey' "$LAB")"
pulumi config set privateKeyPath "$(jq -r .ssh.privateKeyPath "$LAB")"
pulumi config set image "$image"
pulumi config get secretToken >/dev/null 2>&1 || pulumi config set --secret secretToken "demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d " \n")"
# --refresh: a host that lost its containers (rebuilt, wiped) is noticed and redeployed.
pulumi up --yes --skip-preview --non-interactive --refresh
url=$(pulumi stack output url)
echo "[berth demo] $url answers: $(curl -fsS --max-time 5 "$url")"
echo "[berth demo] deployed. Try: curl $url  |  pulumi preview --diff  |  pulumi destroy --yes"
