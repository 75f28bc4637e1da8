# Sourced by scripts/test.sh (and usable by hand: `source
# scripts/setup-openapi-ts.sh`): installs openapi-typescript and the
# TypeScript compiler, pinned, from npm into .cache/openapi-ts, and exports
# FLOWKV_OPENAPI_TS, that folder. TestOpenAPITypeScriptClient (package web)
# generates types from /v1/openapi.json with them and type-checks and runs
# a small client against a real server.
#
# The script is sourced under `set -euo pipefail`: it never exits, never
# lets a failing command end the caller, and prints why when it cannot
# install the tools (the test then skips, or fails under CI=true).

FLOWKV_OPENAPI_TS_PACKAGES="openapi-typescript@7.13.0 typescript@5.9.3"

flowkv_setup_openapi_ts() {
  local cache
  cache="$(pwd)/.cache/openapi-ts"
  if [ -x "$cache/node_modules/.bin/openapi-typescript" ] && [ -x "$cache/node_modules/.bin/tsc" ] &&
    [ "$(cat "$cache/installed" 2>/dev/null)" = "$FLOWKV_OPENAPI_TS_PACKAGES" ]; then
    export FLOWKV_OPENAPI_TS="$cache"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "openapi-typescript: node or npm is missing"
    return 1
  fi
  mkdir -p "$cache" || { echo "openapi-typescript: cannot create $cache"; return 1; }
  echo "openapi-typescript: installing $FLOWKV_OPENAPI_TS_PACKAGES into $cache"
  # shellcheck disable=SC2086 # the package list is meant to split
  if ! npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error $FLOWKV_OPENAPI_TS_PACKAGES >"$cache/npm.log" 2>&1; then
    echo "openapi-typescript: npm install failed:"; tail -n 20 "$cache/npm.log"
    return 1
  fi
  echo "$FLOWKV_OPENAPI_TS_PACKAGES" >"$cache/installed"
  export FLOWKV_OPENAPI_TS="$cache"
}

if flowkv_setup_openapi_ts; then
  echo "openapi-typescript: $FLOWKV_OPENAPI_TS ($FLOWKV_OPENAPI_TS_PACKAGES)"
else
  echo "openapi-typescript: not available; TestOpenAPITypeScriptClient will skip (fail under CI=true)"
fi
