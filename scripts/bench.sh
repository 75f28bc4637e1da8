#!/usr/bin/env bash
# make bench: sets up the servers benchmarks need (the same scripts/setup-*.sh
# as make test), then runs every scripts/bench-*.sh (one per area, each
# printing its figures). Pass area names to run only those:
#   bash scripts/bench.sh sql
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/setup-*.sh; do
  [ -e "$s" ] || continue
  # shellcheck source=/dev/null
  source "$s"
done
areas=("$@")
for b in scripts/bench-*.sh; do
  [ -e "$b" ] || continue
  area=${b#scripts/bench-}; area=${area%.sh}
  if [ ${#areas[@]} -gt 0 ] && [[ ! " ${areas[*]} " == *" $area "* ]]; then continue; fi
  echo "== $b"
  bash "$b"
done
