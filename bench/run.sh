#!/usr/bin/env bash
# signgate benchmark: builds the release binary, installs nginx and oha if missing, starts the
# vendor simulator, signgate (SQLite and Postgres stores) and nginx on loopback ports, runs
# bench/bench.py, and writes bench/RESULTS.md with bench/latency.svg and bench/ndocs.svg beside
# it. Everything it starts is stopped on exit, and its Postgres database dropped. See
# bench/README.md.
#
#   bash bench/run.sh             the whole benchmark (about 6 minutes once built)
#   bash bench/run.sh --profile   signgate at saturation under `perf record`; writes bench/PROFILE.txt
#
# Knobs (environment): BENCH_PORT_BASE (18400), CONNECTIONS (64), SAT_SECS (10), RATE_SECS (15),
# NDOC_REPS (100), PROFILE_SECS (15), STORE (file|memory, default file), KEEP_WORK=1 keeps the
# raw files, SKIP_BUILD=1 uses the existing binary, SIGNGATE_BIN (target/release/signgate),
# OUT (bench/RESULTS.md; the SVGs go to its folder), PG_URL (postgres://postgres@127.0.0.1:5432,
# a server without a database name), BENCH_POSTGRES=0 skips the Postgres-store gateway.
set -euo pipefail

MODE=bench
if [[ "${1:-}" == "--profile" ]]; then MODE=profile; fi

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OHA_VERSION=1.16.0
BIN=${SIGNGATE_BIN:-"$ROOT/target/release/signgate"}
OUT=${OUT:-"$BENCH_DIR/RESULTS.md"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
BENCH_POSTGRES=${BENCH_POSTGRES:-1}
# The Postgres gateway is part of the benchmark, not of the profile.
if [[ "$MODE" == profile ]]; then BENCH_POSTGRES=0; fi
export PATH="$HOME/.cargo/bin:$PATH"

PORT_BASE=${BENCH_PORT_BASE:-18400}
SIM_PORT=$((PORT_BASE + 1))    # simulator, no latency (load phases)
GW_PORT=$((PORT_BASE + 2))     # signgate -> SIM_PORT, high concurrency (load phases)
NGINX_PORT=$((PORT_BASE + 3))  # nginx proxy_pass -> SIM_PORT
SIM2_PORT=$((PORT_BASE + 4))   # simulator with 20 ms latency and a 1 % slow tail
GW2_PORT=$((PORT_BASE + 5))    # signgate -> SIM2_PORT, default concurrency (N-document phase)
PGGW_PORT=$((PORT_BASE + 6))   # signgate with a Postgres store -> SIM_PORT, like GW_PORT (load phases)
API_KEY=bench-api-key-0001
LATENCY_MS=20
SLOW_MS=200
SLOW_SHARE=0.01
LOAD_CONCURRENCY=256
LOAD_RPM=600000          # 10,000 calls/s for a whole minute: far above what 2 cores can do
SIM_RPM=2000000000

log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- 1. build and tools ----------------------------------------------------------------------
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building signgate (cargo build --release --locked)"
  (cd "$ROOT" && cargo build --release --locked)
fi
[[ -x "$BIN" ]] || { log "missing $BIN"; exit 1; }

if ! command -v nginx >/dev/null 2>&1; then
  log "installing nginx from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
fi
if ! oha --version 2>/dev/null | grep -q "$OHA_VERSION"; then
  log "installing oha $OHA_VERSION (cargo install --locked)"
  cargo install oha --version "$OHA_VERSION" --locked
fi
if [[ "$MODE" == profile ]] && ! command -v perf >/dev/null 2>&1; then
  log "installing perf from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf
fi
NGINX=$(command -v nginx)
OHA=$(command -v oha)

# Postgres answers, or the run stops here (BENCH_POSTGRES=0 skips the Postgres gateway).
pg() { PGCONNECT_TIMEOUT=5 timeout 30 psql "$PG_URL/$1" -X -q -At -v ON_ERROR_STOP=1 -c "$2"; }
PG_VERSION=
if [[ "$BENCH_POSTGRES" == 1 ]]; then
  if ! command -v psql >/dev/null 2>&1; then
    log "psql is missing (apt-get install postgresql-client); set BENCH_POSTGRES=0 to skip the Postgres gateway"
    exit 1
  fi
  if ! PG_VERSION=$(pg postgres 'SHOW server_version' 2>&1); then
    log "Postgres does not answer at $PG_URL: ${PG_VERSION:0:300}"
    log "start it, point PG_URL at a server (no database name; trust auth or a password in the URL), or set BENCH_POSTGRES=0 to skip the Postgres gateway"
    exit 1
  fi
  PG_VERSION=${PG_VERSION%% *}
fi

# The report's folder (the SVGs go beside it), before anything is measured.
if [[ "$MODE" == bench ]]; then mkdir -p "$(dirname "$OUT")"; fi

# ---- 2. processes ----------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/signgate-bench.XXXXXX)
PIDS=()
PG_DB=
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Bounded wait: 50 x 0.1 s, then SIGKILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # After the gateways are gone; FORCE ends a backend that has not noticed yet.
  if [[ -n "$PG_DB" ]]; then
    pg postgres "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" \
      || log "could not drop database $PG_DB on $PG_URL; drop it by hand"
  fi
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then log "raw files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORTS=($SIM_PORT $GW_PORT $NGINX_PORT $SIM2_PORT $GW2_PORT)
if [[ "$BENCH_POSTGRES" == 1 ]]; then PORTS+=($PGGW_PORT); fi
for port in "${PORTS[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port is in use; set BENCH_PORT_BASE"; exit 1
  fi
done

"$BIN" simulate --listen "127.0.0.1:$SIM_PORT" --unknown-in-progress --no-seed \
  --zapsign-requests-per-minute "$SIM_RPM" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!; PIDS+=("$SIM_PID")
"$BIN" simulate --listen "127.0.0.1:$SIM2_PORT" --unknown-in-progress --no-seed \
  --zapsign-requests-per-minute "$SIM_RPM" \
  --latency-ms "$LATENCY_MS" --slow-ms "$SLOW_MS" --slow-share "$SLOW_SHARE" >"$WORK/sim2.log" 2>&1 &
SIM2_PID=$!; PIDS+=("$SIM2_PID")

if [[ "${STORE:-file}" == memory ]]; then
  STORE_URL="sqlite::memory:"; STORE2_URL="sqlite::memory:"
else
  STORE_URL="sqlite://$WORK/signgate.db"; STORE2_URL="sqlite://$WORK/signgate2.db"
fi

# Starts signgate serve: $1 listen port, $2 simulator port, $3 store URL, $4 log file, then
# extra VAR=value settings.
start_gateway() {
  local port=$1 sim=$2 store=$3 logfile=$4
  shift 4
  env SIGNGATE__AUTH__API_KEY="$API_KEY" \
    SIGNGATE__SERVER__LISTEN="127.0.0.1:$port" \
    SIGNGATE__STORE__URL="$store" \
    SIGNGATE__LOG__LEVEL=warn \
    SIGNGATE__VENDORS__AUCO__BASE_URL="http://127.0.0.1:$sim/auco/v1.5/ext" \
    SIGNGATE__VENDORS__AUCO__PRIVATE_KEY=prk_sim \
    SIGNGATE__VENDORS__AUCO__PUBLIC_KEY=puk_sim \
    SIGNGATE__VENDORS__ZAPSIGN__BASE_URL="http://127.0.0.1:$sim/zapsign/api/v1" \
    SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN=sim-token \
    SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE="$LOAD_RPM" \
    "$@" "$BIN" serve >"$logfile" 2>&1 &
  LAST_PID=$!
}
start_gateway "$GW_PORT" "$SIM_PORT" "$STORE_URL" "$WORK/signgate.log" \
  SIGNGATE__VENDORS__ZAPSIGN__MAX_CONCURRENCY=$LOAD_CONCURRENCY \
  SIGNGATE__VENDORS__AUCO__MAX_CONCURRENCY=$LOAD_CONCURRENCY
GW_PID=$LAST_PID; PIDS+=("$GW_PID")
# Default max_concurrency (Auco 4, ZapSign 8): the N-document ideal counts its waves.
start_gateway "$GW2_PORT" "$SIM2_PORT" "$STORE2_URL" "$WORK/signgate2.log"
GW2_PID=$LAST_PID; PIDS+=("$GW2_PID")
# The Postgres store: a fresh database (signgate applies its migrations), the load gateway's
# settings otherwise. Dropped by cleanup after the gateway has stopped.
PG_ARGS=(--pg-skipped "BENCH_POSTGRES=0")
if [[ "$BENCH_POSTGRES" == 1 ]]; then
  pg postgres "CREATE DATABASE signgate_bench_$$"
  PG_DB=signgate_bench_$$
  start_gateway "$PGGW_PORT" "$SIM_PORT" "$PG_URL/$PG_DB" "$WORK/signgate-pg.log" \
    SIGNGATE__VENDORS__ZAPSIGN__MAX_CONCURRENCY=$LOAD_CONCURRENCY \
    SIGNGATE__VENDORS__AUCO__MAX_CONCURRENCY=$LOAD_CONCURRENCY
  PGGW_PID=$LAST_PID; PIDS+=("$PGGW_PID")
  # The URL without a password, if it has one.
  PG_ARGS=(--pg-gw-port "$PGGW_PORT" --pg-gw-pid "$PGGW_PID" --pg-db "$PG_DB"
    --pg-store-desc "$(sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#' <<<"$PG_URL/$PG_DB")")
fi

mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  upstream simulator {
    server 127.0.0.1:$SIM_PORT;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://simulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" &
NGINX_PID=$!; PIDS+=("$NGINX_PID")

# Readiness: bounded, 100 x 0.1 s per port.
for port in "${PORTS[@]}"; do
  for i in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if [[ $i == 100 ]]; then
      log "nothing listens on $port; logs in $WORK"; KEEP_WORK=1; exit 1
    fi
    sleep 0.1
  done
done
log "simulator :$SIM_PORT (pid $SIM_PID), signgate :$GW_PORT (pid $GW_PID), nginx :$NGINX_PORT (pid $NGINX_PID), latency simulator :$SIM2_PORT, signgate :$GW2_PORT"
if [[ -n "$PG_DB" ]]; then log "signgate with Postgres store :$PGGW_PORT (pid $PGGW_PID), database $PG_DB"; fi

# The commit of the work tree the binary is in (SIGNGATE_BIN may point into another one).
SRC_ROOT=$(git -C "$(dirname "$BIN")" rev-parse --show-toplevel 2>/dev/null || echo "$ROOT")
COMMIT=$(cd "$SRC_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! (cd "$SRC_ROOT" && git --no-optional-locks diff --quiet HEAD -- src Cargo.toml Cargo.lock config migrations 2>/dev/null); then
  COMMIT="$COMMIT + uncommitted changes in src/"
fi
VERSIONS="$(rustc --version | cut -d' ' -f1-2), $("$OHA" --version), $("$NGINX" -v 2>&1 | sed 's/.*: //'), Python $(python3 -c 'import platform; print(platform.python_version())'), $("$BIN" --version)${PG_VERSION:+, PostgreSQL $PG_VERSION}"

DRIVER=(python3 "$BENCH_DIR/bench.py" --oha "$OHA" --work "$WORK"
  --sim-port "$SIM_PORT" --gw-port "$GW_PORT" --nginx-port "$NGINX_PORT"
  --sim2-port "$SIM2_PORT" --gw2-port "$GW2_PORT"
  --sim-pid "$SIM_PID" --gw-pid "$GW_PID" --nginx-pid "$NGINX_PID" --api-key "$API_KEY"
  --connections "${CONNECTIONS:-64}" --sat-secs "${SAT_SECS:-10}" --rate-secs "${RATE_SECS:-15}"
  --ndoc-reps "${NDOC_REPS:-100}" --latency-ms "$LATENCY_MS" --slow-ms "$SLOW_MS"
  --slow-share "$SLOW_SHARE" --commit "$COMMIT" --versions "$VERSIONS"
  --store-desc "${STORE_URL/$WORK/\$WORK}" --gw-conc "$LOAD_CONCURRENCY" --gw-rpm "$LOAD_RPM"
  --binary "$BIN" "${PG_ARGS[@]}")

if [[ "$MODE" == bench ]]; then
  "${DRIVER[@]}" --out "$OUT"
  log "done: $OUT"
  exit 0
fi

# ---- profile mode: signgate at saturation under perf -------------------------------------------
PROFILE_SECS=${PROFILE_SECS:-15}
PERF_DATA="$WORK/perf.data"
# bench.py attaches `perf record -e cpu-clock -F 499 --call-graph dwarf -p <signgate>` 2 s into
# the load. cpu-clock is a software event: it works where hardware counters are not exposed
# (VMs). DWARF unwinding: the release binary has no frame pointers, but it has unwind tables.
"${DRIVER[@]}" --out /dev/null --profile-secs "$PROFILE_SECS"
set +e +o pipefail  # `| head` closes pipes early
report() { timeout 600 perf report -i "$PERF_DATA" --stdio -g none "$@" 2>/dev/null \
  | grep -v '^#' | cut -c1-200 | sed 's/ *$//' | grep -v '^$'; }
{
  echo "# signgate under closed-loop load (${CONNECTIONS:-64} connections, 1-document cancels)"
  echo "# commit $COMMIT; perf record -e cpu-clock -F 499 --call-graph dwarf -p <signgate>"
  echo "# cpu-clock in a VM attributes time spent with interrupts off (the scheduler) to the"
  echo "# point where they are re-enabled: finish_task_switch = context switches."
  echo
  echo "## Self time by thread and object"
  report --no-children --sort comm,dso | head -12
  echo
  echo "## Self time by symbol (top 40)"
  report --no-children --sort symbol | head -40
  echo
  echo "## Inclusive time by symbol, signgate's own code and its libraries (top 70)"
  report --children --sort symbol --percent-limit 1 | grep -v '\[k\]' | head -70
} >"$BENCH_DIR/PROFILE.txt"
log "done: $BENCH_DIR/PROFILE.txt"
