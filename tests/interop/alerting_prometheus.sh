#!/usr/bin/env bash
# A real Prometheus sends the alerts of a firing rule to vitals' Alertmanager v2 API
# (`alerting.alertmanagers`, api_version v2); vitals routes them to a webhook receiver in
# Alertmanager's webhook JSON and lists them under GET /api/v2/alerts.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
command -v prometheus >/dev/null || { echo "prometheus missing (run.sh installs it)"; exit 1; }
source "$(dirname "$0")/lib/common.bash"
vport=$(port); pport=$(port); hport=$(port)

# The webhook receiver: one JSON file per POST, named by arrival order.
cat > "$work/hook.py" <<'PY'
import http.server, os, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        H.n += 1
        tmp = os.path.join(out, f".{H.n}")
        with open(tmp, "wb") as f: f.write(body)
        os.rename(tmp, os.path.join(out, f"{H.n:04d}-{self.path.strip('/').replace('/', '_')}.json"))
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
mkdir -p "$work/hook"
python3 "$work/hook.py" "$hport" "$work/hook" & pids+=($!)

cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
alerting:
  route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook_configs: [{url: "http://127.0.0.1:$hport/hook"}]
  delivery: {min_backoff: 100ms, max_backoff: 200ms}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pids+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$vport/ready" >/dev/null 2>&1 && break; sleep 0.1; done

cat > "$work/rules.yml" <<'YAML'
groups:
  - name: interop
    rules:
      - alert: InteropAlwaysFiring
        expr: vector(1) > 0
        labels: {severity: critical, team: interop}
        annotations: {summary: "fired by Prometheus {{ $value }}"}
YAML
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s, external_labels: {prom: interop}}
rule_files: ["$work/rules.yml"]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{targets: ["127.0.0.1:$vport"]}]
YAML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$pport" --rules.alert.resend-delay=1s >"$work/prom.log" 2>&1 & pids+=($!)

fail() { echo "FAIL: $*"; tail -n 20 "$work/prom.log" "$work/vitals.log"; exit 1; }
got=""
for _ in $(seq 150); do
  got=$(ls "$work/hook" | head -n1)
  [[ -n $got ]] && break
  sleep 0.2
done
[[ -n $got ]] || fail "the webhook got nothing within 30s"
python3 - "$work/hook/$got" <<'PY' || fail "webhook body not as expected: $(cat "$work/hook/$got")"
import json, sys
n = json.load(open(sys.argv[1]))
assert n["version"] == "4", n
assert n["status"] == "firing", n
assert n["receiver"] == "hook", n
assert n["groupLabels"] == {"alertname": "InteropAlwaysFiring"}, n["groupLabels"]
assert len(n["alerts"]) == 1, n["alerts"]
a = n["alerts"][0]
want = {"alertname": "InteropAlwaysFiring", "severity": "critical", "team": "interop", "prom": "interop"}
assert a["labels"] == want, a["labels"]
assert a["status"] == "firing", a
assert a["annotations"]["summary"] == "fired by Prometheus 1", a["annotations"]
assert "/graph?g0.expr=" in a["generatorURL"], a["generatorURL"]
assert a["endsAt"].startswith("0001-01-01"), a["endsAt"]
assert n["commonLabels"]["team"] == "interop", n["commonLabels"]
assert n["groupKey"].startswith('{}:{alertname="InteropAlwaysFiring"}'), n["groupKey"]
print(f"ok: webhook got {a['labels']['alertname']} {a['status']} with labels {sorted(a['labels'])}")
PY

curl -fsS "http://127.0.0.1:$vport/api/v2/alerts" > "$work/alerts.json"
python3 - "$work/alerts.json" <<'PY' || fail "GET /api/v2/alerts: $(cat "$work/alerts.json")"
import json, sys
alerts = json.load(open(sys.argv[1]))
mine = [a for a in alerts if a["labels"].get("alertname") == "InteropAlwaysFiring"]
assert len(mine) == 1, alerts
a = mine[0]
assert a["labels"]["team"] == "interop" and a["labels"]["prom"] == "interop", a
assert a["status"]["state"] == "active", a
assert [r["name"] for r in a["receivers"]] == ["hook"], a
assert a["fingerprint"], a
print("ok: GET /api/v2/alerts lists it, active, receiver hook")
PY

# Prometheus re-sends the firing alert (every resend-delay); once it has sent it 3 times,
# the group has still been notified once only.
sent_errors() {
  curl -fsS "http://127.0.0.1:$pport/metrics" | python3 -c '
import sys
sent = errs = 0.0
for line in sys.stdin:
    k, _, v = line.rpartition(" ")
    if k.startswith("prometheus_notifications_sent_total"): sent += float(v)
    if k.startswith("prometheus_notifications_errors_total"): errs += float(v)
# (dropped_total counts the sends made before discovery handed over the Alertmanager list.)
print(f"{sent:.0f} {errs:.0f}")'
}
for _ in $(seq 50); do
  read -r sent errs < <(sent_errors)
  ((sent >= 3)) && break
  sleep 0.2
done
((sent >= 3 && errs == 0)) || fail "Prometheus sent $sent alerts to vitals with $errs errors"
echo "ok: Prometheus sent the alert $sent times to vitals, 0 errors"
sleep 1.5  # > group_interval
n=$(ls "$work/hook" | wc -l)
[[ $n == 1 ]] || fail "expected one notification after Prometheus' resends, got $n"
echo "ok: Prometheus' resends notify nobody again"
