#!/usr/bin/env bash
# Runs flowkv's reliability harnesses (cmd/flowkv-torture) against a real
# `flowkv serve` on loopback: linearizability on SQLite and PostgreSQL,
# crash safety under SIGKILL, write contention and abuse. Results (JSON,
# server logs, histories of failed runs) go to $OUT.
#
#   bash scripts/torture.sh            # the full runs recorded in RELIABILITY.md
#   QUICK=1 bash scripts/torture.sh    # a few minutes
#
# Knobs: RUNS (50), OPS (10000), CRASH_RUNS (5), PG_CRASH_RUNS (2), KILLS (20),
# CONTENTION (60s), CONNS (10000), BACKENDS ("sqlite postgres"), OUT.
# PostgreSQL: FLOWKV_TEST_POSTGRES or the local trust server (scripts/setup-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${QUICK:-}" = 1 ]; then
  : "${RUNS:=2}" "${OPS:=2000}" "${CRASH_RUNS:=1}" "${PG_CRASH_RUNS:=1}" "${KILLS:=5}" "${CONTENTION:=10s}" "${CONNS:=1000}"
fi
RUNS=${RUNS:-50}
OPS=${OPS:-10000}
CRASH_RUNS=${CRASH_RUNS:-5}
PG_CRASH_RUNS=${PG_CRASH_RUNS:-2}
KILLS=${KILLS:-20}
CONTENTION=${CONTENTION:-60s}
CONNS=${CONNS:-10000}
BACKENDS=${BACKENDS:-sqlite postgres}
OUT=${OUT:-.cache/torture}
mkdir -p "$OUT" bin
go build -o bin/flowkv ./cmd/flowkv
go build -o bin/flowkv-torture ./cmd/flowkv-torture
T="bin/flowkv-torture"
common=(-bin bin/flowkv -out "$OUT")
status=0
for b in $BACKENDS; do
  echo "== linearizability on $b: $RUNS runs x $OPS operations"
  $T linear "${common[@]}" -backend "$b" -runs "$RUNS" -ops "$OPS" || status=1
  n=$CRASH_RUNS; [ "$b" = postgres ] && n=$PG_CRASH_RUNS
  echo "== crash safety on $b: $n runs, $KILLS SIGKILLs each"
  $T crash "${common[@]}" -backend "$b" -runs "$n" -ops "$OPS" -kills "$KILLS" || status=1
done
echo "== contention on sqlite: 50 writers for $CONTENTION"
$T contention "${common[@]}" -backend sqlite -writers 50 -duration "$CONTENTION" || status=1
echo "== abuse"
$T abuse "${common[@]}" -backend sqlite -conns "$CONNS" || status=1
exit $status
