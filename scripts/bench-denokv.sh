#!/usr/bin/env bash
# Deno KV client throughput (BENCHMARKS.md, "Deno KV clients"): @deno/kv in
# Node and Deno.openKv in Deno against flowkv's KV Connect endpoint, beside
# the same clients on Deno KV's own local SQLite (in-process) and beside
# flowkv's HTTP API, rounds alternating, medians printed. ROUNDS=3, N=2000.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
source scripts/setup-deno.sh
go build -o bin/flowkv ./cmd/flowkv
dir=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
token=bench-token-0123456789abcdef
FLOWKV_ADMIN_TOKEN=$token ./bin/flowkv serve --quiet --no-ui --dsn "sqlite:$dir/flowkv.db" --addr "127.0.0.1:$port" >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
export KV_BASE="http://127.0.0.1:$port" KV_TOKEN=$token DENO_KV_ACCESS_TOKEN=$token N=${N:-2000} DENO_NO_UPDATE_CHECK=1
b=kvconnect/bench/bench.mjs
for round in $(seq "${ROUNDS:-3}"); do
  for c in "node remote" "node local" "node http" "deno remote" "deno local"; do
    set -- $c
    export KV_LOCAL="$dir/local-$1-$round.sqlite"
    if [ "$1" = node ]; then r=$(node $b "$2"); else r=$("$FLOWKV_TEST_DENO" run -A --unstable-kv --quiet $b "$2"); fi
    echo "$round $1 $2 $r"
  done
done | tee "$dir/results.txt"
python3 - "$dir/results.txt" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, client, mode, js = line.split(" ", 3)
    for k, v in json.loads(js).items():
        rows.setdefault((client, mode), {}).setdefault(k, []).append(v)
cols = ["set x1", "get x1", "atomic x1", "set x16", "get x16", "atomic x16"]
print("\n| client | target | " + " | ".join(cols) + " |")
print("|" + " --- |" * (len(cols) + 2))
med = {}
for (client, mode), d in rows.items():
    med[(client, mode)] = {c: statistics.median(d[c]) for c in cols}
    print(f"| {client} | {mode} | " + " | ".join(f"{med[(client, mode)][c]:,.0f}" for c in cols) + " |")
for client in ["node", "deno"]:
    for other in ["local", "http"]:
        if (client, other) in med:
            print(f"| {client} | remote ÷ {other} | " + " | ".join(f"{med[(client,'remote')][c]/med[(client,other)][c]:.2f}" for c in cols) + " |")
PY
