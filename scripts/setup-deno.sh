# Sourced by scripts/test.sh (and by hand: `source scripts/setup-deno.sh`):
# installs the two Deno KV clients the kvconnect tests drive, when absent,
# into .cache/deno, and exports
#   FLOWKV_TEST_DENO        the Deno binary (npm package @deno/linux-x64-glibc)
#   FLOWKV_TEST_DENO_NODE   the node_modules holding @deno/kv (run by Node)
# Both come from the npm registry at pinned versions; nothing else is
# downloaded (Deno runs local files with DENO_NO_UPDATE_CHECK). Without them
# the tests skip, or fail under CI=true. Sourced under set -euo pipefail: it
# never exits and never fails the caller.
flowkv_setup_deno() {
  local cache bin kvmod
  cache="$(pwd)/.cache/deno"
  bin="$cache/node_modules/@deno/linux-x64-glibc/deno"
  kvmod="$cache/node_modules/@deno/kv/package.json"
  if [ ! -x "$bin" ] || [ ! -f "$kvmod" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "Deno KV clients: npm is missing, cannot install @deno/kv and Deno"
      return 1
    fi
    mkdir -p "$cache" || return 1
    echo "Deno KV clients: installing @deno/kv@0.14.0 and @deno/linux-x64-glibc@2.9.6 into $cache"
    if ! npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error \
      @deno/kv@0.14.0 @deno/linux-x64-glibc@2.9.6 >"$cache/npm.log" 2>&1; then
      echo "Deno KV clients: npm install failed:"; tail -n 20 "$cache/npm.log"
      return 1
    fi
  fi
  if [ ! -x "$bin" ] || [ ! -f "$kvmod" ]; then
    echo "Deno KV clients: not found under $cache after installing"
    return 1
  fi
  export FLOWKV_TEST_DENO="$bin"
  export FLOWKV_TEST_DENO_NODE="$cache/node_modules"
  echo "Deno KV clients: $("$bin" --version 2>/dev/null | head -n1), @deno/kv $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$kvmod" | head -n1)"
}
flowkv_setup_deno || echo "Deno KV clients unavailable: the kvconnect client tests skip (fail under CI=true)"
