#!/usr/bin/env bash
# Berth's test command: installs the toolchain (scripts/install.sh), builds, and runs every tier:
#   unit       pure functions of sdk/config and sdk/commands
#   component  Pulumi components under pulumi.runtime.setMocks
#   real       the real pulumi engine, on the lab's real hosts (scripts/lab.sh)
# Usage: bash scripts/test.sh [unit|component|real ...]   (default: all three)
# Ends with one line "N passed, N failed[, N skipped]" totalled over the tiers run.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(unit component real)

t0=$SECONDS
# Installs the toolchain, builds, installs the provider plugin; then sets PATH and PULUMI_*.
# shellcheck source=env.sh
source "$ROOT/scripts/env.sh" || { echo "[berth test] installing the toolchain or building failed (see above)"; echo "0 passed, 1 failed"; exit 1; }
echo "[berth test] toolchain, build and plugin ready in $((SECONDS - t0))s"

passed=0; failed=0; skipped=0; status=0
for tier in "${tiers[@]}"; do
  files=$(find "dist/test/$tier" -name '*.test.js' 2>/dev/null | sort)
  if [ -z "$files" ]; then
    echo "[berth test] tier '$tier' has no tests"
    failed=$((failed + 1)); status=1
    continue
  fi
  timeout_ms=10000
  [ "$tier" = real ] && timeout_ms=900000
  if [ "$tier" = real ] && [ -f scripts/lab.sh ]; then
    bash scripts/lab.sh up || { echo "[berth test] the lab did not come up"; failed=$((failed + 1)); status=1; continue; }
  fi
  echo "[berth test] tier '$tier'"
  out=$(mktemp)
  t1=$SECONDS
  # shellcheck disable=SC2086
  npx --no-install mocha --reporter spec --timeout "$timeout_ms" --exit $files 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  p=$(grep -Eo '^ *[0-9]+ passing' "$out" | grep -Eo '[0-9]+' | tail -1)
  f=$(grep -Eo '^ *[0-9]+ failing' "$out" | grep -Eo '[0-9]+' | tail -1)
  s=$(grep -Eo '^ *[0-9]+ pending' "$out" | grep -Eo '[0-9]+' | tail -1)
  rm -f "$out"
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # mocha died before its summary
  echo "[berth test] tier '$tier': $p passed, $f failed, $s skipped in $((SECONDS - t1))s"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$rc" -eq 0 ] || status=1
done
echo "[berth test] total time $((SECONDS - t0))s"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] || status=1
exit $status
