#!/usr/bin/env bash
# vitals forwards alerts (`alerting: {forward: [{url}]}`, no route of its own) to a real
# Alertmanager 0.25 (Debian's prometheus-alertmanager): alerts posted to vitals' v2 API and
# the alerts of vitals' own firing rule show up in Alertmanager's /api/v2/alerts with their
# labels and annotations; a resolved alert leaves Alertmanager's active list.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
if ! command -v prometheus-alertmanager >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
source "$(dirname "$0")/lib/common.bash"
vport=$(port); aport=$(port)

cat > "$work/alertmanager.yml" <<'YAML'
route: {receiver: blackhole, group_wait: 0s}
receivers: [{name: blackhole}]
YAML
prometheus-alertmanager --config.file="$work/alertmanager.yml" --storage.path="$work/am" \
  --cluster.listen-address= --web.listen-address="127.0.0.1:$aport" >"$work/am.log" 2>&1 & pids+=($!)

cat > "$work/rules.yml" <<'YAML'
groups:
  - name: interop
    interval: 1s
    rules:
      - alert: VitalsRuleFiring
        expr: vector(1) > 0
        labels: {severity: warning, source: vitals-rule}
        annotations: {summary: "value {{ $value }}"}
YAML
cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
rules: {files: ["$work/rules.yml"]}
alerting: {forward: [{url: "http://127.0.0.1:$aport"}]}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pids+=($!)
for url in "http://127.0.0.1:$vport/ready" "http://127.0.0.1:$aport/-/ready"; do
  for _ in $(seq 100); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 0.1; done
done
curl -fsS "http://127.0.0.1:$aport/api/v2/status" >/dev/null || { cat "$work/am.log"; exit 1; }

fail() { echo "FAIL: $*"; tail -n 15 "$work/am.log" "$work/vitals.log"; exit 1; }
post() { curl -fsS -H 'content-type: application/json' "http://127.0.0.1:$vport/api/v2/alerts" -d "$1" >/dev/null; }
post '[{"labels": {"alertname": "Posted", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": "checkout is down", "runbook_url": "https://runbooks/checkout"},
        "generatorURL": "http://prometheus/graph?g0.expr=up"}]'

# wait_am PYTHON-CONDITION-ON-`alerts` DESCRIPTION: polls Alertmanager's alert list.
wait_am() {
  for _ in $(seq 75); do
    curl -fsS "http://127.0.0.1:$aport/api/v2/alerts" > "$work/am.json" 2>/dev/null || true
    python3 -c "import json,sys; alerts=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/am.json" 2>/dev/null && return 0
    sleep 0.2
  done
  fail "$2: Alertmanager lists $(cat "$work/am.json")"
}
wait_am 'any(a["labels"].get("alertname") == "Posted" for a in alerts)' "the posted alert"
python3 - "$work/am.json" <<'PY' || fail "the posted alert in Alertmanager: $(cat "$work/am.json")"
import json, sys
a = next(a for a in json.load(open(sys.argv[1])) if a["labels"]["alertname"] == "Posted")
assert a["labels"] == {"alertname": "Posted", "service": "checkout", "severity": "critical"}, a["labels"]
assert a["annotations"] == {"summary": "checkout is down", "runbook_url": "https://runbooks/checkout"}, a
assert a["generatorURL"] == "http://prometheus/graph?g0.expr=up", a
assert a["status"]["state"] == "active", a
assert [r["name"] for r in a["receivers"]] == ["blackhole"], a
print(f"ok: Alertmanager lists the posted alert with its labels and annotations (endsAt {a['endsAt']})")
PY

wait_am 'any(a["labels"].get("alertname") == "VitalsRuleFiring" for a in alerts)' "the rule's alert"
python3 - "$work/am.json" <<'PY' || fail "the rule's alert in Alertmanager: $(cat "$work/am.json")"
import json, sys
a = next(a for a in json.load(open(sys.argv[1])) if a["labels"]["alertname"] == "VitalsRuleFiring")
assert a["labels"]["severity"] == "warning" and a["labels"]["source"] == "vitals-rule", a["labels"]
assert a["annotations"] == {"summary": "value 1"}, a["annotations"]
assert a["status"]["state"] == "active", a
print(f"ok: Alertmanager lists vitals' firing rule's alert: {a['labels']}")
PY

# Resolving the posted alert (endsAt in the past) is forwarded too: it leaves the active list.
post '[{"labels": {"alertname": "Posted", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": "checkout is down", "runbook_url": "https://runbooks/checkout"},
        "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-01-01T00:05:00Z"}]'
wait_am '[a["labels"]["alertname"] for a in alerts] == ["VitalsRuleFiring"]' "the resolved alert"
echo "ok: the resolved alert left Alertmanager's active list; the rule's alert is still there"
m=$(curl -fsS "http://127.0.0.1:$vport/metrics" | grep -E '^vitals_alerting_forward' || true)
grep -qE '^vitals_alerting_forwarded_alerts_total\{.*outcome="failed".*\} [1-9]' <<<"$m" && fail "vitals counted failed forwards: $m"
grep -qE '^vitals_alerting_forward_dropped_total [1-9]' <<<"$m" && fail "vitals dropped forwards: $m"
grep -qE '^vitals_alerting_forwarded_alerts_total\{.*outcome="sent".*\} ([3-9]|[1-9][0-9]+)$' <<<"$m" || fail "fewer than 3 forwarded alerts counted: $m"
echo "ok: vitals counts the forwarded alerts, no failures"
