#!/usr/bin/env bash
# OTLP/HTTP ingest load: vitals against rotel (`--exporter blackhole`), side by side, one at a
# time, on the shared payload (999 data points a request: counter, gauge, 15-bucket histogram)
# posted by wrk over 8 connections on loopback.
#
#   benches/otlp_load/run.sh          # DURATION=10 (seconds per run), ROUNDS=2
#
# Loads (LOADS, default "fresh4 fresh8 shared"): `freshN` is ../shared/bench/otlp_fresh.lua on
# a payload from `make_otlp_payload.py 333 OUT --fresh`, wrk -tN -cN: N senders, each its own
# service and connection, every request a new timestamp, so every point is a new sample vitals
# must store (what SDKs send); `shared` is ../shared/bench/otlp_post.lua exactly (the same body
# again and again: after the first request every point is an identical re-write). Reports
# requests/s, data points/s, RSS after the load and, for vitals, the series it holds and the
# samples it stored over those sent (`vitals_store_samples_appended_total`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED:-$root/../shared/bench}
DURATION=${DURATION:-10}
LOADS=${LOADS:-fresh4 fresh8 shared}
ROUNDS=${ROUNDS:-2}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import opentelemetry.proto' 2>/dev/null || python3 -m pip install -q opentelemetry-proto >/dev/null
python3 -c 'import rotel' 2>/dev/null || python3 -m pip install -q rotel >/dev/null
rotel=$(python3 -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
# VITALS_BINS: one or more vitals binaries, each run as its own system (named by file name),
# for builds side by side; default: the release build.
if [[ -z ${VITALS_BINS:-} ]]; then
  [[ -x $root/target/release/vitals ]] || (cd "$root" && cargo build --release --quiet)
  VITALS_BINS=$root/target/release/vitals
fi
declare -A vitals_bin
systems=(rotel)
for b in $VITALS_BINS; do systems+=("$(basename "$b")"); vitals_bin[$(basename "$b")]=$b; done

work=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 "$shared/make_otlp_payload.py" 333 "$work/shared.pb" >/dev/null
python3 "$shared/make_otlp_payload.py" 333 "$work/fresh.pb" --fresh >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }

start() {  # start SYSTEM PORT -> sets pid
  case $1 in
    rotel)
      "$rotel" start --exporter blackhole --otlp-http-endpoint "127.0.0.1:$2" \
        --otlp-grpc-endpoint "127.0.0.1:$(port)" --pid-file "$work/rotel.pid" >"$work/rotel.log" 2>&1 &
      pid=$! ;;
    *)
      # A fresh store each time: a checkpoint of the last run would hold newer samples of the
      # same series (every run starts at the payload's timestamp) and refuse the whole load.
      rm -rf "$work/data"
      cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$(port)"}
storage: {path: "$work/data"}
otlp: {grpc_listen: "", http_listen: "127.0.0.1:$2"}
YAML
      "${vitals_bin[$1]}" run -c "$work/vitals.yaml" 2>"$work/vitals.log" &
      pid=$!
      vport=$(sed -n 's/^server: {listen: "127.0.0.1:\([0-9]*\)"}/\1/p' "$work/vitals.yaml") ;;
  esac
  for _ in $(seq 100); do
    curl -s -o /dev/null -X POST -H 'content-type: application/x-protobuf' "http://127.0.0.1:$2/v1/metrics" && return 0
    sleep 0.1
  done
  echo "$1 did not start"; exit 1
}

printf '%-14s %-7s %6s %10s %12s %8s %8s %9s %7s %s\n' system load round req/s points/s RSS_MiB CPU_s series stored non2xx
results=()
for round in $(seq "$ROUNDS"); do
  for load in $LOADS; do
    for system in "${systems[@]}"; do
      p=$(port); start "$system" "$p"
      if [[ $load == shared ]]; then
        out=$(OTLP_BODY="$work/shared.pb" wrk -t1 -c8 -d"${DURATION}s" -s "$shared/otlp_post.lua" "http://127.0.0.1:$p/v1/metrics")
      else
        n=${load#fresh}
        out=$(OTLP_BODY="$work/fresh.pb" wrk -t"$n" -c"$n" -d"${DURATION}s" -s "$shared/otlp_fresh.lua" "http://127.0.0.1:$p/v1/metrics")
      fi
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      non2xx=$(grep -o 'non2xx=[0-9]*' <<<"$out" | cut -d= -f2 || true)
      [[ -z $non2xx ]] && non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' <<<"$out" | grep -o '[0-9]*$' || echo 0)
      rss=$(rss_mib "$pid"); cpu=$(cpu_s "$pid")
      series="-"; stored="-"
      if [[ $system != rotel ]]; then
        m=$(curl -fsS "http://127.0.0.1:$vport/metrics")
        series=$(awk '/^vitals_store_series / {print $2}' <<<"$m")
        # Samples stored over samples sent (6,327 series a request; the shared load re-sends
        # identical points, which are stored once).
        stored=$(awk -v r="$reqs" '/^vitals_store_samples_appended_total / {printf "%.3f", $2 / (r * 6327)}' <<<"$m")
      fi
      pts=$(python3 -c "print(round(float('$rps') * 999))")
      printf '%-14s %-7s %6s %10s %12s %8s %8s %9s %7s %s\n' "$system" "$load" "$round" "$rps" "$pts" "$rss" "$cpu" "$series" "$stored" "${non2xx:-0}"
      results+=("$system $load $round $rps $rss $series")
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
  done
done
python3 - "${results[@]}" <<'PY'
import sys, collections, statistics
rows = [r.split() for r in sys.argv[1:]]
rps = collections.defaultdict(list); rss = collections.defaultdict(list)
for system, load, rnd, r, mem, series in rows:
    rps[(system, load)].append(float(r)); rss[(system, load)].append(float(mem))
for load in sorted({r[1] for r in rows}):
    peer = rps[("rotel", load)]
    for system in sorted({r[0] for r in rows if r[0] != "rotel"}):
        mine = rps[(system, load)]
        if peer and mine:
            print(f"{load}: {system}/rotel points/s = {statistics.median(mine)/statistics.median(peer):.2f} (medians), "
                  f"{max(mine)/max(peer):.2f} (best of rounds); RSS {system}/rotel = "
                  f"{max(rss[(system, load)])/max(rss[('rotel', load)]):.2f}")
PY
