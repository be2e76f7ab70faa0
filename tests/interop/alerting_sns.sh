#!/usr/bin/env bash
# sns_configs against moto's SNS server: vitals publishes through the AWS SDK (Query protocol,
# SigV4) to a topic with static keys, and texts a phone number with the environment's keys and
# an assumed role (STS AssumeRole, at moto too through AWS_ENDPOINT_URL_STS), for one alert
# posted to /api/v2/alerts; moto's recorded topic notification and SMS must carry vitals'
# subject, attribute and short SMS text. Installs moto's server extras when missing.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh (or export VITALS_BIN=…/debug/vitals)}"
command -v curl >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends curl >/dev/null
}
if ! command -v moto_server >/dev/null || ! python3 -c 'import moto.server, boto3' 2>/dev/null; then
  python3 -m pip install --quiet 'moto[server]' boto3
fi

source "$(dirname "$0")/lib/common.bash"

mport=$(port)
vport=$(port)
moto="http://127.0.0.1:$mport"
url="http://127.0.0.1:$vport"

fail() { echo "FAIL: $*"; echo "--- moto log:"; tail -n 20 "$work/moto.log"; echo "--- vitals log:"; tail -n 30 "$work/vitals.log"; exit 1; }

moto_server -H 127.0.0.1 -p "$mport" >"$work/moto.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -fsS "$moto/moto-api/data.json" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$moto/moto-api/data.json" >/dev/null || fail "moto_server did not start"

export AWS_ACCESS_KEY_ID=moto-env-key AWS_SECRET_ACCESS_KEY=moto-env-secret
topic=$(MOTO="$moto" python3 -c '
import os, boto3
sns = boto3.client("sns", endpoint_url=os.environ["MOTO"], region_name="us-east-1")
print(sns.create_topic(Name="vitals-alerts")["TopicArn"])')
echo "topic: $topic"

cat >"$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
alerting:
  route: {receiver: sns, group_by: [alertname, service], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
  receivers:
    - name: sns
      sns_configs:
        - api_url: "$moto"
          topic_arn: "$topic"
          sigv4: {region: us-east-1, access_key: AKIDVITALSTEST, secret_key: vitals-test-secret}
          attributes: {service: '{{ .CommonLabels.service }}'}
        - api_url: "$moto"
          phone_number: "+15550001234"
          sigv4: {region: us-east-1, role_arn: "arn:aws:iam::123456789012:role/vitals-sns"}
  delivery: {min_backoff: 100ms, max_backoff: 500ms}
YAML
AWS_ENDPOINT_URL_STS="$moto" "$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pids+=($!)
for _ in $(seq 100); do curl -fsS "$url/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$url/ready" >/dev/null || fail "vitals did not become ready"

curl -fsS -X POST "$url/api/v2/alerts" -H 'content-type: application/json' -d '[{
  "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
  "annotations": {"summary": "Error rate 12%"}}]' >/dev/null || fail "POST /api/v2/alerts"

check() {
  curl -fsS "$moto/moto-api/data.json" >"$work/data.json" || return 1
  python3 - "$work/data.json" "$topic" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["sns"]
topic = next(t for t in d["Topic"] if t["arn"] == sys.argv[2])
sent = topic["sent_notifications"]
sms = d["SMS"]
if not sent or not sms:
    sys.exit(1)
_id, message, subject, attributes, _group = sent[0]
assert subject == "[FIRING:1] HighErrorRate checkout (critical)", subject
assert "Error rate 12%" in message and "Alerts Firing:" in message, message
assert attributes["service"]["Value"] == "checkout", attributes
assert sms[0]["phone_number"] == "+15550001234", sms
assert sms[0]["message"] == "[CRIT] HighErrorRate checkout: Error rate 12%", sms
print(f"topic notification: subject {subject!r}, attributes {attributes}")
print(f"sms to {sms[0]['phone_number']}: {sms[0]['message']!r}")
PY
}
ok=""
for _ in $(seq 100); do
  if check 2>"$work/check.err"; then ok=1; break; fi
  sleep 0.1
done
[[ -n $ok ]] || { cat "$work/check.err"; fail "moto never recorded both the topic notification and the SMS"; }

# Each integration sent once (no SDK retries doubling up), and no secret reached the log.
sleep 1.5
curl -fsS "$moto/moto-api/data.json" >"$work/data.json"
python3 - "$work/data.json" "$topic" <<'PY' || fail "moto recorded more than one message per integration, or no assumed role"
import json, sys
data = json.load(open(sys.argv[1]))
d = data["sns"]
topic = next(t for t in d["Topic"] if t["arn"] == sys.argv[2])
assert len(topic["sent_notifications"]) == 1 and len(d["SMS"]) == 1, d
roles = [r.get("role_arn") for r in data.get("sts", {}).get("AssumedRole", [])]
assert roles == ["arn:aws:iam::123456789012:role/vitals-sns"], data.get("sts")
print(f"assumed through STS: {roles[0]}")
PY
if grep -qE 'vitals-test-secret|moto-env-secret' "$work/vitals.log"; then fail "a secret key reached vitals' log"; fi
echo "sns_configs against moto: ok"
