#!/usr/bin/env bash
# amtool 0.25 (Debian's prometheus-alertmanager) against vitals' Alertmanager v2 API: adds,
# lists (simple, json, extended, quiet, by matcher) and expires a silence; lists posted alerts
# (active and silenced); and, with `server.api_token` set, passes the token through
# `--http.config.file` (authorization.credentials): mutations without it are refused.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
if ! command -v amtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
source "$(dirname "$0")/lib/common.bash"
oport=$(port); tport=$(port)

start() {  # start NAME PORT EXTRA-SERVER-FIELDS
  cat > "$work/$1.yaml" <<YAML
server: {listen: "127.0.0.1:$2"$3}
storage: {path: "$work/$1-data"}
alerting:
  route: {receiver: log, group_by: [alertname]}
  receivers: [{name: log}]
YAML
  "$VITALS_BIN" run -c "$work/$1.yaml" 2>"$work/$1.log" & pids+=($!)
}
start open "$oport" ""
start locked "$tport" ", api_token: s3cret-t0ken"
for p in "$oport" "$tport"; do
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$p/ready" >/dev/null 2>&1 && break; sleep 0.1; done
done

fail() { echo "FAIL: $*"; echo "-- amtool stderr:"; tail -n 5 "$work/amtool.err"; tail -n 10 "$work/open.log" "$work/locked.log"; exit 1; }
# am PORT ARGS...: amtool against vitals on PORT; its stderr (the version-mismatch warning,
# errors) goes to a file.
am() { local p=$1; shift; amtool --alertmanager.url="http://127.0.0.1:$p" "$@" 2>"$work/amtool.err"; }
amq() { am "$@" --no-version-check; }

# -- silences, no token
id=$(am "$oport" silence add alertname=Foo service=~"web|api" --comment="interop test" --duration=1h) \
  || fail "silence add"
[[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "silence add printed '$id', not an id"
echo "ok: amtool silence add printed $id"
out=$(amq "$oport" silence query) || fail "silence query"
grep -q "^$id .*alertname=\"Foo\".*service=~\"web|api\".*interop test" <<<"$out" || fail "silence query: $out"
[[ $(amq "$oport" silence query -q) == "$id" ]] || fail "silence query -q"
[[ $(amq "$oport" silence query alertname=Foo -q) == "$id" ]] || fail "silence query alertname=Foo"
[[ -z $(amq "$oport" silence query alertname=Other -q) ]] || fail "silence query alertname=Other listed it"
amq "$oport" -o extended silence query | grep -q "$id" || fail "silence query -o extended"
amq "$oport" silence query -o json > "$work/silences.json" || fail "silence query -o json"
python3 - "$work/silences.json" "$id" <<'PY' || fail "silence query -o json: $(cat "$work/silences.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert [x["id"] for x in s] == [sys.argv[2]], s
x = s[0]
assert x["status"]["state"] == "active", x
assert x["comment"] == "interop test" and x["createdBy"], x
m = sorted((y["name"], y["value"], y["isRegex"], y.get("isEqual", True)) for y in x["matchers"])
assert m == [("alertname", "Foo", False, True), ("service", "web|api", True, True)], m
PY
echo "ok: amtool silence query lists it (simple, -q, by matcher, extended, json)"

# -- alerts posted with curl
curl -fsS -H 'content-type: application/json' "http://127.0.0.1:$oport/api/v2/alerts" -d '[
  {"labels": {"alertname": "Bar", "service": "checkout", "severity": "critical"}, "annotations": {"summary": "checkout is down"}},
  {"labels": {"alertname": "Foo", "service": "web"}, "annotations": {"summary": "silenced one"}}]' >/dev/null
out=$(amq "$oport" alert query) || fail "alert query"
grep -q '^Bar .*checkout is down .*active' <<<"$out" || fail "alert query: $out"
grep -q '^Foo ' <<<"$out" && fail "alert query lists the silenced alert as active: $out"
out=$(amq "$oport" alert query --silenced) || fail "alert query --silenced"
grep -q '^Foo .*silenced one .*suppressed' <<<"$out" || fail "alert query --silenced: $out"
amq "$oport" -o extended alert query alertname=Bar | grep -q 'service="checkout"' || fail "alert query -o extended alertname=Bar"
amq "$oport" -o json alert query service=checkout > "$work/alerts.json" || fail "alert query -o json"
python3 - "$work/alerts.json" "$id" <<'PY' || fail "alert query -o json: $(cat "$work/alerts.json")"
import json, sys
a = json.load(open(sys.argv[1]))
assert len(a) == 1 and a[0]["labels"] == {"alertname": "Bar", "service": "checkout", "severity": "critical"}, a
assert a[0]["status"]["state"] == "active" and a[0]["receivers"] == [{"name": "log"}], a
PY
echo "ok: amtool alert query lists the posted alert (active; the silenced one under --silenced)"

# -- expire
amq "$oport" silence expire "$id" || fail "silence expire"
[[ -z $(amq "$oport" silence query -q) ]] || fail "the expired silence is still listed as active"
[[ $(amq "$oport" silence query --expired -q) == "$id" ]] || fail "silence query --expired"
amq "$oport" -o json silence query --expired | python3 -c '
import json, sys; s = json.load(sys.stdin); assert s[0]["status"]["state"] == "expired", s' || fail "expired state"
amq "$oport" alert query | grep -q '^Foo ' || fail "Foo is not active again after the expiry"
echo "ok: amtool silence expire; --expired lists it expired; Foo is active again"

# -- api_token through --http.config.file
printf 'authorization: {credentials: s3cret-t0ken}\n' > "$work/http.yml"
printf 'authorization: {credentials: wrong}\n' > "$work/bad.yml"
for args in "" "--http.config.file=$work/bad.yml"; do
  # shellcheck disable=SC2086
  amq "$tport" $args silence add alertname=Foo --comment=x --duration=1h >/dev/null \
    && fail "silence add without the right token succeeded (${args:-no config})"
  grep -q 401 "$work/amtool.err" || fail "silence add without the token: $(cat "$work/amtool.err")"
  # shellcheck disable=SC2086
  amq "$tport" $args alert add alertname=Baz >/dev/null && fail "alert add without the right token succeeded"
done
echo "ok: without the token (or with a wrong one) silence add and alert add are refused (401)"
id=$(amq "$tport" --http.config.file="$work/http.yml" silence add alertname=Foo --comment=x --duration=1h) \
  || fail "silence add with the token"
[[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "silence add with the token printed '$id'"
amq "$tport" --http.config.file="$work/http.yml" alert add alertname=Baz severity=info --annotation=summary=baz \
  || fail "alert add with the token"
[[ $(amq "$tport" silence query -q) == "$id" ]] || fail "reads need no token"
amq "$tport" alert query alertname=Baz | grep -q '^Baz .*baz' || fail "alert add did not arrive"
amq "$tport" silence expire "$id" && fail "silence expire without the token succeeded"
amq "$tport" --http.config.file="$work/http.yml" silence expire "$id" || fail "silence expire with the token"
[[ $(amq "$tport" silence query --expired -q) == "$id" ]] || fail "not expired"
echo "ok: with --http.config.file (authorization.credentials) silence add, alert add and silence expire succeed"
