#!/usr/bin/env bash
# Rule evaluation load: 1,000 alert rules over ~97,000 series (../shared/bench/ruleload/),
# vitals and Prometheus side by side in one run, on the same machine and the same data:
# Prometheus scrapes exporter.py every 15s, vitals receives the same series from
# otlp_pusher.py every 15s over OTLP/HTTP; both evaluate make_rules.py's group every 15s.
#
#   benches/rule_load/run.sh            # WARMUP=330 (s: the 5m windows fill), WINDOW=120
#
# After the warm-up, both are sampled every 5s for WINDOW seconds: each one's last evaluation
# time of the 1,000-rule group (`/api/v1/rules` evaluationTime), then RSS.
# Prints min/median/max evaluation time per system, the vitals/Prometheus ratio of medians,
# and RSS at the end. Needs prometheus (Debian), python3 with opentelemetry-proto (PyPI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}/ruleload
WARMUP=${WARMUP:-330}
WINDOW=${WINDOW:-120}
command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || python3 -m pip install -q opentelemetry-proto >/dev/null
[[ -x $root/target/release/vitals ]] || (cd "$root" && cargo build --release --quiet)
vitals=$root/target/release/vitals

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

python3 "$shared/make_rules.py" 5m 15s > "$work/rules.yml"
exp_port=$(port); prom_port=$(port); v_port=$(port); otlp_port=$(port)

python3 "$shared/exporter.py" "$exp_port" & pids+=($!)
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 15s, evaluation_interval: 15s, scrape_timeout: 14s}
rule_files: ["$work/rules.yml"]
scrape_configs:
  - job_name: load
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$exp_port"]}]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 & prom=$!; pids+=($prom)

cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$v_port"}
storage: {path: "$work/vdata", retention: 10m}
otlp: {grpc_listen: "", http_listen: "127.0.0.1:$otlp_port"}
rules: {files: ["$work/rules.yml"], evaluation_interval: 15s}
YAML
"$vitals" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & vit=$!; pids+=($vit)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$v_port/ready" && break; sleep 0.1; done
python3 "$shared/otlp_pusher.py" "http://127.0.0.1:$otlp_port/v1/metrics" 15 $((WARMUP + WINDOW + 30)) & pids+=($!)

echo "warming up ${WARMUP}s (the 5m windows fill) ..."
sleep "$WARMUP"
# The group's last evaluation time from the rules API, which both answer the same way
# (`groups[].evaluationTime`, seconds; the same figure as *_rule_group_last_duration_seconds).
# vitals' /metrics also carries every stored series (~100k here): polling it would make vitals
# render them all every 5 s, work Prometheus is never asked to do, so it is read only at the end.
eval_s() { curl -fsS "http://127.0.0.1:$1/api/v1/rules?type=alert&exclude_alerts=true" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["groups"][0]["evaluationTime"])'; }
: > "$work/samples"
for _ in $(seq $((WINDOW / 5))); do
  echo "$(eval_s "$prom_port") $(eval_s "$v_port")" >> "$work/samples"
  sleep 5
done
rss_p=$(rss_mib "$prom"); rss_v=$(rss_mib "$vit")
# The first sample whose line starts with $2 (reads the whole body: no SIGPIPE under pipefail).
metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '!done && index($0, m) == 1 {print $2; done=1}'; }
series_v=$(metric "$v_port" 'vitals_store_series ')
series_p=$(curl -fsS "http://127.0.0.1:$prom_port/metrics" | awk '/^prometheus_tsdb_head_series / {print $2}')
count_alerts() { curl -fsS "http://127.0.0.1:$1/api/v1/query?query=count(ALERTS)" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)' || echo "?"; }
alerts_v=$(count_alerts "$v_port")
alerts_p=$(count_alerts "$prom_port")
python3 - "$work/samples" "$rss_p" "$rss_v" "$series_p" "$series_v" "$alerts_p" "$alerts_v" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 2]
p = [float(a) for a, _ in rows]; v = [float(b) for _, b in rows]
rss_p, rss_v, ser_p, ser_v, al_p, al_v = sys.argv[2:8]
fmt = lambda xs: f"min {min(xs)*1000:8.1f} ms  median {st.median(xs)*1000:8.1f} ms  max {max(xs)*1000:8.1f} ms"
print(f"samples: {len(rows)} (every 5s)")
print(f"prometheus  eval {fmt(p)}  RSS {rss_p} MiB  series {ser_p}  ALERTS {al_p}")
print(f"vitals      eval {fmt(v)}  RSS {rss_v} MiB  series {ser_v}  ALERTS {al_v}")
print(f"ratio vitals/prometheus: eval (median) {st.median(v)/st.median(p):.3f}  RSS {float(rss_v)/float(rss_p):.3f}")
PY
