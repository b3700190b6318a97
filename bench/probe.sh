#!/usr/bin/env bash
# A quick A/B probe for one change at a time: the 0 ms simulator and one signgate (SQLite file
# store unless STORE_URL says otherwise), oha closed-loop saturation for SAT seconds, then a
# fixed RATE for RSECS seconds on the same (grown) database. Prints throughput, latency, CPU
# per 1,000 requests, CPU by thread (comm), RSS, and the documents by outcome. Nothing is
# written to the repository. Needs the tools run.sh installs (oha) and a built binary.
#
#   BIN=/tmp/signgate-a bash bench/probe.sh; BIN=/tmp/signgate-b bash bench/probe.sh
#
# Knobs: BIN (target/release/signgate), STORE_URL, SAT (20), RATE (2400), RSECS (30),
# PROBE_PORT_BASE (19400), EXTRA ("VAR=value ..." for signgate serve).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/signgate}
OHA=${OHA:-$HOME/.cargo/bin/oha}
BASE=${PROBE_PORT_BASE:-19400}
SIMP=$((BASE + 1)); GWP=$((BASE + 2))
for port in $SIMP $GWP; do
  # A leftover simulator on the port would answer with the state of earlier runs.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is in use" >&2; exit 1; fi
done
W=$(mktemp -d /tmp/signgate-probe.XXXXXX)
STORE_URL=${STORE_URL:-sqlite://$W/signgate.db}
"$BIN" simulate --listen "127.0.0.1:$SIMP" --unknown-in-progress --no-seed \
  --zapsign-requests-per-minute 2000000000 >"$W/sim.log" 2>&1 &
SP=$!
# shellcheck disable=SC2086 # EXTRA is a list of VAR=value words
env SIGNGATE__AUTH__API_KEY=probe-key SIGNGATE__SERVER__LISTEN="127.0.0.1:$GWP" \
  SIGNGATE__STORE__URL="$STORE_URL" SIGNGATE__LOG__LEVEL=error \
  SIGNGATE__VENDORS__ZAPSIGN__BASE_URL="http://127.0.0.1:$SIMP/zapsign/api/v1" \
  SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN=sim-token \
  SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE=600000 \
  SIGNGATE__VENDORS__ZAPSIGN__MAX_CONCURRENCY=256 ${EXTRA:-} "$BIN" serve >"$W/gw.log" 2>&1 &
GP=$!
trap 'kill $SP $GP 2>/dev/null || true; rm -rf "$W"' EXIT
# A million fresh document tokens: oha picks lines at random, so repeats stay rare.
python3 - "$W/bodies" <<'PY'
import random, sys
rng = random.Random()
with open(sys.argv[1], "w") as f:
    for _ in range(1_000_000):
        h = "%032x" % rng.getrandbits(128)
        token = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
        f.write('{"codes":["%s"],"message":"probe","email":"probe@example.com"}\n' % token)
PY
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$GWP") 2>/dev/null && break; sleep 0.1; done

cpu() { awk '{print $14 + $15}' "/proc/$GP/stat"; }
threads() {
  for t in /proc/$GP/task/*; do echo "$(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done \
    | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}
load() {
  timeout $((${RSECS:-30} + ${SAT:-20} + 60)) "$OHA" --no-tui -w -c 64 -m POST -T application/json -t 10s \
    -H "Authorization: Bearer probe-key" --output-format json -Z "$W/bodies" "$@" \
    "http://127.0.0.1:$GWP/documents/cancel"
}
report() { # $1 label, $2 oha JSON, $3 CPU ticks
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys
label, path, ticks = sys.argv[1], sys.argv[2], int(float(sys.argv[3]))
d = json.load(open(path)); p = d["latencyPercentiles"]
n = sum(int(v) for v in d["statusCodeDistribution"].values())
ms = lambda k: p[k] * 1e3
print(f"{label}: {d['summary']['requestsPerSec']:.0f} req/s p50 {ms('p50'):.2f} p90 {ms('p90'):.2f} "
      f"p99 {ms('p99'):.2f} p99.9 {ms('p99.9'):.2f} ms, CPU {ticks / os.sysconf('SC_CLK_TCK') / n * 1000:.3f} s"
      f" per 1,000, codes {d['statusCodeDistribution']}")
PY
}
c0=$(cpu); load -z "${SAT:-20}s" >"$W/sat.json"; c1=$(cpu)
report saturation "$W/sat.json" $((c1 - c0))
sleep 2
threads >"$W/t0"; c0=$(cpu)
load -z "${RSECS:-30}s" -q "${RATE:-2400}" --latency-correction >"$W/rate.json"
c1=$(cpu); threads >"$W/t1"
report "rate ${RATE:-2400}/s" "$W/rate.json" $((c1 - c0))
echo "CPU by thread at the fixed rate: $(join "$W/t0" "$W/t1" \
  | awk -v hz="$(getconf CLK_TCK)" '{printf "%s %.2f s  ", $1, ($3 - $2) / hz}')"
grep -E 'VmHWM|VmRSS' "/proc/$GP/status" | tr -s ' \t\n' ' '; echo
curl -s "http://127.0.0.1:$GWP/metrics" | grep '^signgate_documents_total' || true
