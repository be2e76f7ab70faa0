#!/usr/bin/env bash
# Probe load benchmark: vitals vs Prometheus + blackbox_exporter (http_2xx via file_sd),
# the same N HTTP targets every 1 s on loopback, one nginx answering /health?i=N.
#
# The two systems run one after the other (never at once: they would compete for the cores),
# against the same nginx, for the same warm-up and measurement window. See RESULTS.md.
#
# Env (defaults):  TARGETS=2000 WARMUP=20 DURATION=60 ROUNDS=1 ORDER=vitals-first|peer-first
#                  IDLE_TARGETS=5 IDLE_SECONDS=15 MAX_CONCURRENCY=512
#                  PEER_TARGETS=$TARGETS (only if the peer cannot keep up with TARGETS here)
#                  VITALS_BIN=<repo>/target/release/vitals (built with cargo if missing)
#                  OUT=<this dir>/last_run.json  KEEP_TMP=0
#                  PERF=0 (1: profile vitals with `perf record` after its window; needs linux-perf)
# Ports (127.0.0.1 only): nginx 18080, vitals 19470, Prometheus 19090, blackbox 19115.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

TARGETS="${TARGETS:-2000}"
# Targets given to Prometheus + blackbox_exporter. Default: the same as vitals. Lower it only
# when the peer cannot sustain TARGETS on this machine (its scrapes time out); the report says so.
PEER_TARGETS="${PEER_TARGETS:-$TARGETS}"
WARMUP="${WARMUP:-20}"
DURATION="${DURATION:-60}"
ROUNDS="${ROUNDS:-1}"
ORDER="${ORDER:-vitals-first}"
IDLE_TARGETS="${IDLE_TARGETS:-5}"
IDLE_SECONDS="${IDLE_SECONDS:-15}"
MAX_CONCURRENCY="${MAX_CONCURRENCY:-512}"
VITALS_BIN="${VITALS_BIN:-$REPO/target/release/vitals}"
OUT="${OUT:-$HERE/last_run.json}"
KEEP_TMP="${KEEP_TMP:-0}"
PERF="${PERF:-0}"                 # 1: perf record vitals for PERF_SECONDS after its window
PERF_SECONDS="${PERF_SECONDS:-20}"
PERF_OUT="${PERF_OUT:-$HERE/last_perf.txt}"
INTERVAL_S=1 # the requirement's interval; scrape_timeout/probe timeout is 900ms

NGINX_PORT=18080
VITALS_PORT=19470
PROM_PORT=19090
BB_PORT=19115
START_TIMEOUT=60 # seconds any process gets to answer after start

log() { printf '[probe_load %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Dependencies (Debian packages), installed only if missing.
# ---------------------------------------------------------------------------------------------
need_pkgs=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need_pkgs+=(nginx)
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need_pkgs+=(prometheus-blackbox-exporter)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if [[ "$PERF" == 1 ]] && ! command -v perf >/dev/null 2>&1; then need_pkgs+=(linux-perf); fi
if ((${#need_pkgs[@]})); then
    log "installing Debian packages: ${need_pkgs[*]}"
    # Keep the packages' init scripts from starting system-wide daemons on 0.0.0.0.
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    timeout 300 apt-get update -qq || log "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
PY="$(command -v python3)"
CLK_TCK="$(getconf CLK_TCK)"

if [[ ! -x "$VITALS_BIN" ]]; then
    log "building vitals (cargo build --release)"
    (cd "$REPO" && cargo build --release --bin vitals)
fi
[[ -x "$VITALS_BIN" ]] || die "no vitals binary at $VITALS_BIN"

# ---------------------------------------------------------------------------------------------
# Temp dir, process bookkeeping, cleanup.
# ---------------------------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/probe_load.XXXXXX)"
PIDS=()

stop_pid() { # pid: TERM, then KILL after 10 s
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ "$KEEP_TMP" == 1 || $rc -ne 0 ]]; then
        log "logs and configs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_bg() { # logfile cmd...: starts cmd in the background, prints its pid
    local logf="$1"; shift
    "$@" >"$logf" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    LAST_PID=$pid
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $NGINX_PORT $VITALS_PORT $PROM_PORT $BB_PORT; do
    port_free "$p" || die "127.0.0.1:$p is already in use"
done

# ---------------------------------------------------------------------------------------------
# Helper: /proc snapshots, metric parsing, Prometheus queries, the report.
# ---------------------------------------------------------------------------------------------
HELPER="$TMP/helper.py"
cat >"$HELPER" <<'PYEOF'
import json, math, os, re, sys, time, urllib.parse, urllib.request

CLK = os.sysconf("SC_CLK_TCK")

def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()

def proc_children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d))
    return out

def proc_cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)

def proc_status_kb(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

def machine_ticks():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    busy = f[0] + f[1] + f[2] + f[5] + f[6]
    return {"busy": busy, "steal": f[7] if len(f) > 7 else 0, "total": sum(f[:8])}

def procs(spec):
    """spec: 'name=pid[+children],...' -> {name: [pids]}"""
    res = {}
    for part in filter(None, spec.split(",")):
        name, p = part.split("=")
        kids = p.endswith("+")
        pid = int(p.rstrip("+"))
        res[name] = [pid] + (proc_children(pid) if kids else [])
    return res

def snap(out, spec, metrics_url, order):
    """order 'metrics-first' (window start) or 'cpu-first' (window end), so that fetching
    /metrics is outside the CPU window."""
    s = {}
    def cpu():
        s["t"] = time.time()
        s["mono"] = time.monotonic()
        s["machine"] = machine_ticks()
        s["procs"] = {}
        for name, pids in procs(spec).items():
            s["procs"][name] = {
                "cpu_ticks": sum(proc_cpu_ticks(p) for p in pids),
                "rss_kb": sum(proc_status_kb(p, "VmRSS") for p in pids),
                "hwm_kb": sum(proc_status_kb(p, "VmHWM") for p in pids),
                "pids": pids,
            }
    def metrics():
        if metrics_url:
            s["metrics_t"] = time.time()
            s["metrics"] = http_get(metrics_url)
    if order == "metrics-first":
        metrics(); cpu()
    else:
        cpu(); metrics()
    json.dump(s, open(out, "w"))

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')

def parse(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out

def msum(samples, name, **match):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in match.items()))

def buckets(samples, name):
    b = {}
    for n, l, v in samples:
        if n == name + "_bucket":
            le = l["le"]
            b[math.inf if le == "+Inf" else float(le)] = v
    return b

def hist_quantile(q, b):
    """Prometheus histogram_quantile over cumulative buckets {le: count}."""
    les = sorted(b)
    if not les or b[les[-1]] == 0:
        return None
    rank = q * b[les[-1]]
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = b[le]
        if c >= rank:
            if math.isinf(le):
                return les[-2] if len(les) > 1 else None  # as Prometheus: the highest finite bound
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return les[-2]

def window(a, b, names):
    dt = b["mono"] - a["mono"]
    res = {"window_s": dt, "cpu_s": {}, "rss_mib_end": {}, "rss_mib_start": {}, "hwm_mib_end": {}}
    for n in names:
        pa, pb = a["procs"][n], b["procs"][n]
        res["cpu_s"][n] = (pb["cpu_ticks"] - pa["cpu_ticks"]) / CLK
        res["rss_mib_start"][n] = pa["rss_kb"] / 1024
        res["rss_mib_end"][n] = pb["rss_kb"] / 1024
        res["hwm_mib_end"][n] = pb["hwm_kb"] / 1024
    ma, mb = a["machine"], b["machine"]
    res["machine_busy_cpu_s"] = (mb["busy"] - ma["busy"]) / CLK
    res["machine_steal_cpu_s"] = (mb["steal"] - ma["steal"]) / CLK
    # CPU the rest of the machine used meanwhile (other tenants, kernel): the noise.
    res["other_cpu_s"] = res["machine_busy_cpu_s"] - sum(res["cpu_s"].values())
    return res

def vitals_result(a_path, b_path, targets, interval):
    a, b = json.load(open(a_path)), json.load(open(b_path))
    r = window(a, b, ["vitals", "nginx"])
    sa, sb = parse(a["metrics"]), parse(b["metrics"])
    mwin = b["metrics_t"] - a["metrics_t"]
    probes = msum(sb, "vitals_probes_total") - msum(sa, "vitals_probes_total")
    errors = msum(sb, "vitals_probe_errors_total") - msum(sa, "vitals_probe_errors_total")
    ba, bb = buckets(sa, "vitals_probe_start_lateness_seconds"), buckets(sb, "vitals_probe_start_lateness_seconds")
    delta = {le: bb[le] - ba.get(le, 0) for le in bb}
    late_count = max(delta.values()) if delta else 0
    over_100ms = late_count - delta.get(0.1, late_count)
    cpu = r["cpu_s"]["vitals"]
    r.update({
        "system": "vitals",
        "targets": targets,
        "probes": probes,
        "failed_probes": errors,
        "expected_probes": targets * mwin / interval,
        "done_fraction": probes / (targets * mwin / interval) if mwin > 0 else None,
        "cpu_ms_per_probe": 1000 * cpu / probes if probes else None,
        "lateness_p50_s": hist_quantile(0.5, delta),
        "lateness_p99_s": hist_quantile(0.99, delta),
        "lateness_over_100ms_fraction": over_100ms / late_count if late_count else None,
        "rss_mib": r["rss_mib_end"]["vitals"],
        "rss_growth_mib_per_min": (r["rss_mib_end"]["vitals"] - r["rss_mib_start"]["vitals"]) * 60 / r["window_s"],
        "process_cpu_seconds_total_delta": msum(sb, "process_cpu_seconds_total") - msum(sa, "process_cpu_seconds_total"),
    })
    return r

def prom_query(base, q, t):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{t:.3f}"})
    d = json.loads(http_get(url, timeout=60))
    if d.get("status") != "success":
        raise SystemExit(f"query failed: {q}: {d}")
    res = d["data"]["result"]
    return float(res[0]["value"][1]) if res else 0.0

def peer_result(a_path, b_path, targets, interval, prom):
    a, b = json.load(open(a_path)), json.load(open(b_path))
    r = window(a, b, ["prometheus", "blackbox", "nginx"])
    t_end = b["t"]
    ms = int(round((b["t"] - a["t"]) * 1000))
    rng = f"[{ms}ms]"
    probes = prom_query(prom, f'sum(count_over_time(probe_success{{job="blackbox"}}{rng}))', t_end)
    ok = prom_query(prom, f'sum(sum_over_time(probe_success{{job="blackbox"}}{rng}))', t_end)
    scrapes_up = prom_query(prom, f'sum(sum_over_time(up{{job="blackbox"}}{rng}))', t_end)
    scrapes = prom_query(prom, f'sum(count_over_time(up{{job="blackbox"}}{rng}))', t_end)
    # Prometheus's own view of scrape timing (a summary over its recent scrapes).
    own = parse(http_get(prom + "/metrics"))
    iv = {l.get("quantile"): v for n, l, v in own
          if n == "prometheus_target_interval_length_seconds" and l.get("interval") == "1s"}
    cpu = r["cpu_s"]["prometheus"] + r["cpu_s"]["blackbox"]
    r.update({
        "system": "prometheus+blackbox_exporter",
        "targets": targets,
        "probes": probes,
        "failed_probes": (probes - ok) + (scrapes - scrapes_up),
        "scrapes": scrapes,
        "expected_probes": targets * (ms / 1000) / interval,
        "done_fraction": probes / (targets * (ms / 1000) / interval),
        "cpu_s_total": cpu,
        "cpu_ms_per_probe": 1000 * cpu / probes if probes else None,
        "scrape_interval_p99_s": iv.get("0.99"),
        "scrape_interval_p01_s": iv.get("0.01"),
        "rss_mib": r["rss_mib_end"]["prometheus"] + r["rss_mib_end"]["blackbox"],
    })
    return r

def idle_result(path, targets):
    s = json.load(open(path))
    p = s["procs"]["vitals"]
    return {"targets": targets, "rss_mib": p["rss_kb"] / 1024, "hwm_mib": p["hwm_kb"] / 1024}

def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)

def report(out, meta_json, idle_path, *runs):
    meta = json.loads(meta_json)
    idle = json.load(open(idle_path)) if idle_path != "-" else None
    rs = [json.load(open(p)) for p in runs]
    v = [r for r in rs if r["system"] == "vitals"]
    p = [r for r in rs if r["system"] != "vitals"]
    def agg(lst, cpu_key):
        cpu = sum(cpu_key(r) for r in lst)
        probes = sum(r["probes"] for r in lst)
        return 1000 * cpu / probes if probes else None
    v_ms = agg(v, lambda r: r["cpu_s"]["vitals"])
    p_ms = agg(p, lambda r: r["cpu_s_total"])
    ratio = v_ms / p_ms if v_ms and p_ms else None
    # A ratio against a peer that could not keep up (its scrapes timing out) means nothing.
    valid = bool(v) and bool(p) and all(r["done_fraction"] >= 0.95 for r in rs)
    if not valid:
        ratio = None
    p99 = max((r["lateness_p99_s"] or 0) for r in v) if v else None
    summary = {
        "vitals_cpu_ms_per_probe": v_ms,
        "peer_cpu_ms_per_probe": p_ms,
        "cpu_ratio": ratio,
        "comparison_valid": valid,
        "vitals_lateness_p99_s_worst_round": p99,
        "vitals_done_fraction_min": min(r["done_fraction"] for r in v) if v else None,
        "peer_done_fraction_min": min(r["done_fraction"] for r in p) if p else None,
        "vitals_rss_mib_max": max(r["rss_mib"] for r in v) if v else None,
        "peer_rss_mib_max": max(r["rss_mib"] for r in p) if p else None,
        "vitals_idle_rss_mib": idle["rss_mib"] if idle else None,
        "pass": {
            "cpu_ratio_le_0.1": ratio is not None and ratio <= 0.1,
            "lateness_p99_lt_100ms": p99 is not None and p99 < 0.1,
            "rss_loaded_lt_40MiB": bool(v) and max(r["rss_mib"] for r in v) < 40,
            "rss_idle_lt_20MiB": idle is not None and idle["rss_mib"] < 20,
        },
    }
    doc = {"meta": meta, "idle": idle, "runs": rs, "summary": summary}
    json.dump(doc, open(out, "w"), indent=2)

    L, W = [], []
    if meta["peer_targets"] != meta["targets"]:
        W.append(f"the peer probed {meta['peer_targets']} targets, vitals {meta['targets']}: CPU per probe is compared across different loads")
    L.append(f"targets={meta['targets']} peer_targets={meta['peer_targets']} interval=1s warmup={meta['warmup_s']}s window={meta['duration_s']}s rounds={meta['rounds']} order={meta['order']}")
    L.append("")
    L.append("| round | system | targets | window s | probes | expected | done | failed | CPU s | CPU ms/probe | RSS MiB end | nginx CPU s | other CPU s (noise) | p99 lateness / scrape-interval p99 |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rs:
        cpu = r["cpu_s"]["vitals"] if r["system"] == "vitals" else r["cpu_s_total"]
        lat = (f"lateness p99 {fmt(r['lateness_p99_s'] and r['lateness_p99_s']*1000, '.1f')} ms"
               if r["system"] == "vitals" else f"interval p99 {fmt(r['scrape_interval_p99_s'], '.3f')} s")
        L.append(f"| {r['round']} | {r['system']} | {r['targets']} | {r['window_s']:.1f} | {r['probes']:.0f} | {r['expected_probes']:.0f} | "
                 f"{100*r['done_fraction']:.1f}% | {r['failed_probes']:.0f} | {cpu:.2f} | {fmt(r['cpu_ms_per_probe'], '.4f')} | "
                 f"{r['rss_mib']:.1f} | {r['cpu_s']['nginx']:.2f} | {r['other_cpu_s']:.2f} | {lat} |")
    L.append("")
    s = summary
    L.append("| requirement | measured | target | verdict |")
    L.append("|---|---|---|---|")
    L.append(f"| CPU per probe, vitals / peer | {fmt(v_ms, '.4f')} / {fmt(p_ms, '.4f')} ms = {fmt(ratio, '.3f')} | <= 0.1 | {('PASS' if s['pass']['cpu_ratio_le_0.1'] else 'FAIL') if valid else 'INVALID (a system did < 95% of its probes)'} |")
    L.append(f"| vitals p99 start lateness | {fmt(p99 and p99*1000, '.1f')} ms | < 100 ms | {'PASS' if s['pass']['lateness_p99_lt_100ms'] else 'FAIL'} |")
    L.append(f"| vitals probes done / expected | {fmt(s['vitals_done_fraction_min'] and 100*s['vitals_done_fraction_min'], '.1f')}% | ~100% | |")
    L.append(f"| vitals RSS, {meta['targets']} targets | {fmt(s['vitals_rss_mib_max'], '.1f')} MiB | < 40 MiB | {'PASS' if s['pass']['rss_loaded_lt_40MiB'] else 'FAIL'} |")
    L.append(f"| vitals RSS idle, {idle['targets'] if idle else '?'} targets | {fmt(s['vitals_idle_rss_mib'], '.1f')} MiB | < 20 MiB | {'PASS' if s['pass']['rss_idle_lt_20MiB'] else 'FAIL'} |")
    noisy = [r for r in rs if r["other_cpu_s"] > 0.15 * r["window_s"]]
    for r in noisy:
        W.append(f"round {r['round']} {r['system']}: other processes used {r['other_cpu_s']/r['window_s']:.2f} cores during the window; the machine was not quiet, numbers are not comparable")
    for r in rs:
        if r["done_fraction"] < 0.99:
            W.append(f"round {r['round']} {r['system']}: only {100*r['done_fraction']:.1f}% of expected probes done ({r['failed_probes']:.0f} failed)")
    doc["warnings"] = W
    json.dump(doc, open(out, "w"), indent=2)
    L.append(f"| peer RSS (prometheus + blackbox) | {fmt(s['peer_rss_mib_max'], '.1f')} MiB | (reference) | |")
    L += ["", *("WARNING: " + w for w in W)] if W else []
    print("\n".join(L))

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait":  # url timeout_s
        deadline = time.time() + float(args[1])
        while True:
            try:
                http_get(args[0], timeout=2); break
            except Exception as e:
                if time.time() > deadline:
                    raise SystemExit(f"{args[0]} did not answer in {args[1]} s: {e}")
                time.sleep(0.2)
    elif cmd == "snap":
        snap(args[0], args[1], args[2], args[3])
    elif cmd == "vitals":
        r = vitals_result(args[0], args[1], int(args[2]), float(args[3])); r["round"] = int(args[5])
        json.dump(r, open(args[4], "w"), indent=2)
    elif cmd == "peer":
        r = peer_result(args[0], args[1], int(args[2]), float(args[3]), args[4]); r["round"] = int(args[6])
        json.dump(r, open(args[5], "w"), indent=2)
    elif cmd == "idle":
        json.dump(idle_result(args[0], int(args[1])), open(args[2], "w"), indent=2)
    elif cmd == "report":
        report(*args)
    elif cmd == "prom_targets_up":  # prom_base expected: waits until that many targets are active
        deadline = time.time() + 60
        while True:
            d = json.loads(http_get(args[0] + "/api/v1/targets?state=active"))
            n = len(d["data"]["activeTargets"])
            if n >= int(args[1]): break
            if time.time() > deadline:
                raise SystemExit(f"Prometheus has {n} active targets, expected {args[1]}")
            time.sleep(0.5)
    else:
        raise SystemExit(f"unknown command {cmd}")
PYEOF

# ---------------------------------------------------------------------------------------------
# Configs.
# ---------------------------------------------------------------------------------------------
mkdir -p "$TMP/nginx" "$TMP/prom-data"
cat >"$TMP/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        default_type application/json;
        location /health { return 200 '{"status":"UP"}'; }
    }
}
EOF

write_vitals_config() { # file n_targets
    local f="$1" n="$2"
    {
        printf 'server: {listen: "127.0.0.1:%s"}\n' "$VITALS_PORT"
        printf 'storage: {path: "%s/vitals-data"}\n' "$TMP"
        printf 'probes:\n  max_concurrency: %s\n  defaults: {interval: 1s, timeout: 900ms}\n  targets:\n' "$MAX_CONCURRENCY"
        for ((i = 0; i < n; i++)); do
            printf '    - {name: t%d, url: "http://127.0.0.1:%s/health?i=%d", conditions: ["status == 200"]}\n' "$i" "$NGINX_PORT" "$i"
        done
    } >"$f"
}
write_vitals_config "$TMP/vitals.yaml" "$TARGETS"
write_vitals_config "$TMP/vitals-idle.yaml" "$IDLE_TARGETS"

{
    printf '[{"labels": {}, "targets": ['
    for ((i = 0; i < PEER_TARGETS; i++)); do
        ((i)) && printf ', '
        printf '"http://127.0.0.1:%s/health?i=%d"' "$NGINX_PORT" "$i"
    done
    printf ']}]\n'
} >"$TMP/targets.json"

cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    file_sd_configs:
      - files: ["$TMP/targets.json"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:$BB_PORT
EOF

cat >"$TMP/blackbox.yml" <<EOF
modules:
  http_2xx:
    prober: http
    timeout: 900ms
    http:
      preferred_ip_protocol: ip4
EOF

"$VITALS_BIN" check config "$TMP/vitals.yaml" >/dev/null || die "vitals rejects the generated config"

# ---------------------------------------------------------------------------------------------
# Runs.
# ---------------------------------------------------------------------------------------------
log "nginx on 127.0.0.1:$NGINX_PORT"
start_bg "$TMP/nginx/stdout.log" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf"
NGINX_PID=$LAST_PID
"$PY" "$HELPER" wait "http://127.0.0.1:$NGINX_PORT/health?i=0" "$START_TIMEOUT"

run_vitals() { # round -> $TMP/run-<round>-vitals.json
    local round="$1"
    log "round $round: vitals, $TARGETS targets: warm-up ${WARMUP}s, window ${DURATION}s"
    start_bg "$TMP/vitals-$round.log" "$VITALS_BIN" run -c "$TMP/vitals.yaml"
    local pid=$LAST_PID
    "$PY" "$HELPER" wait "http://127.0.0.1:$VITALS_PORT/metrics" "$START_TIMEOUT"
    sleep "$WARMUP"
    local spec="vitals=$pid,nginx=$NGINX_PID+"
    "$PY" "$HELPER" snap "$TMP/v$round-a.json" "$spec" "http://127.0.0.1:$VITALS_PORT/metrics" metrics-first
    sleep "$DURATION"
    "$PY" "$HELPER" snap "$TMP/v$round-b.json" "$spec" "http://127.0.0.1:$VITALS_PORT/metrics" cpu-first
    if [[ "$PERF" == 1 && $round == 1 ]]; then
        # After the window, so sampling does not inflate the measured CPU.
        log "perf record on vitals for ${PERF_SECONDS}s (outside the measurement window)"
        perf record -F 999 -g -p "$pid" -o "$TMP/perf.data" -- sleep "$PERF_SECONDS" >"$TMP/perf-record.log" 2>&1 || log "perf record failed: $(tail -1 "$TMP/perf-record.log")"
        perf report -i "$TMP/perf.data" --stdio --no-children --percent-limit 1 --sort symbol -g none 2>/dev/null \
            | grep -v '^#' | sed -E 's/[[:space:]-]+$//' | grep -v '^$' | head -40 >"$PERF_OUT" || true
        log "top symbols written to $PERF_OUT"
    fi
    stop_pid "$pid"
    "$PY" "$HELPER" vitals "$TMP/v$round-a.json" "$TMP/v$round-b.json" "$TARGETS" "$INTERVAL_S" \
        "$TMP/run-$round-vitals.json" "$round"
    RESULTS+=("$TMP/run-$round-vitals.json")
}

run_peer() { # round -> $TMP/run-<round>-peer.json
    local round="$1"
    log "round $round: Prometheus + blackbox_exporter, $PEER_TARGETS targets: warm-up ${WARMUP}s, window ${DURATION}s"
    rm -rf "$TMP/prom-data" && mkdir -p "$TMP/prom-data"
    start_bg "$TMP/blackbox-$round.log" prometheus-blackbox-exporter \
        --config.file="$TMP/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT"
    local bb=$LAST_PID
    "$PY" "$HELPER" wait "http://127.0.0.1:$BB_PORT/metrics" "$START_TIMEOUT"
    start_bg "$TMP/prometheus-$round.log" prometheus \
        --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom-data" \
        --web.listen-address="127.0.0.1:$PROM_PORT"
    local prom=$LAST_PID
    "$PY" "$HELPER" wait "http://127.0.0.1:$PROM_PORT/-/ready" "$START_TIMEOUT"
    "$PY" "$HELPER" prom_targets_up "http://127.0.0.1:$PROM_PORT" "$PEER_TARGETS"
    sleep "$WARMUP"
    local spec="prometheus=$prom,blackbox=$bb,nginx=$NGINX_PID+"
    "$PY" "$HELPER" snap "$TMP/p$round-a.json" "$spec" "" cpu-first
    sleep "$DURATION"
    "$PY" "$HELPER" snap "$TMP/p$round-b.json" "$spec" "" cpu-first
    sleep 2 # let the last scrapes of the window land in the head block
    "$PY" "$HELPER" peer "$TMP/p$round-a.json" "$TMP/p$round-b.json" "$PEER_TARGETS" "$INTERVAL_S" \
        "http://127.0.0.1:$PROM_PORT" "$TMP/run-$round-peer.json" "$round"
    stop_pid "$prom"
    stop_pid "$bb"
    RESULTS+=("$TMP/run-$round-peer.json")
}

log "vitals idle: $IDLE_TARGETS targets for ${IDLE_SECONDS}s"
start_bg "$TMP/vitals-idle.log" "$VITALS_BIN" run -c "$TMP/vitals-idle.yaml"
IDLE_PID=$LAST_PID
"$PY" "$HELPER" wait "http://127.0.0.1:$VITALS_PORT/metrics" "$START_TIMEOUT"
sleep "$IDLE_SECONDS"
"$PY" "$HELPER" snap "$TMP/idle.json" "vitals=$IDLE_PID" "" cpu-first
stop_pid "$IDLE_PID"
"$PY" "$HELPER" idle "$TMP/idle.json" "$IDLE_TARGETS" "$TMP/idle-result.json"

RESULTS=()
for ((r = 1; r <= ROUNDS; r++)); do
    first=vitals
    [[ "$ORDER" == peer-first ]] && first=peer
    ((r % 2 == 0)) && { [[ $first == vitals ]] && first=peer || first=vitals; } # alternate
    if [[ $first == vitals ]]; then run_vitals "$r"; run_peer "$r"; else run_peer "$r"; run_vitals "$r"; fi
done

for f in "$TMP"/vitals-*.log; do
    n=$(grep -ciE '\b(WARN|ERROR)\b' "$f" || true)
    if ((n)); then
        log "$(basename "$f"): $n warning/error lines (first: $(grep -iE '\b(WARN|ERROR)\b' "$f" | head -1 | cut -c1-300))"
    fi
done

META=$(printf '{"targets": %d, "peer_targets": %d, "warmup_s": %s, "duration_s": %s, "rounds": %d, "order": "%s", "interval_s": %s, "max_concurrency": %d, "date": "%s", "host_cpus": %d, "clk_tck": %d, "vitals_commit": "%s", "nginx": "%s", "prometheus": "%s", "blackbox_exporter": "%s"}' \
    "$TARGETS" "$PEER_TARGETS" "$WARMUP" "$DURATION" "$ROUNDS" "$ORDER" "$INTERVAL_S" "$MAX_CONCURRENCY" "$(date -u +%FT%TZ)" "$(nproc)" "$CLK_TCK" \
    "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$("$NGINX" -v 2>&1 | sed 's/.*\///')" \
    "$(prometheus --version 2>&1 | head -1 | awk '{print $3}')" \
    "$(prometheus-blackbox-exporter --version 2>&1 | head -1 | awk '{print $3}')")
"$PY" "$HELPER" report "$OUT" "$META" "$TMP/idle-result.json" "${RESULTS[@]}"
log "JSON written to $OUT"
