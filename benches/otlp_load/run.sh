#!/usr/bin/env bash
# OTLP/HTTP ingest load: vitals against rotel (`--exporter blackhole`), side by side, one at a
# time, on the shared payload (999 data points a request: counter, gauge, 15-bucket histogram)
# posted by wrk over 8 connections on loopback.
#
#   benches/otlp_load/run.sh          # DURATION=10 (seconds per run), ROUNDS=2
#
# Two loads: `shared` is ../shared/bench/otlp_post.lua exactly (the same body again and again:
# after the first request every point is an identical re-write); `fresh` gives each of 8 wrk
# threads its own service and a timestamp that advances every request, so every point is a new
# sample vitals must store. Reports requests/s, data points/s, RSS after the load and, for vitals,
# the series it holds and RSS per series.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || python3 -m pip install -q opentelemetry-proto >/dev/null
python3 -c 'import rotel' 2>/dev/null || python3 -m pip install -q rotel >/dev/null
rotel=$(python3 -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
[[ -x $root/target/release/vitals ]] || (cd "$root" && cargo build --release --quiet)
vitals=$root/target/release/vitals

work=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 "$shared/make_otlp_payload.py" 333 "$work/shared.pb" >/dev/null
python3 "$here/make_payload.py" 333 "$work/fresh.pb" "$shared"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }

start() {  # start SYSTEM PORT -> sets pid
  case $1 in
    rotel)
      "$rotel" start --exporter blackhole --otlp-http-endpoint "127.0.0.1:$2" \
        --otlp-grpc-endpoint "127.0.0.1:$(port)" --pid-file "$work/rotel.pid" >"$work/rotel.log" 2>&1 &
      pid=$! ;;
    vitals)
      cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$(port)"}
storage: {path: "$work/data"}
otlp: {grpc_listen: "", http_listen: "127.0.0.1:$2"}
YAML
      "$vitals" run -c "$work/vitals.yaml" 2>"$work/vitals.log" &
      pid=$!
      vport=$(sed -n 's/^server: {listen: "127.0.0.1:\([0-9]*\)"}/\1/p' "$work/vitals.yaml") ;;
  esac
  for _ in $(seq 100); do
    curl -s -o /dev/null -X POST -H 'content-type: application/x-protobuf' "http://127.0.0.1:$2/v1/metrics" && return 0
    sleep 0.1
  done
  echo "$1 did not start"; exit 1
}

printf '%-7s %-7s %6s %10s %12s %8s %8s %9s %s\n' system load round req/s points/s RSS_MiB CPU_s series non2xx
results=()
for round in $(seq "$ROUNDS"); do
  for load in shared fresh; do
    for system in rotel vitals; do
      p=$(port); start "$system" "$p"
      if [[ $load == shared ]]; then
        out=$(OTLP_BODY="$work/shared.pb" wrk -t1 -c8 -d"${DURATION}s" -s "$shared/otlp_post.lua" "http://127.0.0.1:$p/v1/metrics")
      else
        out=$(OTLP_BODY="$work/fresh.pb" wrk -t8 -c8 -d"${DURATION}s" -s "$here/fresh.lua" "http://127.0.0.1:$p/v1/metrics")
      fi
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      non2xx=$(grep -o 'non2xx=[0-9]*' <<<"$out" | cut -d= -f2 || true)
      [[ -z $non2xx ]] && non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$out" | grep -o '[0-9]*$' || echo 0)
      rss=$(rss_mib "$pid"); cpu=$(cpu_s "$pid")
      series="-"
      if [[ $system == vitals ]]; then
        series=$(curl -fsS "http://127.0.0.1:$vport/metrics" | awk '/^vitals_store_series / {print $2}')
      fi
      pts=$(python3 -c "print(round(float('$rps') * 999))")
      printf '%-7s %-7s %6s %10s %12s %8s %8s %9s %s\n' "$system" "$load" "$round" "$rps" "$pts" "$rss" "$cpu" "$series" "${non2xx:-0}"
      results+=("$system $load $round $rps $rss $series")
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
  done
done
python3 - "${results[@]}" <<'PY'
import sys, collections
rows = [r.split() for r in sys.argv[1:]]
best = collections.defaultdict(float); rss = {}
for system, load, rnd, rps, r, series in rows:
    best[(system, load)] = max(best[(system, load)], float(rps))
    rss[(system, load)] = max(rss.get((system, load), 0), float(r))
for load in ("shared", "fresh"):
    v, r = best[("vitals", load)], best[("rotel", load)]
    if r:
        print(f"{load}: vitals/rotel points/s = {v/r:.2f} (best of rounds); RSS vitals/rotel = {rss[('vitals', load)]/rss[('rotel', load)]:.2f}")
PY
