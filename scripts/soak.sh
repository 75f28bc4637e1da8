#!/usr/bin/env bash
# Soak: measures the peak request rate of `flowkv serve` on SQLite, then runs
# at half of it with TTL'd writes and the reaper for DURATION (default 30m),
# sampling latency, RSS, threads, open files, WAL size and reaped entries
# every 10 s. Fails when the error rate is >= 0.01% or p99 drifts >= 20%.
#
#   bash scripts/soak.sh                 # 30 minutes
#   DURATION=2m bash scripts/soak.sh     # a short one
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30m}
OUT=${OUT:-.cache/torture}
mkdir -p "$OUT" bin
go build -o bin/flowkv ./cmd/flowkv
go build -o bin/flowkv-torture ./cmd/flowkv-torture
exec bin/flowkv-torture soak -bin bin/flowkv -out "$OUT" -duration "$DURATION" ${RATE:+-rate "$RATE"}
