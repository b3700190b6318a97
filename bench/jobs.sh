#!/usr/bin/env bash
# The bulk-job benchmark: builds the release binary and bench/jobs/main.rs, then runs one job of
# 2,000 ZapSign documents against the simulator's 500 calls a minute with synchronous cancels
# beside it, and writes bench/JOBS.md. Takes about 5 minutes once built; needs no root and no
# network (everything is on 127.0.0.1). See bench/README.md, "Bulk job against the rate limit".
#
#   bash bench/jobs.sh                      the recorded run
#   bash bench/jobs.sh --docs 1351 --out /tmp/jobs.md   any option of the example (--help)
#
# SKIP_BUILD=1 uses the binaries already built.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release --locked --bin signgate --example jobs
fi
exec target/release/examples/jobs --bin target/release/signgate "$@"
