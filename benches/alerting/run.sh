#!/usr/bin/env bash
# Alerting benchmark: vitals' alerting stage vs Alertmanager 0.25 (Debian
# `prometheus-alertmanager`), side by side in one invocation, with the same routing config
# (webhook_configs to one local receiver, bench.py's asyncio server, /vitals and /am paths).
#
#   1. latency: N alerts POSTed to /api/v2/alerts one at a time, each its own group,
#      alternating vitals / Alertmanager, SPACING_MS apart per system, group_wait 0s;
#      latency = receiver arrival - time just before the POST (CLOCK_MONOTONIC; the send time
#      rides in the `sent` annotation). p50/p99/max per system. 5 warm-up alerts not counted.
#   2. burst: fresh processes; BURST_ALERTS alerts in BURST_GROUPS groups (label grp; a
#      group's alerts are consecutive, so every POST of POST_SIZE carries whole groups),
#      POSTed back to back to one system while the other idles, then the other
#      (the order alternates by round). Time from the first POST to the last group's
#      notification listing all its alerts; groups, notifications, alerts in bodies, lost;
#      VmRSS and VmHWM after; vitals' outbox gauge after.
#   3. e2e (vitals only): a probe target (bench.py target) every 1s (timeout 500ms), rule
#      `probe_success == 0` (for 0s, group interval 1s), group_wait 0s, group_interval 1s;
#      the target answers 503 from T (a random phase); T -> firing notification, E2E_REPS times.
#
# Env (defaults): N=200 SPACING_MS=20 BURST_ALERTS=10000 BURST_GROUPS=500 POST_SIZE=1000
#                 BURST_ROUNDS=2 E2E_REPS=5 ORDER=vitals-first|am-first
#                 VITALS_BIN=<repo>/target/release/vitals  KEEP_TMP=0  VITALS_LOG=info
#                 STORAGE_ROOT=<temp dir> (where vitals' storage.path goes)
#                 BURST_ROUNDS=0 or E2E_REPS=0 skip that phase
#                 RESULTS=<this dir>/RESULTS.md (the run's table is appended)
# Everything listens on 127.0.0.1, on free ports. Needs python3, curl, prometheus-alertmanager.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CMDLINE="$(printf '%q ' "$0" "$@")"
for v in N SPACING_MS BURST_ALERTS BURST_GROUPS POST_SIZE BURST_ROUNDS E2E_REPS ORDER VITALS_LOG STORAGE_ROOT MALLOC_ARENA_MAX; do
    if [[ -n "${!v+set}" ]]; then CMDLINE="$v=${!v} $CMDLINE"; fi
done
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
REPO="$(cd "$HERE/../.." && pwd)"
N="${N:-200}"
SPACING_MS="${SPACING_MS:-20}"
BURST_ALERTS="${BURST_ALERTS:-10000}"
BURST_GROUPS="${BURST_GROUPS:-500}"
POST_SIZE="${POST_SIZE:-1000}"
BURST_ROUNDS="${BURST_ROUNDS:-2}"
E2E_REPS="${E2E_REPS:-5}"
ORDER="${ORDER:-vitals-first}"
VITALS_BIN="${VITALS_BIN:-$REPO/target/release/vitals}"
KEEP_TMP="${KEEP_TMP:-0}"
RESULTS="${RESULTS:-$HERE/RESULTS.md}"
export VITALS_LOG="${VITALS_LOG:-info}"
AM=/usr/bin/prometheus-alertmanager

log() { printf '[alerting %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- dependencies -------------------------------------------------------------------------------
need=()
[[ -x $AM ]] || need+=(prometheus-alertmanager)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    made_policy=0 # keep the package's init script from starting a system-wide Alertmanager
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    timeout 300 apt-get update -qq || log "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}"
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi
if [[ ! -x $VITALS_BIN ]]; then
    log "building vitals (cargo build --release --bin vitals)"
    (cd "$REPO" && cargo build --release --bin vitals)
fi
PY="python3 $HERE/bench.py"

# --- processes, temp dir, cleanup ---------------------------------------------------------------
TMP="$(mktemp -d /tmp/alerting_bench.XXXXXX)"
PIDS=()
# vitals' storage.path goes under STORAGE_ROOT (default: the temp dir). A tmpfs there
# (STORAGE_ROOT=/dev/shm/x) shows what the outbox's fsync costs.
if [[ -n "${STORAGE_ROOT:-}" ]]; then VDATA="$(mktemp -d "$STORAGE_ROOT/alerting_bench.XXXXXX")"; else VDATA="$TMP"; fi
stop_pid() { # TERM, then KILL after 10 s
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ $VDATA != "$TMP" ]]; then rm -rf "$VDATA"; fi
    if [[ $KEEP_TMP == 1 || $rc -ne 0 ]]; then log "logs and configs kept in $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_bg() { # logfile cmd...; sets LAST_PID
    local logf="$1"; shift
    "$@" >"$logf" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url name pid
    local i
    for ((i = 0; i < 300; i++)); do
        curl -fs -o /dev/null "$1" && return 0
        kill -0 "$3" 2>/dev/null || die "$2 exited; see $TMP"
        sleep 0.1
    done
    die "$2 did not answer $1 within 30 s"
}

RECV_PORT=$(port)
RECV_URL="http://127.0.0.1:$RECV_PORT"
export RECV_URL
start_bg "$TMP/receiver.log" $PY receiver "$RECV_PORT"
RECV_PID=$LAST_PID
wait_http "$RECV_URL/_count" receiver "$RECV_PID"
selftest=$($PY selftest "$RECV_PORT" 4000)
log "receiver self-test: $selftest"
SELFTEST_PER_S=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["per_second"])' "$selftest")
python3 -c 'import sys; sys.exit(float(sys.argv[1]) < 500)' "$SELFTEST_PER_S" ||
    die "the receiver handles only $SELFTEST_PER_S POSTs/s (< 500): it would be the bottleneck"

# The routing both get (Alertmanager's schema). group_interval only matters for a group's
# later notifications; repeat_interval keeps repeats out of the window.
route() { # receiver-path
    cat <<YAML
route:
  receiver: hook
  group_by: [alertname, grp]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: "$RECV_URL$1"}]
YAML
}

VITALS_PID=""; AM_PID=""; V_PORT=""; AM_PORT=""
start_vitals() { # name receiver-path [extra yaml]
    local d="$TMP/$1"
    mkdir -p "$d"
    V_PORT=$(port)
    {
        printf 'server: {listen: "127.0.0.1:%s"}\n' "$V_PORT"
        printf 'storage: {path: "%s/%s/data"}\n' "$VDATA" "$1"
        printf '%s\n' "${3:-}"
        printf 'alerting:\n'
        route "$2" | sed 's/^/  /'
    } >"$d/vitals.yaml"
    start_bg "$d/vitals.log" "$VITALS_BIN" run -c "$d/vitals.yaml"
    VITALS_PID=$LAST_PID
    wait_http "http://127.0.0.1:$V_PORT/ready" vitals "$VITALS_PID"
}
start_am() { # name
    local d="$TMP/$1"
    mkdir -p "$d/am-data"
    AM_PORT=$(port)
    route "/am" >"$d/alertmanager.yml"
    start_bg "$d/alertmanager.log" "$AM" --config.file="$d/alertmanager.yml" \
        --storage.path="$d/am-data" --web.listen-address="127.0.0.1:$AM_PORT" \
        --cluster.listen-address= --log.level=info
    AM_PID=$LAST_PID
    wait_http "http://127.0.0.1:$AM_PORT/-/ready" alertmanager "$AM_PID"
}
stop_both() {
    stop_pid "$VITALS_PID"
    stop_pid "$AM_PID"
}

OUTS=()

# --- 1. latency ---------------------------------------------------------------------------------
log "1. latency: $N alerts per system, ${SPACING_MS} ms apart, interleaved"
start_vitals lat /vitals
start_am lat
$PY latency "$TMP/latency.json" "$N" "$SPACING_MS" \
    "vitals=http://127.0.0.1:$V_PORT,/vitals" "alertmanager=http://127.0.0.1:$AM_PORT,/am"
OUTS+=("$TMP/latency.json")
curl -fsS "http://127.0.0.1:$V_PORT/metrics" >"$TMP/lat/vitals-metrics.txt" || true
stop_both

# --- 2. burst -----------------------------------------------------------------------------------
for ((r = 1; r <= BURST_ROUNDS; r++)); do
    first=vitals
    [[ $ORDER == am-first ]] && first=am
    ((r % 2 == 0)) && { [[ $first == vitals ]] && first=am || first=vitals; }
    log "2. burst round $r ($first first): $BURST_ALERTS alerts, $BURST_GROUPS groups, POSTs of $POST_SIZE"
    start_vitals "burst$r" /vitals
    start_am "burst$r"
    sleep 2 # both idle before the first burst
    burst_v() {
        $PY burst "$TMP/burst$r-vitals.json" "$BURST_ALERTS" "$BURST_GROUPS" "$POST_SIZE" vitals \
            "http://127.0.0.1:$V_PORT" /vitals "$VITALS_PID" "http://127.0.0.1:$V_PORT/metrics"
    }
    burst_a() {
        $PY burst "$TMP/burst$r-am.json" "$BURST_ALERTS" "$BURST_GROUPS" "$POST_SIZE" alertmanager \
            "http://127.0.0.1:$AM_PORT" /am "$AM_PID"
    }
    if [[ $first == vitals ]]; then burst_v; burst_a; else burst_a; burst_v; fi
    python3 - "$TMP/burst$r-vitals.json" "$TMP/burst$r-am.json" "$r" "$first" <<'PY'
import json, sys
for p in sys.argv[1:3]:
    d = json.load(open(p)); d["round"] = int(sys.argv[3]); d["order"] = sys.argv[4] + " first"
    json.dump(d, open(p, "w"), indent=1)
PY
    OUTS+=("$TMP/burst$r-vitals.json" "$TMP/burst$r-am.json")
    curl -fsS "http://127.0.0.1:$V_PORT/metrics" >"$TMP/burst$r/vitals-metrics.txt" || true
    stop_both
done

# --- 3. end to end (vitals only) ----------------------------------------------------------------
if ((E2E_REPS > 0)); then
log "3. e2e: probe -> rule -> notification, $E2E_REPS reps"
TARGET_PORT=$(port)
start_bg "$TMP/target.log" $PY target "$TARGET_PORT"
TARGET_PID=$LAST_PID
wait_http "http://127.0.0.1:$TARGET_PORT/health" target "$TARGET_PID"
mkdir -p "$TMP/e2e"
cat >"$TMP/e2e/rules.yml" <<YAML
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: TargetDown
        expr: probe_success == 0
        for: 0s
YAML
start_vitals e2e /e2e "$(printf 'probes:\n  targets:\n    - {name: flappy, url: "http://127.0.0.1:%s/health", interval: 1s, timeout: 500ms}\nrules: {files: ["%s"]}' \
    "$TARGET_PORT" "$TMP/e2e/rules.yml")"
sleep 3 # a few successful probes first
$PY e2e "$TMP/e2e.json" "$E2E_REPS" "$RECV_URL" "http://127.0.0.1:$TARGET_PORT"
OUTS+=("$TMP/e2e.json")
curl -fsS "http://127.0.0.1:$V_PORT/metrics" >"$TMP/e2e/vitals-metrics.txt" || true
stop_pid "$VITALS_PID"
fi

for f in "$TMP"/*/vitals.log; do
    n=$(grep -cE '\b(WARN|ERROR)\b' "$f" || true)
    if ((n)); then log "$f: $n warning/error lines, first: $(grep -E '\b(WARN|ERROR)\b' "$f" | head -1 | cut -c1-300)"; fi
done

# --- report -------------------------------------------------------------------------------------
META=$(python3 - "$CMDLINE" <<PY
import json, os, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(json.dumps({
    "date": "$(date -u +%FT%TZ)", "nproc": os.cpu_count(), "cpu": cpu,
    "loadavg": "$LOADAVG_START",
    "command": sys.argv[1].strip(),
    "vitals_version": "$("$VITALS_BIN" --version 2>/dev/null | awk '{print $2}')",
    "vitals_commit": "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)",
    "am_version": "$("$AM" --version 2>&1 | head -1 | awk '{print $3}')",
    "selftest_per_s": $SELFTEST_PER_S}))
PY
)
$PY report "$RESULTS" "$META" "${OUTS[@]}"
log "table appended to $RESULTS"
