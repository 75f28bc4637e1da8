#!/usr/bin/env bash
# Sets up every server the tests need, when absent, then runs all tests.
# Each set-up step is its own script under scripts/setup-*.sh and exports
# what tests read (FLOWKV_TEST_POSTGRES, FLOWKV_TEST_DYNAMO_ENDPOINT, …).
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/setup-*.sh; do
  [ -e "$s" ] || continue
  echo "== $s"
  # shellcheck source=/dev/null
  source "$s"
done
echo "== make lint (gofmt, go vet, go mod tidy -diff, staticcheck)"
make lint
echo "== go test -race"
go test -race -count=1 ./...
# A short pass of every fuzz target (the long runs are `make fuzz`,
# recorded in RELIABILITY.md); seeds already ran in go test above.
echo "== fuzz smoke (FUZZTIME=${FUZZTIME:-10s} per target)"
FUZZTIME=${FUZZTIME:-10s} bash scripts/fuzz.sh
