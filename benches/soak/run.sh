#!/usr/bin/env bash
# Soak benchmark: vitals under every load at once (2,000 probe targets with flapping ones,
# OTLP senders, 1,000 rules, webhook receivers that fail and hang, reloads good and bad,
# kill -9 and restarts) for SOAK_S seconds (default 3600), then PASS/FAIL checks: RSS and fds
# flat per life, no panic, every expected notification delivered exactly once (modulo
# retries of hung attempts), no alert state change across restarts, queues drained.
# See soak.py's docstring for everything it does; results of the runs in RESULTS.md.
#
#   benches/soak/run.sh                 # 1 hour
#   SOAK_S=600 benches/soak/run.sh      # 10-minute trial (kill -9 every SOAK_S/6)
#
# Env: SOAK_S, SOAK_OUT (output dir, default a new /tmp/soak.XXXX, kept), VITALS_BIN (skip the
# build and use this binary), CARGO_TARGET_DIR, and soak.py's knobs (KILL_S, RELOAD_S, ...).
# Exit status: 0 when every check passed, 1 when one failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null; }
if ! python3 -c 'import opentelemetry.proto' 2>/dev/null; then
    python3 -m pip --version >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null; }
    python3 -m pip install -q opentelemetry-proto >/dev/null 2>&1 ||
        python3 -m pip install -q --break-system-packages opentelemetry-proto >/dev/null
fi
if [[ -n ${VITALS_BIN:-} ]]; then
    bin=$VITALS_BIN
else
    target=${CARGO_TARGET_DIR:-$root/target}
    (cd "$root" && cargo build --release --quiet --bin vitals)
    bin=$target/release/vitals
fi
exec python3 "$here/soak.py" run "$bin"
