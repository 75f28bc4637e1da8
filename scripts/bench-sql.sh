#!/usr/bin/env bash
# SQL backends (store/sqlstore): Go API vs raw database/sql on the same SQL
# and schema, SQLite and PostgreSQL, 1 and 8 goroutines, on a dataset of
# FLOWKV_BENCH_ROWS entries (default 1,000,000, built once per run).
# BENCHTIME (default 2s) and COUNT (default 1) tune the run.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-2s}" -count "${COUNT:-1}" -timeout 60m ./store/sqlstore/
