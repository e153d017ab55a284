# Source this to use Berth's toolchain by hand: `source scripts/env.sh`, then `pulumi preview`.
# It installs what is missing (scripts/install.sh, run as a child process), puts node >= 22 and the
# built pulumi first on PATH, and sets Pulumi up to run offline with a local state backend and a
# passphrase secrets provider. It changes nothing else in your shell: no shell options, no
# functions, no variables besides PATH and the PULUMI_* ones below. Returns 1 if the install fails.
__berth_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if bash "$__berth_root/scripts/install.sh" all; then
  PATH="$(bash "$__berth_root/scripts/install.sh" path):$PATH"
  export PATH
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  export PULUMI_HOME=${PULUMI_HOME:-${BERTH_CACHE:-$HOME/.cache/berth}/pulumi-home}
  export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$__berth_root/.berth/state}
  export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-berth-local-passphrase}
  mkdir -p "${PULUMI_BACKEND_URL#file://}" "$PULUMI_HOME"
  unset __berth_root
else
  echo "[berth env] the toolchain install failed (see above); your shell is unchanged" >&2
  unset __berth_root
  return 1 2>/dev/null || true
fi
