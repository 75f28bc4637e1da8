# Sourced by scripts/test.sh: makes sure a PostgreSQL server answers for the
# tests and exports FLOWKV_TEST_POSTGRES. Uses a running server on
# 127.0.0.1:5432 when there is one; else starts the installed cluster; else
# installs PostgreSQL from Debian's packages and starts it.
pg_ready() { pg_isready -q -h 127.0.0.1 -p "${PGPORT_TEST:-5432}" 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "installing postgresql from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || echo "could not install postgresql"
fi
if ! pg_ready; then
  if ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  fi
fi
if pg_ready; then
  # trust auth on the local cluster; make sure the test database exists
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
  export FLOWKV_TEST_POSTGRES="${FLOWKV_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
  echo "PostgreSQL: $FLOWKV_TEST_POSTGRES"
else
  echo "PostgreSQL is not reachable; PostgreSQL tests skip (fail under CI=true)"
fi
