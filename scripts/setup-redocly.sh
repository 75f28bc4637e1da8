# Sourced by scripts/test.sh and scripts/lint-openapi.sh (and usable by
# hand: `source scripts/setup-redocly.sh`): makes sure Redocly's OpenAPI
# linter is installed and exports FLOWKV_REDOCLY, its path.
#
# @redocly/cli comes from npm, pinned, installed once into .cache/redocly.
# It is told to send no telemetry and to look for no updates (the machines
# reach only package registries).
#
# The script is sourced under `set -euo pipefail`: it never exits, never
# lets a failing command end the caller, and prints why when it cannot
# install the linter (the lint test then skips, or fails under CI=true).

FLOWKV_REDOCLY_VERSION=2.77.0

flowkv_setup_redocly() {
  local cache bin
  cache="$(pwd)/.cache/redocly"
  bin="$cache/node_modules/.bin/redocly"
  export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
  if [ -x "$bin" ] && grep -q "\"version\": \"$FLOWKV_REDOCLY_VERSION\"" "$cache/node_modules/@redocly/cli/package.json" 2>/dev/null; then
    export FLOWKV_REDOCLY="$bin"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "Redocly: npm is missing, cannot install @redocly/cli"
    return 1
  fi
  mkdir -p "$cache" || { echo "Redocly: cannot create $cache"; return 1; }
  echo "Redocly: installing npm package @redocly/cli@$FLOWKV_REDOCLY_VERSION into $cache"
  if ! npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error "@redocly/cli@$FLOWKV_REDOCLY_VERSION" >"$cache/npm.log" 2>&1; then
    echo "Redocly: npm install failed:"; tail -n 20 "$cache/npm.log"
    return 1
  fi
  [ -x "$bin" ] || { echo "Redocly: no $bin after install"; return 1; }
  export FLOWKV_REDOCLY="$bin"
}

if flowkv_setup_redocly; then
  echo "Redocly: $FLOWKV_REDOCLY ($FLOWKV_REDOCLY_VERSION)"
else
  echo "Redocly: not available; the OpenAPI lint test will skip (fail under CI=true)"
fi
