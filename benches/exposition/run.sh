#!/usr/bin/env bash
# /metrics at fleet scale: vitals holding SERVICES x 6,327 OTLP series (default 40: 253,080),
# scraped the way Prometheus scrapes (gzip), side by side with Prometheus 2.42's
# `/federate?match[]={__name__=~".+"}` over the same series (Prometheus ingests a snapshot of
# vitals' own /federate to hold them). The whole run takes well under vitals' 5-minute lookback.
#
#   benches/exposition/run.sh        # SERVICES=40 ROUNDS=5
#   OLD_BIN=/path/to/older/vitals benches/exposition/run.sh   # an older build too, same data
#
# Per round and system: the answer's time (curl time_total) and bytes. For vitals also the
# peak RSS growth during the scrape: VmHWM after the scrape minus VmRSS before it, with the
# high-water mark reset (`echo 5 > /proc/PID/clear_refs`) just before. Rounds alternate the
# systems; the summary gives medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}
SERVICES=${SERVICES:-40}
ROUNDS=${ROUNDS:-5}
command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || python3 -m pip install -q opentelemetry-proto >/dev/null
[[ -x ${VITALS_BIN:-} ]] || { (cd "$root" && cargo build --release --quiet); VITALS_BIN=$root/target/release/vitals; }

# $work, pids, port, kib
source "$root/tests/interop/lib/common.bash"

vport=$(port); oport=$(port); pport=$(port); hport=$(port)
mkdir -p "$work/www"
cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data", max_series: 1000000, checkpoint_interval: 0s}
otlp: {grpc_listen: "", http_listen: "127.0.0.1:$oport"}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & vpid=$!; pids+=($vpid)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$vport/ready" >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$here/post.py" "http://127.0.0.1:$oport/v1/metrics" "$SERVICES" "$shared"
if [[ -n ${OLD_BIN:-} ]]; then
  oldv=$(port); oldo=$(port)
  sed -e "s/$vport/$oldv/" -e "s/$oport/$oldo/" -e "s#$work/data#$work/old-data#" "$work/vitals.yaml" > "$work/old.yaml"
  "$OLD_BIN" run -c "$work/old.yaml" 2>"$work/old.log" & opid=$!; pids+=($opid)
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$oldv/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  python3 "$here/post.py" "http://127.0.0.1:$oldo/v1/metrics" "$SERVICES" "$shared"
fi
series=$(curl -fsS "http://127.0.0.1:$vport/metrics" | awk '/^vitals_store_series / {print $2}')
echo "vitals holds $series series"

# Prometheus gets the same series from a snapshot of vitals' /federate (explicit timestamps,
# so they stay in its 5-minute lookback after the snapshot's server stops, unlike a scrape of
# vitals, which would also load vitals during the timing).
curl -fsS -G "http://127.0.0.1:$vport/federate" --data-urlencode 'match[]={job=~"svc-.+"}' > "$work/www/metrics"
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & hpid=$!; pids+=($hpid)
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 2s, scrape_timeout: 2s}
scrape_configs:
  - job_name: snapshot
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$hport"]}]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prom.log" 2>&1 & pids+=($!)
want=$((series * 9 / 10))
n=0
for _ in $(seq 120); do
  n=$(curl -fsS "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=scrape_samples_scraped' 2>/dev/null \
      | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)' 2>/dev/null || echo 0)
  [[ $n -ge $want ]] && break
  sleep 1
done
kill "$hpid"
echo "Prometheus ingested $n samples from the snapshot"
[[ $n -ge $want ]] || { tail -n 20 "$work/prom.log"; exit 1; }

printf '%-10s %5s %9s %12s %14s\n' system round time_s bytes peak_rss_KiB
rows=()
for round in $(seq "$ROUNDS"); do
  before=$(kib "$vpid" VmRSS); echo 5 > "/proc/$vpid/clear_refs"
  read -r t b < <(curl -sS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$vport/metrics")
  peak=$(( $(kib "$vpid" VmHWM) - before ))
  printf '%-10s %5s %9s %12s %14s\n' vitals "$round" "$t" "$b" "$peak"; rows+=("vitals $t $b $peak")
  read -r t b < <(curl -sS -G -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total} %{size_download}\n' \
    --data-urlencode 'match[]={__name__=~".+"}' "http://127.0.0.1:$pport/federate")
  printf '%-10s %5s %9s %12s %14s\n' prometheus "$round" "$t" "$b" -; rows+=("prometheus $t $b 0")
  if [[ -n ${OLD_BIN:-} ]]; then
    before=$(kib "$opid" VmRSS); echo 5 > "/proc/$opid/clear_refs"
    read -r t b < <(curl -sS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$oldv/metrics")
    peak=$(( $(kib "$opid" VmHWM) - before ))
    printf '%-10s %5s %9s %12s %14s\n' old "$round" "$t" "$b" "$peak"; rows+=("old $t $b $peak")
  fi
done
echo "samples in each answer: vitals $(curl -fsS --compressed "http://127.0.0.1:$vport/metrics" | grep -vc '^#')," \
  "Prometheus $(curl -fsS --compressed -G "http://127.0.0.1:$pport/federate" --data-urlencode 'match[]={__name__=~".+"}' | grep -vc '^#')" \
  "(uncompressed: vitals $(curl -fsS "http://127.0.0.1:$vport/metrics" | wc -c) bytes," \
  "Prometheus $(curl -fsS -G "http://127.0.0.1:$pport/federate" --data-urlencode 'match[]={__name__=~".+"}' | wc -c) bytes)"
python3 - "${rows[@]}" <<'PY'
import sys, statistics
rows = [r.split() for r in sys.argv[1:]]
med = lambda s, i: statistics.median(float(r[i]) for r in rows if r[0] == s)
v, p = med("vitals", 1), med("prometheus", 1)
print(f"median: vitals /metrics {v:.3f} s, Prometheus /federate {p:.3f} s (vitals/Prometheus = {v/p:.2f}); "
      f"vitals peak RSS growth {med('vitals', 3)/1024:.1f} MiB, largest {max(float(r[3]) for r in rows if r[0] == 'vitals')/1024:.1f} MiB")
if any(r[0] == "old" for r in rows):
    print(f"older build: /metrics {med('old', 1):.3f} s, peak RSS growth {med('old', 3)/1024:.1f} MiB")
PY
