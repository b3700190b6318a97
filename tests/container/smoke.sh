#!/usr/bin/env bash
# Container smoke test: build the image from the Dockerfile, run it against the vendor simulator
# on the host, and check what docs/operations.md promises of the container: it serves, cancels at
# both vendors, runs as a non-root user, holds no shell or compiler but the CA bundle and a store
# directory the user owns, carries a HEALTHCHECK that works with the image's own binary, keeps
# secrets out of its logs, and exits 0 on SIGTERM within the grace period. Nothing leaves
# loopback at run time (the build itself fetches crates and Debian packages, like any image
# build).
#
# Usage: tests/container/smoke.sh [--build-only | --built]   (from anywhere; run by .ci/run)
#   --build-only  build the image and stop (.ci/run builds it in the background this way)
#   --built       test the image an earlier --build-only built, without building it again
# Environment (all optional):
#   CONTAINER_ENGINE  podman or docker                                        [podman]
#   SIGNGATE_BIN      host binary that runs the simulator   [target/debug/signgate]
#   SMOKE_IMAGE       tag of the image built and tested                     [signgate:ci]
#   SMOKE_LOG_DIR     build log and container log         [target/ci/container]
#   CONTAINER_PREPARE script run first, its output eval'd (sets up the engine)
#                     [tests/container/offline-podman.sh when podman lacks the base images]
#   CONTAINER_ENV     a file holding what CONTAINER_PREPARE printed in an earlier run (.ci/run
#                     prepares podman in the background), eval'd instead of running it
#
# Where no registry is reachable, tests/container/offline-podman.sh installs and configures
# podman and builds the base images (rust:1-bookworm, debian:bookworm-slim) locally; the
# commands below are plain podman commands that docker also accepts (except the build flags,
# which are podman's: --pull=never since the base images are local, --format docker to keep
# HEALTHCHECK).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-}
case "$MODE" in
  "" | --build-only | --built) ;;
  *) echo "usage: $0 [--build-only | --built]" >&2; exit 2 ;;
esac

ENGINE=${CONTAINER_ENGINE:-podman}
BIN=${SIGNGATE_BIN:-target/debug/signgate}
IMAGE=${SMOKE_IMAGE:-signgate:ci}
LOG_DIR=${SMOKE_LOG_DIR:-target/ci/container}
NAME="signgate-smoke-$$"
API_KEY="smoke-api-key-$RANDOM$RANDOM"
# The simulator's default credentials (src/simulator/config.rs, SimConfig::default).
SIM_AUCO_PRIVATE_KEY=prk_sim
SIM_AUCO_PUBLIC_KEY=puk_sim
SIM_ZAPSIGN_TOKEN=sim-token
# Seeded by the simulator's demo seeding (src/simulator/seed.rs): both in progress.
ZAPSIGN_DOC=0a1b2c3d-0000-4000-8000-000000000001
AUCO_DOC=AUCOOPEN01
# The gateway's default server.shutdown_grace_ms is 25 s; SIGTERM must end it before this.
STOP_LIMIT_S=30

log() { printf '[smoke %(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() {
  printf '[smoke] FAIL: %s\n' "$*" >&2
  if [ -n "${container_started:-}" ]; then
    echo "--- container log ---" >&2
    "$ENGINE" logs "$NAME" >&2 2>&1 || true
  fi
  exit 1
}
t_start=$SECONDS
mkdir -p "$LOG_DIR"

sim_pid=
container_started=
cleanup() {
  if [ -n "$container_started" ]; then
    "$ENGINE" logs "$NAME" >"$LOG_DIR/container.log" 2>&1 || true
    "$ENGINE" rm -f -v "$NAME" >/dev/null 2>&1 || true
  fi
  if [ -n "$sim_pid" ]; then
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 0. the container engine ---------------------------------------------------------------------
if [ -n "${CONTAINER_ENV:-}" ]; then
  eval "$(cat "$CONTAINER_ENV")"
  log "podman prepared earlier ($CONTAINER_ENV)"
elif [ "$ENGINE" = podman ] && [ -z "${CONTAINER_PREPARE:-}" ] \
  && ! { command -v podman >/dev/null && podman image exists rust:1-bookworm \
         && podman image exists debian:bookworm-slim; } 2>/dev/null; then
  CONTAINER_PREPARE=tests/container/offline-podman.sh
fi
if [ "$ENGINE" = podman ] && [ -n "${CONTAINER_PREPARE:-}" ]; then
  t=$SECONDS
  eval "$("$CONTAINER_PREPARE")"
  log "podman prepared ($((SECONDS - t)) s)"
fi
command -v "$ENGINE" >/dev/null || fail "$ENGINE is not installed"
command -v curl >/dev/null || fail "curl is not installed"
command -v python3 >/dev/null || fail "python3 is not installed"
[ -x "$BIN" ] || fail "$BIN not found; run cargo build --locked first"

# --- 1. build the image ----------------------------------------------------------------------------
t=$SECONDS
if [ "$MODE" = --built ]; then
  "$ENGINE" image exists "$IMAGE" || fail "--built, but there is no image $IMAGE"
  log "testing $IMAGE as built before (its log: $LOG_DIR/build.log)"
  build_note="image built before"
else
  log "building $IMAGE (release build inside the image; log: $LOG_DIR/build.log)"
  if [ "$ENGINE" = podman ]; then
    build=(podman build --pull=never --format docker -t "$IMAGE" .)
  else
    build=("$ENGINE" build -t "$IMAGE" .)
  fi
  if ! "${build[@]}" >"$LOG_DIR/build.log" 2>&1; then
    tail -50 "$LOG_DIR/build.log" >&2
    fail "the image does not build (full log: $LOG_DIR/build.log)"
  fi
  log "image built in $((SECONDS - t)) s, $("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1 / 1e6}')"
  [ "$MODE" = --build-only ] && exit 0
  build_note="image build $((SECONDS - t)) s"
fi

# --- 2. the image's configuration ------------------------------------------------------------------
user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")
case "${user%%:*}" in
  "" | 0 | root) fail "the image runs as root (Config.User is '$user')" ;;
esac
log "Config.User is $user"
healthcheck=$("$ENGINE" image inspect --format '{{.Config.Healthcheck}}' "$IMAGE")
case "$healthcheck" in
  *"signgate"*"healthcheck"*) log "HEALTHCHECK: $healthcheck" ;;
  *) fail "the image has no HEALTHCHECK running \`signgate healthcheck\` (got '$healthcheck')" ;;
esac

# --- 2b. the image's files ----------------------------------------------------------------------------
# A container created from the image (never started) is exported and its files listed into
# $LOG_DIR/image-files.txt: no shell, compiler or package manager; the CA bundle, the signgate
# user, /tmp and the store directory owned by the user (tests/container/image_files.py).
cid=$("$ENGINE" create --no-healthcheck "$IMAGE") || fail "cannot create a container from $IMAGE"
if ! "$ENGINE" export "$cid" >"$LOG_DIR/rootfs.tar"; then
  "$ENGINE" rm "$cid" >/dev/null 2>&1 || true
  fail "cannot export the image's files"
fi
"$ENGINE" rm "$cid" >/dev/null
python3 tests/container/image_files.py "$LOG_DIR/rootfs.tar" "$LOG_DIR/image-files.txt" \
  || fail "the image's files are not as expected (list: $LOG_DIR/image-files.txt)"
rm -f "$LOG_DIR/rootfs.tar"
log "image files: $(wc -l <"$LOG_DIR/image-files.txt") entries, none a shell or compiler (list: $LOG_DIR/image-files.txt)"

# --- 3. the simulated vendors on the host -----------------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
SIM_PORT=$(free_port)
"$BIN" simulate --listen "127.0.0.1:$SIM_PORT" >"$LOG_DIR/simulator.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do
  kill -0 "$sim_pid" 2>/dev/null || { cat "$LOG_DIR/simulator.log" >&2; fail "the simulator exited"; }
  # No probe route: any HTTP answer (a 404) means it is serving.
  curl -sS -o /dev/null --max-time 1 "http://127.0.0.1:$SIM_PORT/" 2>/dev/null && break
  sleep 0.1
done
log "simulator on 127.0.0.1:$SIM_PORT"

# --- 4. the gateway in the container ----------------------------------------------------------------
# --network host: the container reaches the simulator on the host's loopback, and the gateway's
# port is the host's. The store stays the image's default (SQLite in the /var/lib/signgate
# volume), so writing it as the non-root user is part of the test. The image's HEALTHCHECK
# probes port 8080 and this gateway listens elsewhere, so it is switched off for this run
# (--no-healthcheck; it also keeps podman from looking for systemd timers): step 2 checked it is
# in the image, step 6 runs its command against the port used here.
GW_PORT=$(free_port)
"$ENGINE" run -d --name "$NAME" --network host --no-healthcheck \
  -e SIGNGATE__AUTH__API_KEY="$API_KEY" \
  -e SIGNGATE__SERVER__LISTEN="127.0.0.1:$GW_PORT" \
  -e SIGNGATE__VENDORS__AUCO__BASE_URL="http://127.0.0.1:$SIM_PORT/auco/v1.5/ext" \
  -e SIGNGATE__VENDORS__AUCO__PRIVATE_KEY="$SIM_AUCO_PRIVATE_KEY" \
  -e SIGNGATE__VENDORS__AUCO__PUBLIC_KEY="$SIM_AUCO_PUBLIC_KEY" \
  -e SIGNGATE__VENDORS__ZAPSIGN__BASE_URL="http://127.0.0.1:$SIM_PORT/zapsign/api/v1" \
  -e SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN="$SIM_ZAPSIGN_TOKEN" \
  "$IMAGE" >/dev/null || fail "the container does not start"
container_started=1
GW="http://127.0.0.1:$GW_PORT"

t=$SECONDS
ready=
for _ in $(seq 300); do   # at most 30 s
  running=$("$ENGINE" inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null || echo false)
  [ "$running" = true ] || fail "the container exited before it answered /livez"
  if curl -fsS -o /dev/null --max-time 1 "$GW/livez" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "$GW/livez did not answer 200 within 30 s"
log "gateway in the container answers /livez on $GW ($((SECONDS - t)) s)"
curl -fsS --max-time 5 "$GW/readyz" >/dev/null || fail "/readyz is not 200"

# --- 5. one cancel at each vendor --------------------------------------------------------------------
answer=$(curl -sS --max-time 30 -w '\n%{http_code}' "$GW/documents/cancel" \
  -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
  -d "{\"codes\": [\"$ZAPSIGN_DOC\", \"$AUCO_DOC\"], \"message\": \"container smoke test\", \"email\": \"ci@example.com\"}") \
  || fail "the cancel request failed"
status=${answer##*$'\n'}
body=${answer%$'\n'*}
[ "$status" = 200 ] || fail "cancel answered $status: $body"
python3 - "$body" "$ZAPSIGN_DOC" "$AUCO_DOC" <<'EOF' || fail "unexpected cancel answer: $body"
import json, sys
body, zapsign, auco = sys.argv[1], sys.argv[2], sys.argv[3]
answer = json.loads(body)
expected = {
    "success": 2,
    "errors": {"cant": 0},
    "results": [
        {"code": zapsign, "vendor": "zapsign", "status": "cancelled"},
        {"code": auco, "vendor": "auco", "status": "cancelled"},
    ],
}
if answer != expected:
    sys.exit(f"expected {json.dumps(expected)}")
EOF
log "cancel: $body"
# The audit trail was written to the SQLite store in the volume, as the non-root user.
trail=$(curl -fsS --max-time 5 "$GW/documents/cancellations?code=$ZAPSIGN_DOC" \
  -H "Authorization: $API_KEY") || fail "the audit trail cannot be read"
case "$trail" in
  *'"status":"cancelled"'*) log "audit trail holds the cancel" ;;
  *) fail "the audit trail does not hold the cancel: $trail" ;;
esac

# --- 6. inside the running container ------------------------------------------------------------------
# The image has no shell and no id(1): the process's user is read from the host's /proc.
pid=$("$ENGINE" inspect --format '{{.State.Pid}}' "$NAME") || fail "cannot find the container's process"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status") || fail "cannot read /proc/$pid/status"
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "the gateway runs as root inside the container (uid '$uid')"
log "process runs as uid $uid"
# The HEALTHCHECK command itself (the image has no curl), aimed at the port used here.
"$ENGINE" exec "$NAME" /usr/local/bin/signgate healthcheck --url "http://127.0.0.1:$GW_PORT/livez" \
  || fail "signgate healthcheck fails inside the container"
log "signgate healthcheck passes inside the container"

# --- 7. SIGTERM: exit code 0 within the grace period ------------------------------------------------
t=$SECONDS
"$ENGINE" kill --signal TERM "$NAME" >/dev/null
exit_code=$(timeout "$STOP_LIMIT_S" "$ENGINE" wait "$NAME") \
  || fail "the container did not stop within $STOP_LIMIT_S s of SIGTERM"
stop_s=$((SECONDS - t))
[ "$exit_code" = 0 ] || fail "the container exited with code $exit_code after SIGTERM"
log "SIGTERM: exit code 0 after ${stop_s} s"

# --- 8. no secrets in the logs --------------------------------------------------------------------------
logs=$("$ENGINE" logs "$NAME" 2>&1)
for secret in "$API_KEY" "$SIM_AUCO_PRIVATE_KEY" "$SIM_AUCO_PUBLIC_KEY" "$SIM_ZAPSIGN_TOKEN" ci@example.com "container smoke test"; do
  case "$logs" in *"$secret"*) fail "the container log contains '$secret'" ;; esac
done
log "no credential, email or message in the container log"

log "PASS (${build_note}, whole smoke test $((SECONDS - t_start)) s)"
