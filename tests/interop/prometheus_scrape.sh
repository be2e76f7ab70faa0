#!/usr/bin/env bash
# Prometheus scrapes vitals: the exposition passes `promtool check metrics`, Prometheus
# ingests it (up == 1) and sees the probe results under blackbox_exporter's names.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
source "$(dirname "$0")/lib/common.bash"

vport=$(port); pport=$(port); hport=$(port)

mkdir -p "$work/www"; echo '{"status":"UP"}' > "$work/www/health"
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & pids+=($!)

cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
probes:
  defaults: {interval: 1s, timeout: 900ms}
  targets:
    - {name: web, url: "http://127.0.0.1:$hport/health", conditions: ["status == 200", "body.status == UP"], labels: {service: web}}
    - {name: gone, tcp: "127.0.0.1:1"}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pids+=($!)

for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$vport/ready" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2.5
curl -fsS "http://127.0.0.1:$vport/metrics" > "$work/metrics.txt"
echo "promtool check metrics:"
# promtool exits non-zero on problems; lint warnings about names/help are printed too.
promtool check metrics < "$work/metrics.txt"
curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' "http://127.0.0.1:$vport/metrics" | tail -n1 | grep -qx '# EOF'
# /federate: Prometheus's own endpoint, each sample with its timestamp.
curl -fsS -G "http://127.0.0.1:$vport/federate" --data-urlencode 'match[]={__name__=~"probe_.*"}' > "$work/federate.txt"
echo "promtool check metrics (/federate):"
promtool check metrics < "$work/federate.txt"
grep -Eq '^probe_success\{.*probe="web".*\} 1 [0-9]{13}$' "$work/federate.txt"

cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: vitals
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$vport"]}]
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params: {"match[]": ['{__name__="probe_success"}']}
    static_configs: [{targets: ["127.0.0.1:$vport"]}]
    metric_relabel_configs: [{target_label: via, replacement: federate}]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prom.log" 2>&1 & pids+=($!)

query() { curl -fsS "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
ok=""
for _ in $(seq 60); do
  up=$(query 'up{job="vitals"}' 2>/dev/null || echo none)
  web=$(query 'probe_success{probe="web",service="web"}' 2>/dev/null || echo none)
  gone=$(query 'probe_success{probe="gone"}' 2>/dev/null || echo none)
  fed=$(query 'probe_success{probe="web",via="federate"}' 2>/dev/null || echo none)
  if [[ $up == 1 && $web == 1 && $gone == 0 && $fed == 1 ]]; then ok=1; break; fi
  sleep 0.5
done
if [[ -z $ok ]]; then
  echo "Prometheus did not see the expected series: up=$up web=$web gone=$gone federated=$fed"
  tail -n 20 "$work/prom.log" "$work/vitals.log"
  exit 1
fi
echo "Prometheus scraped vitals: up=1, probe_success web=1, gone=0; through /federate web=1"
