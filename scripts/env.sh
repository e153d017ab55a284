# Source this to use Berth's toolchain by hand: `source scripts/env.sh`, then `pulumi preview`.
# It installs what is missing (scripts/install.sh), puts node >= 22 and the built pulumi first on
# PATH, and sets Pulumi up to run offline with a local state backend and a passphrase secrets provider.
__berth_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=install.sh
source "$__berth_root/scripts/install.sh"
main all
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_HOME=${PULUMI_HOME:-$BERTH_CACHE/pulumi-home}
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$__berth_root/.berth/state}
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-berth-local-passphrase}
mkdir -p "${PULUMI_BACKEND_URL#file://}" "$PULUMI_HOME"
unset __berth_root
