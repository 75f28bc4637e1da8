#!/usr/bin/env bash
# make lint: lints the OpenAPI document a real server serves (generated
# from the route table) with Redocly's recommended rules (redocly.yaml);
# any error or warning fails. The Go test does the serving and the linting.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
source scripts/setup-redocly.sh
go test -count=1 -run '^TestOpenAPIRedoclyLint$' ./web/
