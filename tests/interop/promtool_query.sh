#!/usr/bin/env bash
# promtool queries vitals's Prometheus HTTP API: `promtool query instant`, `range`, `series`
# and `labels` against a vitals that probes its own /health must succeed and print the
# probe's series, as they would against a Prometheus.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
source "$(dirname "$0")/lib/common.bash"

vport=$(port)
url="http://127.0.0.1:$vport"

cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
probes:
  defaults: {interval: 1s, timeout: 900ms}
  targets:
    - {name: self, url: "$url/health", conditions: ["status == 200", "body.status == UP"], labels: {service: vitals}}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pids+=($!)

fail() { echo "FAIL: $*"; echo "--- output:"; cat "$work/out" 2>/dev/null || true; echo "--- vitals log:"; tail -n 20 "$work/vitals.log"; exit 1; }

for _ in $(seq 100); do curl -fsS "$url/ready" >/dev/null 2>&1 && break; sleep 0.1; done
series="probe_success{instance=\"$url/health\", probe=\"self\", service=\"vitals\"}"
ok=""
for _ in $(seq 50); do
  if promtool query instant "$url" 'probe_success{probe="self"}' >"$work/out" 2>&1 && grep -qF "$series => 1 @[" "$work/out"; then ok=1; break; fi
  sleep 0.2
done
[[ -n $ok ]] || fail "promtool query instant never printed $series => 1"
echo "promtool query instant: $(cat "$work/out")"

promtool query instant "$url" 'scalar(probe_success{probe="self"}) * 2' >"$work/out" 2>&1 || fail "instant scalar query failed"
grep -qE '^scalar: 2 @\[[0-9]+(\.[0-9]+)?\]$' "$work/out" || fail "scalar result not printed as 'scalar: 2 @[t]'"

promtool query instant -o json "$url" 'probe_success{probe="self"}' >"$work/out" 2>&1 || fail "instant -o json failed"
python3 - "$work/out" <<'PY' || fail "instant -o json output is not the expected vector"
import json, sys
v = json.load(open(sys.argv[1]))
assert isinstance(v, list) and len(v) == 1, v
assert v[0]["metric"]["probe"] == "self" and v[0]["value"][1] == "1", v
PY

# The window starts after the first probe sample (taken before the instant query above).
sleep 3
end=$(date +%s); start=$((end - 2))
promtool query range --start="$start" --end="$end" --step=1s "$url" 'probe_success{probe="self"}' >"$work/out" 2>&1 || fail "range query failed"
grep -qF "$series =>" "$work/out" || fail "range query did not print the series"
points=$(grep -cE '^1 @\[[0-9]+\]$' "$work/out" || true)
[[ $points -eq 3 ]] || fail "range query printed $points points at value 1, expected 3 (start, start+1s, end)"
echo "promtool query range: $points points"

promtool query series --match='probe_success{probe="self"}' "$url" >"$work/out" 2>&1 || fail "series query failed"
grep -qxF "{__name__=\"probe_success\", instance=\"$url/health\", probe=\"self\", service=\"vitals\"}" "$work/out" \
  || fail "series query did not print the probe's series"
promtool query series --match='probe_success' --match='probe_duration_seconds{probe="self"}' "$url" >"$work/out" 2>&1 || fail "two-selector series query failed"
[[ $(grep -c '^{__name__=' "$work/out") -eq 2 ]] || fail "two selectors should give exactly two series"
echo "promtool query series: ok"

promtool query labels "$url" probe >"$work/out" 2>&1 || fail "labels query failed"
grep -qx 'self' "$work/out" || fail "label values of probe should list self"
promtool query labels "$url" __name__ >"$work/out" 2>&1 || fail "__name__ values query failed"
grep -qx 'probe_success' "$work/out" || fail "__name__ values should list probe_success"
echo "promtool query labels: ok"

# A bad query is reported by promtool with the server's error.
if promtool query instant "$url" 'sum(' >"$work/out" 2>&1; then fail "a bad query should make promtool fail"; fi
grep -q 'bad_data' "$work/out" || fail "promtool should print the bad_data error"
echo "promtool reports bad queries: $(head -n1 "$work/out")"
