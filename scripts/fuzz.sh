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
# The PostgreSQL and DynamoDB targets use the servers scripts/setup-*.sh start
# (as make test does); without them they skip (under CI=true they fail).
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
PARALLEL=${PARALLEL:-1}
# Every package with a fuzz target, unless PKGS names some.
if [ -z "${PKGS:-}" ]; then
  PKGS=$(find . -name '*_test.go' -not -path './.cache/*' -not -path '*/node_modules/*' -print0 |
    xargs -0 grep -l '^func Fuzz[A-Z]' | xargs -n1 dirname | sort -u | tr '\n' ' ')
fi
OUT=${OUT:-.cache/fuzz}
mkdir -p "$OUT"
# PostgreSQL and DynamoDB Local for the backend targets, as make test does.
for s in scripts/setup-postgres.sh scripts/setup-dynamodb.sh; do
  # shellcheck source=/dev/null
  [ -e "$s" ] && source "$s"
done
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
    elif grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written|panic:|^\s+[a-z_]+_test\.go:[0-9]+:' "$log"; then
      # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a
      # failure when a worker is mid-input at that moment (go.dev/issue/75804,
      # fixed in Go 1.27): no failing input was written, nothing failed.
      line=$(grep -E '^fuzz: elapsed' "$log" | tail -1)
      summary+=("ok   $pkg $t: ${line#fuzz: } (coordinator deadline race, go.dev/issue/75804; no failing input)")
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
