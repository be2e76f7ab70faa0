#!/usr/bin/env bash
# Memory per active OTLP series: SERVICES x 6,327 series (default 40: 253,080; the shared
# payload with N=333), SAMPLES samples each (default 4, 15 s apart), posted over OTLP/HTTP to
# a fresh vitals; reports the RSS growth over the series held (store and OTLP cache together).
#
#   benches/otlp_memory/run.sh                       # the release build
#   BINS="/tmp/vitals-old /tmp/vitals-new" benches/otlp_memory/run.sh   # side by side
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}
SERVICES=${SERVICES:-40}
SAMPLES=${SAMPLES:-4}
python3 -c 'import opentelemetry.proto' 2>/dev/null || python3 -m pip install -q opentelemetry-proto >/dev/null
if [[ -z ${BINS:-} ]]; then
  (cd "$root" && cargo build --release --quiet); BINS=$root/target/release/vitals
fi

# $work, pids, port, kib
source "$root/tests/interop/lib/common.bash"

printf '%-28s %9s %12s %12s %14s\n' binary series RSS_before RSS_after bytes/series
for bin in $BINS; do
  vport=$(port); oport=$(port)
  cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data-$vport", max_series: 1000000, checkpoint_interval: 0s}
otlp: {grpc_listen: "", http_listen: "127.0.0.1:$oport", max_series: 1000000}
YAML
  "$bin" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pid=$!; pids+=($pid)
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$vport/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 1
  before=$(kib "$pid" VmRSS)
  python3 "$root/benches/exposition/post.py" "http://127.0.0.1:$oport/v1/metrics" "$SERVICES" "$shared" "$SAMPLES"
  sleep 1
  after=$(kib "$pid" VmRSS)
  # Read after the RSS: a scrape allocates.
  series=$(curl -fsS "http://127.0.0.1:$vport/metrics" | awk '/^vitals_store_series / {print $2}')
  printf '%-28s %9s %10s K %10s K %14s\n' "$bin" "$series" "$before" "$after" \
    "$(python3 -c "print(round(($after - $before) * 1024 / $series))")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
