#!/bin/sh
# pulumi-resource-berth: Berth's provider plugin. The engine runs it with its own address as the
# first argument; it runs the compiled provider next to it with node (>= 22) from PATH.
dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
exec node "$dir/dist/sdk/provider/main.js" "$@"
