# Sourced by scripts/test.sh (and usable by hand: `source
# scripts/setup-axe.sh`): installs axe-core, pinned, from npm into
# .cache/axe and exports FLOWKV_AXE, the path of its axe.min.js. The web
# UI's accessibility test (web/ui, TestAccessibility) injects it into every
# page of the store browser and the flow editor in Chromium and fails on any
# serious or critical violation.
#
# The script is sourced under `set -euo pipefail`: it never exits, never
# lets a failing command end the caller, and prints why when it cannot
# install axe-core (the test then skips, or fails under CI=true).

FLOWKV_AXE_PACKAGE="axe-core@4.14.1"

flowkv_setup_axe() {
  local cache
  cache="$(pwd)/.cache/axe"
  if [ -f "$cache/node_modules/axe-core/axe.min.js" ] &&
    [ "$(cat "$cache/installed" 2>/dev/null)" = "$FLOWKV_AXE_PACKAGE" ]; then
    export FLOWKV_AXE="$cache/node_modules/axe-core/axe.min.js"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "axe-core: npm is missing"
    return 1
  fi
  mkdir -p "$cache" || { echo "axe-core: cannot create $cache"; return 1; }
  echo "axe-core: installing $FLOWKV_AXE_PACKAGE into $cache"
  if ! npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error "$FLOWKV_AXE_PACKAGE" >"$cache/npm.log" 2>&1; then
    echo "axe-core: npm install failed:"; tail -n 20 "$cache/npm.log"
    return 1
  fi
  echo "$FLOWKV_AXE_PACKAGE" >"$cache/installed"
  export FLOWKV_AXE="$cache/node_modules/axe-core/axe.min.js"
}

if flowkv_setup_axe; then
  echo "axe-core: $FLOWKV_AXE"
else
  echo "axe-core: not available; TestAccessibility will skip (fail under CI=true)"
fi
