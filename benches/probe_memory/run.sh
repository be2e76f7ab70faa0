#!/usr/bin/env bash
# Probe memory over time: TARGETS HTTP targets (default 2,000) against one nginx, probed by two
# vitals at once with the default retention (15m): one every 1 s, one every 15 s (the default
# interval). Every minute for MINUTES (default 20) prints each one's RSS, its anonymous part
# and its store's chunk bytes (`vitals_store_chunk_bytes`), so the curve shows where RSS
# settles once retention starts dropping samples (after 15 minutes).
#
#   benches/probe_memory/run.sh                  # TARGETS=2000 MINUTES=20
#   VITALS_BIN=/path/to/vitals benches/probe_memory/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TARGETS=${TARGETS:-2000}
MINUTES=${MINUTES:-20}
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || { apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx >/dev/null; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x ${VITALS_BIN:-} ]] || { (cd "$root" && cargo build --release --quiet); VITALS_BIN=$root/target/release/vitals; }

# $work, pids, port, kib
source "$root/tests/interop/lib/common.bash"
mib() { awk -v k="$(kib "$1" "${2:-VmRSS}")" 'BEGIN {printf "%.1f", k/1024}'; }
chunk_mib() { curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^vitals_store_chunk_bytes / {printf "%.1f", $2/1048576}'; }

nport=$(port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $work/nginx/client_body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$nport;
        default_type application/json;
        location /health { return 200 '{"status":"UP"}'; }
    }
}
NGINX
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)

declare -A vport vpid
for interval in 1s 15s; do
  vport[$interval]=$(port)
  {
    printf 'server: {listen: "127.0.0.1:%s"}\n' "${vport[$interval]}"
    printf 'storage: {path: "%s/data-%s"}\n' "$work" "$interval"
    printf 'probes:\n  max_concurrency: 512\n  defaults: {interval: %s, timeout: 900ms}\n  targets:\n' "$interval"
    for ((i = 0; i < TARGETS; i++)); do
      printf '    - {name: t%d, url: "http://127.0.0.1:%s/health?i=%d", conditions: ["status == 200"]}\n' "$i" "$nport" "$i"
    done
  } > "$work/vitals-$interval.yaml"
  "$VITALS_BIN" run -c "$work/vitals-$interval.yaml" 2>"$work/vitals-$interval.log" & vpid[$interval]=$!; pids+=(${vpid[$interval]})
done
for interval in 1s 15s; do
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:${vport[$interval]}/ready" >/dev/null 2>&1 && break; sleep 0.1; done
done

# RssAnon: the process's own memory; the rest of RSS is file-backed (the binary's code and
# read-only data, shared by every process running it).
printf '%6s %11s %12s %14s %12s %13s %15s\n' minute "RSS_1s MiB" "anon_1s MiB" "chunks_1s MiB" \
  "RSS_15s MiB" "anon_15s MiB" "chunks_15s MiB"
for m in $(seq 0 "$MINUTES"); do
  ((m)) && sleep 60
  printf '%6s %11s %12s %14s %12s %13s %15s\n' "$m" "$(mib "${vpid[1s]}")" "$(mib "${vpid[1s]}" RssAnon)" \
    "$(chunk_mib "${vport[1s]}")" "$(mib "${vpid[15s]}")" "$(mib "${vpid[15s]}" RssAnon)" "$(chunk_mib "${vport[15s]}")"
done
