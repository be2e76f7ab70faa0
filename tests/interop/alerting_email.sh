#!/usr/bin/env bash
# vitals mails a notification over SMTP with STARTTLS to a real SMTP server (python aiosmtpd,
# `require_starttls=True`, self-signed certificate): the mail arrives over TLS with
# Alertmanager's default subject (`[FIRING:1] ...`), From/To headers and a
# multipart/alternative body with text/plain and text/html parts. The receiver trusts the
# server's certificate (signed by a private CA) through `tls_config: {ca_file}`, as with
# Alertmanager; a receiver without it must refuse the certificate.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
python3 -c 'import aiosmtpd' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check aiosmtpd >/dev/null 2>&1 \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages aiosmtpd >/dev/null
command -v openssl >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq --no-install-recommends openssl >/dev/null; }
source "$(dirname "$0")/lib/common.bash"
vport=$(port); sport=$(port)

# A private CA and a server certificate it signs (a CA certificate used as the server's own
# is refused by rustls/webpki: CaUsedAsEndEntity).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$work/key.pem" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" \
  -CAcreateserial -days 1 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null

# The SMTP server: each accepted message as <n>.eml plus <n>.json (envelope, TLS or not).
cat > "$work/smtpd.py" <<'PY'
import asyncio, json, os, ssl, sys
from aiosmtpd.controller import Controller
port, out, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Handler:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        base = os.path.join(out, f"{Handler.n:04d}")
        with open(base + ".eml", "wb") as f: f.write(envelope.original_content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None, "helo": session.host_name}
        with open(base + ".tmp", "w") as f: json.dump(meta, f)
        os.rename(base + ".tmp", base + ".json")
        return "250 OK"
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
c.start()
print("ready", flush=True)
try:
    asyncio.get_event_loop().run_forever()
except KeyboardInterrupt:
    pass
PY
mkdir -p "$work/mail"
python3 "$work/smtpd.py" "$sport" "$work/mail" "$work/cert.pem" "$work/key.pem" >"$work/smtpd.log" 2>&1 & pids+=($!)

cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
alerting:
  global: {smtp_smarthost: "127.0.0.1:$sport", smtp_from: "vitals@example.com", smtp_hello: vitals.test}
  route:
    receiver: mail
    group_by: [alertname, service]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
    routes: [{matchers: ['team="strict"'], receiver: strict}]
  receivers:
    - name: mail
      email_configs:
        - {to: "ops@example.com, oncall@example.com", tls_config: {ca_file: "$work/ca.pem"}, timeout: 5s}
    - name: strict
      email_configs: [{to: "strict@example.com", timeout: 5s}]
  delivery: {min_backoff: 200ms, max_backoff: 500ms, give_up_after: 10s}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pids+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$vport/ready" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do grep -q ready "$work/smtpd.log" 2>/dev/null && break; sleep 0.1; done

fail() { echo "FAIL: $*"; tail -n 15 "$work/smtpd.log" "$work/vitals.log"; exit 1; }
curl -fsS -H 'content-type: application/json' "http://127.0.0.1:$vport/api/v2/alerts" -d '[
  {"labels": {"alertname": "DiskFull", "service": "db", "severity": "critical"},
   "annotations": {"summary": "disk of db is 97% full", "description": "only 3% left"},
   "generatorURL": "http://prometheus/graph?g0.expr=disk"},
  {"labels": {"alertname": "Strict", "service": "x", "team": "strict"}}]' >/dev/null

for _ in $(seq 100); do [[ -e $work/mail/0001.json ]] && break; sleep 0.2; done
[[ -e $work/mail/0001.json ]] || fail "no mail within 20s"
python3 - "$work/mail/0001.json" "$work/mail/0001.eml" <<'PY' || fail "the mail: $(cat "$work/mail/0001.eml")"
import email, email.policy, json, sys
meta = json.load(open(sys.argv[1]))
assert meta["tls"], "the mail was not sent over STARTTLS"
assert meta["mail_from"] == "vitals@example.com", meta
assert sorted(meta["rcpt_tos"]) == ["oncall@example.com", "ops@example.com"], meta
assert meta["helo"] == "vitals.test", meta
m = email.message_from_binary_file(open(sys.argv[2], "rb"), policy=email.policy.default)
# Alertmanager's __subject: [STATUS:n] group label values (the other common labels).
assert m["Subject"] == "[FIRING:1] DiskFull db (critical)", m["Subject"]
assert m["From"] == "vitals@example.com", m["From"]
assert [a.addr_spec for a in m["To"].addresses] == ["ops@example.com", "oncall@example.com"], m["To"]
assert m["Date"] and m["Message-ID"], dict(m)
assert m.get_content_type() == "multipart/alternative", m.get_content_type()
parts = {p.get_content_type(): p.get_content() for p in m.iter_parts()}
assert sorted(parts) == ["text/html", "text/plain"], sorted(parts)
text, html = parts["text/plain"], parts["text/html"]
for body in (text, html):
    assert "DiskFull" in body and "disk of db is 97% full" in body, body
assert "<html" in html.lower() and "http://prometheus/graph?g0.expr=disk" in html, html
print(f"ok: mail over STARTTLS, Subject {m['Subject']!r}, From {m['From']}, To {m['To']}, parts {sorted(parts)}")
PY

# The strict receiver verifies the certificate: it fails, and no mail reaches strict@.
for _ in $(seq 50); do
  n=$(curl -fsS "http://127.0.0.1:$vport/metrics" | grep -E '^vitals_notifications_failed_total\{.*receiver="strict"' | awk '{s+=$2} END {print s+0}')
  [[ $n -ge 1 ]] && break; sleep 0.2
done
[[ $n -ge 1 ]] || fail "the strict receiver did not count a failed send"
grep -q 'receiver="strict".*invalid peer certificate' "$work/vitals.log" || fail "the strict receiver failed for another reason"
grep -l strict@example.com "$work"/mail/*.json >/dev/null 2>&1 && fail "a mail reached strict@ without a trusted certificate"
echo "ok: without ca_file the self-signed certificate is refused ($n failed attempts counted)"
ls "$work"/mail/*.json | wc -l | grep -qx 1 || fail "more than one mail: $(ls "$work/mail")"
echo "ok: one mail in all"
