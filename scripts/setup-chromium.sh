# Sourced by scripts/test.sh (no exit here): makes sure headless Chromium is
# installed for the web UI's end-to-end tests and exports FLOWKV_CHROMIUM.
# Installs Debian's `chromium` package when /usr/bin/chromium is absent; the
# tests never download a browser of their own.
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium from Debian's packages"
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null) \
      || echo "could not install chromium"
  else
    (sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null) \
      || echo "could not install chromium (not root and no passwordless sudo)"
  fi
fi
if [ -x /usr/bin/chromium ]; then
  export FLOWKV_CHROMIUM=/usr/bin/chromium
  echo "Chromium: $FLOWKV_CHROMIUM ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
else
  echo "Chromium is not installed; browser tests skip (fail under CI=true)"
fi
