#!/usr/bin/env bash
# The vendors' official Python SDKs against `signgate simulate`: each tests/sdk/<kind>.py
# points its vendor's SDK at the simulator (SIGNGATE_SIM_URL), cancels a seeded document and
# reads it back, and exits non-zero on any mismatch. A client team that uses the SDK can
# develop against the simulator the same way.
#
# Usage: tests/sdk/run.sh VENV [SIGNGATE_BINARY]   (the virtual environment is made if absent)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="$1"
binary="${2:-target/debug/signgate}"

[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$binary" simulate --listen "127.0.0.1:$port" >"$log" 2>&1 &
simulator=$!
trap 'kill "$simulator" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

status=0
for script in tests/sdk/*.py; do
  echo "sdk: $script"
  if ! SIGNGATE_SIM_URL="http://127.0.0.1:$port" "$venv/bin/python" "$script"; then
    echo "sdk: $script FAILED"
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "sdk: the simulator's log:"
  cat "$log"
fi
exit "$status"
