#!/usr/bin/env bash
# Runs every Go fuzz target (go test -fuzz) of flowkv's fuzzed packages, one
# after the other, each for FUZZTIME (default 20s) with PARALLEL workers
# (default 1: the machine is shared). A crasher is written by go test under
# the package's testdata/fuzz/<Target>/ (commit it with its fix: it then
# runs as a seed in every `go test`). Exits non-zero if any target failed.
#
#   bash scripts/fuzz.sh                        # 20 s per target (CI)
#   FUZZTIME=5m bash scripts/fuzz.sh            # the recorded runs
#   TARGETS='FuzzStoreRoutes' bash scripts/fuzz.sh
#
# PostgreSQL targets skip without a server (FLOWKV_TEST_POSTGRES or the local
# trust server; under CI=true they fail instead).
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
PARALLEL=${PARALLEL:-1}
PKGS=${PKGS:-./store ./store/sqlstore ./web ./scripting}
OUT=${OUT:-.cache/fuzz}
mkdir -p "$OUT"
status=0
summary=()
for pkg in $PKGS; do
  for t in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    if [ -n "${TARGETS:-}" ] && ! grep -qw "$t" <<<"$TARGETS"; then continue; fi
    log="$OUT/$(basename "$pkg")-$t.log"
    echo "== $pkg $t ($FUZZTIME)"
    if go test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel "$PARALLEL" "$pkg" >"$log" 2>&1; then
      line=$(grep -E '^fuzz: elapsed' "$log" | tail -1)
      summary+=("ok   $pkg $t: ${line#fuzz: }")
    else
      status=1
      summary+=("FAIL $pkg $t (see $log)")
      tail -20 "$log"
    fi
  done
done
echo
printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
exit $status
