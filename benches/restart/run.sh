#!/usr/bin/env bash
# Restart benchmark: vitals's store checkpoint against Prometheus 2.42's WAL replay on the same
# 100,000 series x 15 minutes at 15 s, plus the checkpoint's disk, CPU and ingest cost.
# See bench.py for what is measured; results in RESULTS.md.
#
#   benches/restart/run.sh            # ROUNDS=3 WINDOW=60 LOAD_SECONDS=15 LOAD_ROUNDS=6
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}
command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || python3 -m pip install -q opentelemetry-proto >/dev/null
python3 -c 'import cramjam' 2>/dev/null || python3 -m pip install -q cramjam >/dev/null
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet --bin vitals)
exec python3 "$here/bench.py" "$target/release/vitals" "$shared"
