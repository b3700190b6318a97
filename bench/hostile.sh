#!/usr/bin/env bash
# The hostile-clients benchmark: builds the release binary and bench/hostile.rs, then measures a
# gateway's memory under 4,096 half-open connections with 32 KiB unfinished heads, and under 64
# concurrent 4 MiB job bodies, with /livez asked every 100 ms throughout; writes
# bench/HOSTILE.md. Takes under a minute once built; needs no root and no network (everything
# is on 127.0.0.1) but about 4,200 file descriptors (ulimit -n). See bench/README.md,
# "Hostile clients".
#
#   bash bench/hostile.sh                              the recorded run
#   bash bench/hostile.sh --bodies 16 --out /tmp/h.md  any option of the example (--help)
#
# SKIP_BUILD=1 uses the binaries already built.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release --locked --bin signgate --example hostile
fi
exec target/release/examples/hostile --bin target/release/signgate "$@"
