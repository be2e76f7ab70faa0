#!/usr/bin/env python3
"""Soak benchmark for vitals: one daemon under every load at once for SOAK_S seconds (3600),
with faults, then checks that nothing leaked, crashed, got lost or was sent twice.

    soak.py run VITALS_BIN                 the whole soak (what run.sh execs)
    soak.py report OUT                     the checks and summary again, from OUT/state.json
    soak.py targets SCHEDULE LOG PORT...   probe targets: /t/<i> on each port (asyncio)
    soak.py receiver SCHEDULE OUT PORT     webhook receiver with fault injection (asyncio)
    soak.py otlp SCHEDULE OUT URL          OTLP/HTTP protobuf senders (threads)

What runs (all on 127.0.0.1, free ports, one output dir):
  - 2,000 HTTP probe targets (4 ports x 500 paths), probed every 15 s; 2 % of them (40) flap
    on a schedule every process knows (schedule.json, wall clock): down (HTTP 500) for D
    seconds every P seconds (P = SOAK_S/3 within 180..300 s, D = 0.45 P), phases spread over
    P. Flapping stops at T_stop, the start of the drain phase (the last 20 %, 90..240 s).
  - 4 OTLP/HTTP protobuf senders, each ~280 series (a counter, a histogram, gauges) every 10 s
    with new timestamps; a keep-alive connection vitals closed while idle is reopened once.
  - 1,000 rules in 11 files: ~700 recording, ~300 alerting that never fire, and those that
    do: SoakProbeDown (probe_success == 0, for 0s, grouped per probe), SoakProbeDownFor30s
    (for 30s, grouped per flap_group: several alerts per notification), SoakAlwaysFiring (one
    per OTLP sender, never resolves: repeated every repeat_interval, 2m), SoakAlwaysPending
    (for 2h: pending all run).
  - one receiver, two webhook_configs (/a and /b), group_wait 2s, group_interval 10s,
    repeat_interval 2m, delivery.timeout 2s; until T_stop each attempt gets HTTP 500 (10 %) or
    hangs (10 %: recorded as received, answered 200 only after HANG_S = 6 s, so vitals times
    out and retries). Every attempt is recorded with its fate (deliveries.jsonl).
  - reloads every RELOAD_S (60 s): good (a recording rule toggled in reload.yml, a comment
    changed in flap.yml) and bad (a YAML error or a PromQL error in reload.yml) alternating,
    by POST /-/reload (with the API token) and SIGHUP alternating in pairs; the bad file is
    put back right after, so a restart always finds a loadable configuration.
  - kill -9 every KILL_S (600 s; SOAK_S/6 when SOAK_S < 3600) and a restart on the same
    storage.path; /api/v1/alerts is read just before the kill, at /ready and 35 s later.
  - every SAMPLE_S (10 s): VmRSS, threads, open fds by kind (sockets matched to their peer
    through /proc/PID/net/tcp), the redb and checkpoint sizes, and vitals' counters from
    /metrics (samples.csv).

The checks (PASS/FAIL each; exit 1 on any FAIL), after the drain:
  - RSS: within each life that starts after the warm-up (max(20 % of the run, min(10 min,
    half the run))), past the life's own warm-up (its first quarter, >= 60 s: a kill -9 resets
    RSS), max of the second half < 1.05 x median of the first half; across those lives, the
    last one's median < 1.05 x the first one's.
  - fds: the same rule for every fd but the client connection pools (probes, webhooks; their
    90 s idle timeout keeps the most concurrent moment's connections), and those pools within
    their configured bounds.
  - no exit but the harness's kill -9 (exit 0 on the final SIGTERM); no "panic" in any log.
  - notifications, from the receiver's records: every expected transition delivered to /a and
    /b: for each flap window long enough (SoakProbeDown >= 45 s, ...For30s >= 75 s) a firing
    and a resolved alert with one startsAt inside the window, the resolved one's endsAt right
    after its end; each SoakAlwaysFiring alert firing, with one startsAt all run; nothing else.
    Duplicates: a notification id taken (200, or a hang the receiver accepted) more than once,
    or the same content (path, groupKey, status, alerts with fingerprint/status/startsAt/
    endsAt) under a new id sooner than repeat_interval after it; each classed as after a hung
    attempt (at-least-once, allowed), after a kill -9, or other. A 500 is not a delivery, so
    its retry is no duplicate.
  - alerts across kill -9: every pending/firing alert before the kill is there at /ready and
    35 s later with the same activeAt and state (pending may become firing), unless a flap
    edge of its target falls within the restart.
  - reloads: good ones applied (200 / counted, rule list changed as written), bad ones refused
    (400 / counted failure, last_reload_successful 0, old rules still loaded, still ready).
  - OTLP: every export outside a restart answered 200 without rejected points.
  - end: outbox 0, no probe alert left; no rule evaluation, durable, outbox, checkpoint or
    state persist failures counted.

Env: SOAK_S=3600 SOAK_OUT=<dir> (default a new /tmp/soak.XXXX, kept) KILL_S RELOAD_S=60
     SAMPLE_S=10 TARGETS=2000 FLAP_EVERY=50 SENDERS=4 RULES=1000 FAIL_P=0.1 HANG_P=0.1
     HANG_S=6 SOAK_RETENTION=360 (s) SOAK_WARMUP (s) SEED=1 VITALS_LOG=info
"""

import asyncio
import csv
import http.client
import json
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def env_f(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------------------------------------
# The schedule: everything time-dependent that more than one process must agree on. Wall
# clock (time.time()), because alert timestamps (startsAt, activeAt) are wall clock.
# ---------------------------------------------------------------------------------------------


class Schedule:
    def __init__(self, d):
        self.d = d
        self.t0 = d["t0"]
        self.t_stop = d["t_stop"]          # faults and flapping end here
        self.t_end = d["t_end"]
        self.flap_t0 = d["flap_t0"]
        self.period = d["period"]
        self.down = d["down"]
        self.n_targets = d["targets"]
        self.flap = d["flap"]              # target indexes that flap, in flap order j
        self.flap_j = {i: j for j, i in enumerate(self.flap)}
        self.phase = d["phase"]            # per j, seconds into the period

    @staticmethod
    def load(path):
        with open(path) as f:
            return Schedule(json.load(f))

    def windows(self, i):
        """The down windows [a, b) of target i, clipped at t_stop."""
        j = self.flap_j.get(i)
        if j is None:
            return []
        out = []
        k = 0
        while True:
            a = self.flap_t0 + self.phase[j] + k * self.period
            if a >= self.t_stop:
                return out
            out.append((a, min(a + self.down, self.t_stop)))
            k += 1

    def is_down(self, i, t):
        j = self.flap_j.get(i)
        if j is None or t >= self.t_stop or t < self.flap_t0 + self.phase[j]:
            return False
        x = (t - self.flap_t0 - self.phase[j]) % self.period
        return x < self.down

    def target_labels(self, i):
        j = self.flap_j.get(i)
        return {"flap": "1" if j is not None else "0",
                "flap_group": f"fg{j % 4}" if j is not None else "none",
                "shard": f"s{i % 20}"}


# ---------------------------------------------------------------------------------------------
# A minimal asyncio HTTP/1.1 server (keep-alive, Content-Length bodies), as benches/alerting.
# ---------------------------------------------------------------------------------------------


async def read_request(reader):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _ = lines[0].split(" ", 2)
    except ValueError:
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    return method, target, headers, body


REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}


def http_response(status, body=b"", ctype="application/json"):
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'X')}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def serve_forever(ports, handle):
    """handle(method, target, headers, body) -> bytes, or a coroutine returning bytes."""

    async def conn(reader, writer):
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                out = handle(*req)
                if asyncio.iscoroutine(out):
                    out = await out
                writer.write(out)
                await writer.drain()
                if req[2].get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def main():
        servers = [await asyncio.start_server(conn, "127.0.0.1", p, backlog=2048) for p in ports]
        await asyncio.gather(*(s.serve_forever() for s in servers))

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# Probe targets.
# ---------------------------------------------------------------------------------------------


def cmd_targets(schedule_path, out_path, *ports):
    sch = Schedule.load(schedule_path)
    served = {"n": 0, "500": 0}
    flaplog = open(out_path, "a", buffering=1)   # one line per answer to a flapping target

    def handle(method, target, headers, body):
        path = target.split("?", 1)[0]
        if path.startswith("/t/"):
            try:
                i = int(path[3:])
            except ValueError:
                return http_response(404)
            t = time.time()
            served["n"] += 1
            if sch.is_down(i, t):
                served["500"] += 1
                if i in sch.flap_j:
                    flaplog.write(f"{t:.3f} {i} 500\n")
                return http_response(500, b'{"status":"DOWN"}')
            if i in sch.flap_j:
                flaplog.write(f"{t:.3f} {i} 200\n")
            return http_response(200, b'{"status":"UP"}')
        if path == "/_stats":
            return http_response(200, json.dumps(served).encode())
        return http_response(404)

    serve_forever([int(p) for p in ports], handle)


# ---------------------------------------------------------------------------------------------
# Webhook receiver: every attempt recorded (JSON lines) with its fate: ok (200), fail (500,
# not received), hang (received, answered 200 only after HANG_S: the sender times out).
# ---------------------------------------------------------------------------------------------


def summarize_alert(a):
    lb = a.get("labels") or {}
    return {"fp": a.get("fingerprint"), "status": a.get("status"), "startsAt": a.get("startsAt"),
            "endsAt": a.get("endsAt"), "alertname": lb.get("alertname"), "probe": lb.get("probe"),
            "job": lb.get("job"), "flap_group": lb.get("flap_group")}


def cmd_receiver(schedule_path, out_path, port):
    sch = Schedule.load(schedule_path)
    fail_p = float(sch.d["fail_p"])
    hang_p = float(sch.d["hang_p"])
    hang_s = float(sch.d["hang_s"])
    rnd = random.Random(sch.d["seed"] * 7919 + 1)
    out = open(out_path, "a", buffering=1)
    count = {"n": 0}
    faults = {"on": True}

    async def handle(method, target, headers, body):
        t = time.time()
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/_count":
            return http_response(200, str(count["n"]).encode())
        if method == "POST" and path == "/_faults":
            faults["on"] = target.endswith("on=1")
            return http_response(200)
        if method != "POST":
            return http_response(404)
        count["n"] += 1
        fate = "ok"
        if faults["on"] and t < sch.t_stop:
            r = rnd.random()
            fate = "fail" if r < fail_p else ("hang" if r < fail_p + hang_p else "ok")
        rec = {"t": t, "path": path, "fate": fate}
        try:
            n = json.loads(body)
            rec.update({"id": n.get("notificationId"), "groupKey": n.get("groupKey"),
                        "status": n.get("status"), "receiver": n.get("receiver"),
                        "alerts": [summarize_alert(a) for a in n.get("alerts") or []],
                        "truncated": n.get("truncatedAlerts")})
        except ValueError:
            rec["error"] = "not json"
        out.write(json.dumps(rec) + "\n")
        if fate == "fail":
            return http_response(500, b"injected failure")
        if fate == "hang":
            await asyncio.sleep(hang_s)
        return http_response(200)

    serve_forever([int(port)], handle)


# ---------------------------------------------------------------------------------------------
# OTLP senders.
# ---------------------------------------------------------------------------------------------

ROUTES = 20
CODES = ("200", "201", "404", "429", "500")
HIST_ROUTES = 10
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
GAUGES = 50


def cmd_otlp(schedule_path, out_path, url):
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
    from opentelemetry.proto.common.v1 import common_pb2 as common
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as mp

    sch = Schedule.load(schedule_path)
    n_senders = int(sch.d["senders"])
    every = float(sch.d["otlp_every"])
    u = urllib.parse.urlparse(url)
    stats = {j: {"exports": 0, "ok": 0, "points": 0, "rejected_points": 0, "http_errors": {},
                 "stale_keepalive_retries": 0,
                 "conn_errors": 0, "failures": []} for j in range(n_senders)}
    lock = threading.Lock()
    stop = threading.Event()

    def kv(k, v):
        return common.KeyValue(key=k, value=common.AnyValue(string_value=v))

    def sender(j):
        rnd = random.Random(1000 + j)
        start_ns = time.time_ns()
        counters = [[0] * len(CODES) for _ in range(ROUTES)]
        hist = [[0] * (len(BOUNDS) + 1) for _ in range(HIST_ROUTES)]
        hsum = [0.0] * HIST_ROUTES
        conn = None
        nxt = time.time() + (j * every / n_senders)
        while not stop.is_set():
            now = time.time()
            if nxt > now:
                if stop.wait(nxt - now):
                    break
            nxt += every
            # advance the data
            for r in range(ROUTES):
                for c in range(len(CODES)):
                    counters[r][c] += rnd.randint(0, 20 if c == 0 else 2)
            for r in range(HIST_ROUTES):
                for _ in range(10):
                    x = rnd.expovariate(10.0)
                    k = next((b for b, ub in enumerate(BOUNDS) if x <= ub), len(BOUNDS))
                    hist[r][k] += 1
                    hsum[r] += x
            t_ns = time.time_ns()
            req = ms.ExportMetricsServiceRequest()
            rm = req.resource_metrics.add()
            rm.resource.attributes.extend([kv("service.name", f"soak-sender-{j}"),
                                           kv("service.instance.id", f"sender-{j}:9000"),
                                           kv("deployment.environment", "soak")])
            sm = rm.scope_metrics.add()
            sm.scope.name = "soak"
            points = 0
            m = sm.metrics.add()
            m.name = "soak_requests"
            m.sum.aggregation_temporality = mp.AGGREGATION_TEMPORALITY_CUMULATIVE
            m.sum.is_monotonic = True
            for r in range(ROUTES):
                for c, code in enumerate(CODES):
                    dp = m.sum.data_points.add()
                    dp.attributes.extend([kv("route", f"r{r}"), kv("code", code)])
                    dp.start_time_unix_nano = start_ns
                    dp.time_unix_nano = t_ns
                    dp.as_int = counters[r][c]
                    points += 1
            m = sm.metrics.add()
            m.name = "soak_latency"
            m.unit = "s"
            m.histogram.aggregation_temporality = mp.AGGREGATION_TEMPORALITY_CUMULATIVE
            for r in range(HIST_ROUTES):
                dp = m.histogram.data_points.add()
                dp.attributes.append(kv("route", f"r{r}"))
                dp.start_time_unix_nano = start_ns
                dp.time_unix_nano = t_ns
                dp.count = sum(hist[r])
                dp.sum = hsum[r]
                dp.explicit_bounds.extend(BOUNDS)
                dp.bucket_counts.extend(hist[r])
                points += 1
            for g in range(GAUGES):
                m = sm.metrics.add()
                m.name = f"soak_gauge_{g}"
                dp = m.gauge.data_points.add()
                dp.time_unix_nano = t_ns
                dp.as_double = 50 + 40 * math.sin(now / 300 + g) + rnd.random()
                points += 1
            body = req.SerializeToString()
            failure = None
            try:
                for attempt in (0, 1):
                    reused = conn is not None
                    if conn is None:
                        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                    try:
                        conn.request("POST", "/v1/metrics", body, {"Content-Type": "application/x-protobuf"})
                        resp = conn.getresponse()
                        data = resp.read()
                        break
                    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                        # vitals closes a keep-alive connection idle past header_read_timeout
                        # (10 s, our export interval): a new connection, as any HTTP client does
                        conn.close()
                        conn = None
                        if not reused or attempt:
                            raise
                        with lock:
                            stats[j]["stale_keepalive_retries"] += 1
                if resp.status == 200:
                    er = ms.ExportMetricsServiceResponse()
                    er.ParseFromString(data)
                    rej = er.partial_success.rejected_data_points
                    with lock:
                        stats[j]["ok"] += 1
                        stats[j]["points"] += points
                        stats[j]["rejected_points"] += rej
                    if rej:
                        failure = f"partial: {rej} rejected: {er.partial_success.error_message[:200]}"
                else:
                    failure = f"http {resp.status}: {data[:200]!r}"
                    with lock:
                        stats[j]["http_errors"][str(resp.status)] = stats[j]["http_errors"].get(str(resp.status), 0) + 1
            except (OSError, http.client.HTTPException) as e:
                conn = None
                failure = f"connection: {type(e).__name__}: {e}"
                with lock:
                    stats[j]["conn_errors"] += 1
            with lock:
                stats[j]["exports"] += 1
                if failure:
                    stats[j]["failures"].append((t_ns / 1e9, failure))

    def dump():
        with lock:
            tmp = out_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(stats, f)
            os.replace(tmp, out_path)

    def on_term(*_):
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    threads = [threading.Thread(target=sender, args=(j,), daemon=True) for j in range(n_senders)]
    for t in threads:
        t.start()
    while not stop.wait(5):
        dump()
    for t in threads:
        t.join(timeout=15)
    dump()


# ---------------------------------------------------------------------------------------------
# Rules and configuration.
# ---------------------------------------------------------------------------------------------


def yq(s):
    return json.dumps(s)   # a JSON string is a valid YAML double-quoted scalar


def rec_rule(i):
    r, g, s = i % ROUTES, i % GAUGES, i % 20
    k = (i // 7) % 7
    name = f"soak:rec{i}"
    exprs = [
        f'sum by (job, code) (rate(soak_requests_total{{route="r{r}"}}[1m]))',
        f'histogram_quantile(0.9, sum by (job, le) (rate(soak_latency_seconds_bucket{{route="r{i % HIST_ROUTES}"}}[1m])))',
        f"avg by (job) (soak_gauge_{g})",
        f"max_over_time(soak_gauge_{g}[1m])",
        f'sum by (flap_group) (probe_success{{shard="s{s}"}})',
        f'avg(probe_duration_seconds{{shard="s{s}"}})',
        f'count(probe_http_status_code{{shard="s{s}"}} == 200)',
    ]
    return {"record": name, "expr": exprs[(i + k) % len(exprs)]}


def never_alert(i):
    r, g, s = i % ROUTES, i % GAUGES, i % 20
    exprs = [
        f'sum by (job) (rate(soak_requests_total{{route="r{r}", code="500"}}[1m])) > 1e9',
        f"avg by (job) (soak_gauge_{g}) > 1e12",
        f'count(probe_success{{shard="s{s}"}} == 0) > 50',
        f'histogram_quantile(0.99, sum by (job, le) (rate(soak_latency_seconds_bucket{{route="r{i % HIST_ROUTES}"}}[1m]))) > 1e6',
    ]
    rule = {"alert": f"SoakNever{i}", "expr": exprs[i % len(exprs)],
            "labels": {"severity": "info"},
            "annotations": {"summary": "never fires: {{ $value }}"}}
    if i % 3 == 0:
        rule["for"] = "1m"
    return rule


def dump_rules(groups, header=""):
    lines = [header] if header else []
    lines.append("groups:")
    for g in groups:
        lines.append(f"  - name: {yq(g['name'])}")
        if "interval" in g:
            lines.append(f"    interval: {g['interval']}")
        lines.append("    rules:")
        for r in g["rules"]:
            key = "record" if "record" in r else "alert"
            lines.append(f"      - {key}: {yq(r[key])}")
            lines.append(f"        expr: {yq(r['expr'])}")
            if "for" in r:
                lines.append(f"        for: {r['for']}")
            for m in ("labels", "annotations"):
                if r.get(m):
                    lines.append(f"        {m}:")
                    for k, v in r[m].items():
                        lines.append(f"          {k}: {yq(v)}")
    return "\n".join(lines) + "\n"


FLAP_GROUP = {"name": "soak-flap", "interval": "5s", "rules": [
    {"alert": "SoakProbeDown", "expr": "probe_success == 0",
     "labels": {"severity": "page"},
     "annotations": {"summary": "{{ $labels.probe }} is down"}},
    {"alert": "SoakProbeDownFor30s", "expr": "probe_success == 0", "for": "30s",
     "labels": {"severity": "page"},
     "annotations": {"summary": "{{ $labels.probe }} down for 30s"}},
]}
ALWAYS_GROUP = {"name": "soak-always", "rules": [
    {"alert": "SoakAlwaysFiring", "expr": "max by (job) (soak_gauge_0) > -1",
     "labels": {"severity": "info"}, "annotations": {"summary": "{{ $labels.job }} sends"}},
    {"alert": "SoakAlwaysPending", "expr": "max by (job) (soak_gauge_1) > -1", "for": "2h",
     "labels": {"severity": "info"}},
]}


def reload_rules(toggle, gen):
    rules = [{"record": "soak:reload:base", "expr": "count(probe_success)"}]
    if toggle:
        rules.append({"record": "soak:reload:toggle", "expr": "sum(probe_success)"})
    return dump_rules([{"name": "soak-reload", "rules": rules}], f"# reload generation {gen}")


BAD_RELOADS = [
    "groups:\n  - name: soak-reload\n    rules: [ {record: \"soak:reload:base\", expr: \"count(probe_success)\"\n",
    "groups:\n  - name: soak-reload\n    rules:\n      - record: soak:reload:base\n        expr: sum(rate(probe_success[1m])\n",
]


def write_rules(rules_dir, n_rules):
    """Writes the rule files; returns the number of rules (without the reload toggle)."""
    os.makedirs(rules_dir, exist_ok=True)
    fixed = len(FLAP_GROUP["rules"]) + len(ALWAYS_GROUP["rules"]) + 1
    rest = max(0, n_rules - fixed)
    n_alert = rest * 3 // 10
    n_rec = rest - n_alert
    items = [rec_rule(i) for i in range(n_rec)] + [never_alert(i) for i in range(n_alert)]
    random.Random(5).shuffle(items)
    files = 8
    per_group = math.ceil(len(items) / (files * 2)) if items else 1
    for f in range(files):
        groups = []
        for gi in range(2):
            chunk = items[(f * 2 + gi) * per_group:(f * 2 + gi + 1) * per_group]
            if chunk:
                groups.append({"name": f"soak-load-{f}-{gi}", "rules": chunk})
        with open(os.path.join(rules_dir, f"load_{f}.yml"), "w") as fh:
            fh.write(dump_rules(groups) if groups else "groups: []\n")
    with open(os.path.join(rules_dir, "flap.yml"), "w") as fh:
        fh.write(dump_rules([FLAP_GROUP], "# generation 0"))
    with open(os.path.join(rules_dir, "always.yml"), "w") as fh:
        fh.write(dump_rules([ALWAYS_GROUP]))
    with open(os.path.join(rules_dir, "reload.yml"), "w") as fh:
        fh.write(reload_rules(False, 0))
    return fixed + len(items)


def write_config(path, p, sch, rules_dir, retention_s):
    t = []
    for i in range(sch.n_targets):
        lb = sch.target_labels(i)
        port = p["targets"][i % len(p["targets"])]
        t.append(f"    - {{name: t{i:04d}, url: \"http://127.0.0.1:{port}/t/{i}\", "
                 f"labels: {{flap: \"{lb['flap']}\", flap_group: {lb['flap_group']}, shard: {lb['shard']}}}}}")
    recv = f"http://127.0.0.1:{p['receiver']}"
    text = f"""# vitals soak configuration (benches/soak/soak.py)
server:
  listen: "127.0.0.1:{p['api']}"
  api_token: "{p['token']}"
storage:
  path: "{p['data']}"
  retention: {int(retention_s)}s
otlp:
  grpc_listen: ""
  http_listen: "127.0.0.1:{p['otlp']}"
probes:
  defaults: {{interval: 15s, timeout: 5s}}
  targets:
{chr(10).join(t)}
rules:
  files: ["{rules_dir}/*.yml"]
  evaluation_interval: 15s
alerting:
  route:
    receiver: hooks
    group_by: [alertname, probe]
    group_wait: 2s
    group_interval: 10s
    repeat_interval: {int(sch.d['repeat_s'])}s
    routes:
      - matchers: ['alertname="SoakProbeDownFor30s"']
        group_by: [alertname, flap_group]
  receivers:
    - name: hooks
      webhook_configs:
        - {{url: "{recv}/a"}}
        - {{url: "{recv}/b"}}
  delivery: {{timeout: {sch.d['delivery_timeout_s']}s, give_up_after: 1h, concurrency: 8, min_backoff: 500ms, max_backoff: 5s}}
"""
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# Talking to vitals.
# ---------------------------------------------------------------------------------------------


def http_get(url, timeout=10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def http_post(url, token=None, timeout=60.0):
    req = urllib.request.Request(url, data=b"", method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{name: [(labels dict, value)]} for vitals_* and process_* series."""
    out = {}
    for line in text.splitlines():
        if not (line.startswith("vitals_") or line.startswith("process_")):
            continue
        try:
            head, val = line.rsplit(" ", 1)
            v = float(val)
        except ValueError:
            continue
        if "{" in head:
            name, rest = head.split("{", 1)
            labels = dict(LABEL_RE.findall(rest))
        else:
            name, labels = head, {}
        out.setdefault(name, []).append((labels, v))
    return out


def msum(m, name, **match):
    return sum(v for lb, v in m.get(name, []) if all(lb.get(k) == x for k, x in match.items()))


def proc_status(pid):
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def fd_kinds(pid, ports):
    """Open fds of pid by kind: sockets by peer (from /proc/PID/net/tcp*), the rest by type."""
    socks = {}
    for fam in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{fam}") as f:
                next(f)
                for line in f:
                    x = line.split()
                    lport = int(x[1].rsplit(":", 1)[1], 16)
                    rport = int(x[2].rsplit(":", 1)[1], 16)
                    socks[x[9]] = (x[3], lport, rport)
        except OSError:
            pass
    kinds = {"fd_listen": 0, "fd_in_api": 0, "fd_in_otlp": 0, "fd_probe": 0, "fd_webhook": 0,
             "fd_sock_other": 0, "fd_file": 0, "fd_anon": 0}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            st = socks.get(link[8:-1])
            if st is None:
                kinds["fd_sock_other"] += 1
            elif st[0] == "0A":
                kinds["fd_listen"] += 1
            elif st[1] == ports["api"]:
                kinds["fd_in_api"] += 1
            elif st[1] == ports["otlp"]:
                kinds["fd_in_otlp"] += 1
            elif st[2] in ports["targets"]:
                kinds["fd_probe"] += 1
            elif st[2] == ports["receiver"]:
                kinds["fd_webhook"] += 1
            else:
                kinds["fd_sock_other"] += 1
        elif link.startswith("/"):
            kinds["fd_file"] += 1
        else:
            kinds["fd_anon"] += 1          # anon_inode (epoll, eventfd), pipes
    return kinds


def alert_key(labels):
    return tuple(sorted(labels.items()))


class Vitals:
    """The daemon across its lives (one per start)."""

    def __init__(self, binary, cfg, out, api_url, token):
        self.binary, self.cfg, self.out, self.api, self.token = binary, cfg, out, api_url, token
        self.proc = None
        self.life = -1
        self.lives = []      # {life, pid, start, ready, end, ended_by, log}
        self.lock = threading.Lock()
        self.killing = False

    def start(self):
        with self.lock:
            self.life += 1
            logp = os.path.join(self.out, f"vitals.life{self.life}.log")
            env = dict(os.environ)
            env.setdefault("VITALS_LOG", "info")
            t = time.time()
            self.proc = subprocess.Popen([self.binary, "run", "-c", self.cfg],
                                         stdout=open(logp, "w"), stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
            info = {"life": self.life, "pid": self.proc.pid, "start": t, "ready": None,
                    "end": None, "ended_by": None, "log": logp}
            self.lives.append(info)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vitals exited with {self.proc.returncode} at start; see {logp}")
            try:
                if http_get(self.api + "/ready", timeout=2)[0] == 200:
                    info["ready"] = time.time()
                    return info
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"vitals not ready within 120 s; see {logp}")

    def current(self):
        with self.lock:
            return self.proc, self.life

    def kill9(self):
        with self.lock:
            self.killing = True
            t = time.time()
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.lives[-1].update(end=t, ended_by="kill -9")
            self.killing = False
            return t

    def check_alive(self):
        """Records an exit nobody asked for; returns False when vitals is not running."""
        with self.lock:
            if self.killing or self.proc is None:
                return True
            rc = self.proc.poll()
            if rc is None:
                return True
            if self.lives[-1]["ended_by"] is None:
                self.lives[-1].update(end=time.time(), ended_by=f"unexpected exit {rc}")
            return False

    def stop(self, grace=30):
        with self.lock:
            if self.proc.poll() is not None:
                return self.proc.returncode
            t = time.time()
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = "killed after SIGTERM timeout"
            self.lives[-1].update(end=t, ended_by=f"SIGTERM (exit {rc})")
            return rc

    def alerts(self):
        _, body = http_get(self.api + "/api/v1/alerts", timeout=10)
        d = json.loads(body)
        return {alert_key(a["labels"]): {"state": a["state"], "activeAt": a.get("activeAt"),
                                         "labels": a["labels"]}
                for a in d["data"]["alerts"]}

    def metrics(self):
        _, body = http_get(self.api + "/metrics", timeout=20)
        return parse_metrics(body.decode(errors="replace"))

    def rules(self):
        _, body = http_get(self.api + "/api/v1/rules", timeout=20)
        d = json.loads(body)
        names = [r["name"] for g in d["data"]["groups"] for r in g["rules"]]
        return names


# ---------------------------------------------------------------------------------------------
# The soak.
# ---------------------------------------------------------------------------------------------

SAMPLE_FIELDS = ["t", "wall", "life", "pid", "rss_mib", "fds", "threads", "scrape_s",
                 "fd_listen", "fd_in_api", "fd_in_otlp", "fd_probe", "fd_webhook", "fd_sock_other",
                 "fd_file", "fd_anon", "fd_fixed", "redb_bytes", "checkpoint_bytes",
                 "outbox", "outbox_oldest_s", "notifications_ok", "notifications_failed",
                 "failed_retryable", "failed_superseded", "failed_final_gaveup_gone",
                 "rule_evaluations", "rule_eval_failures", "rule_iterations_missed",
                 "otlp_requests_ok", "otlp_requests_other", "otlp_rejected_points",
                 "store_series", "store_chunk_bytes", "alerts_firing", "alerts_pending",
                 "reloads_success", "reloads_failure", "last_reload_ok", "probes",
                 "probe_errors", "durable_write_failures", "outbox_write_failures",
                 "checkpoint_failures", "state_persist_failures", "connections_open_api",
                 "connections_open_otlp"]


class Sampler(threading.Thread):
    def __init__(self, v, t0, every, path, ports):
        super().__init__(daemon=True)
        self.v, self.t0, self.every, self.ports = v, t0, every, ports
        self.rows = []
        self.stop_ev = threading.Event()
        self.path = path
        self.errors = []

    def sample(self):
        proc, life = self.v.current()
        if proc is None or proc.poll() is not None:
            return None
        pid = proc.pid
        now = time.time()
        try:
            rss_kb, threads = proc_status(pid)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            kinds = fd_kinds(pid, self.ports)
        except OSError:
            return None
        disk = {}
        for key, rel in (("redb_bytes", "vitals.redb"), ("checkpoint_bytes", "store/store.ckpt")):
            try:
                disk[key] = os.path.getsize(os.path.join(self.ports["data"], rel))
            except OSError:
                disk[key] = None
        row = {"t": round(now - self.t0, 1), "wall": now, "life": life, "pid": pid, **disk,
               "rss_mib": rss_kb / 1024 if rss_kb else None, "fds": fds, "threads": threads,
               **kinds, "fd_fixed": kinds["fd_listen"] + kinds["fd_file"] + kinds["fd_anon"]}
        try:
            t1 = time.monotonic()
            m = self.v.metrics()
            row["scrape_s"] = round(time.monotonic() - t1, 3)
        except Exception as e:
            self.errors.append((now, f"{type(e).__name__}: {e}"))
            return row
        row.update({
            "outbox": msum(m, "vitals_alerting_outbox_notifications"),
            "outbox_oldest_s": msum(m, "vitals_alerting_outbox_oldest_age_seconds"),
            "notifications_ok": msum(m, "vitals_notifications_total"),
            "notifications_failed": msum(m, "vitals_notifications_failed_total"),
            "failed_retryable": msum(m, "vitals_notifications_failed_total", reason="retryable"),
            "failed_superseded": msum(m, "vitals_notifications_failed_total", reason="superseded"),
            "failed_final_gaveup_gone": sum(msum(m, "vitals_notifications_failed_total", reason=r)
                                            for r in ("final", "gave_up", "receiver_gone")),
            "rule_evaluations": msum(m, "vitals_rule_evaluations_total"),
            "rule_eval_failures": msum(m, "vitals_rule_evaluation_failures_total"),
            "rule_iterations_missed": msum(m, "vitals_rule_group_iterations_missed_total"),
            "otlp_requests_ok": msum(m, "vitals_otlp_requests_total", outcome="ok"),
            "otlp_requests_other": msum(m, "vitals_otlp_requests_total") - msum(m, "vitals_otlp_requests_total", outcome="ok"),
            "otlp_rejected_points": msum(m, "vitals_otlp_rejected_points_total"),
            "store_series": msum(m, "vitals_store_series"),
            "store_chunk_bytes": msum(m, "vitals_store_chunk_bytes"),
            "alerts_firing": msum(m, "vitals_alerts", state="firing"),
            "alerts_pending": msum(m, "vitals_alerts", state="pending"),
            "reloads_success": msum(m, "vitals_config_reloads_total", outcome="success"),
            "reloads_failure": msum(m, "vitals_config_reloads_total", outcome="failure"),
            "last_reload_ok": msum(m, "vitals_config_last_reload_successful"),
            "probes": msum(m, "vitals_probes_total"),
            "probe_errors": msum(m, "vitals_probe_errors_total"),
            "durable_write_failures": msum(m, "vitals_durable_write_failures_total"),
            "outbox_write_failures": msum(m, "vitals_alerting_outbox_write_failures_total"),
            "checkpoint_failures": msum(m, "vitals_store_checkpoint_failures_total"),
            "state_persist_failures": msum(m, "vitals_rule_state_persist_failures_total"),
            "connections_open_api": msum(m, "vitals_connections_open", listener="api"),
            "connections_open_otlp": msum(m, "vitals_connections_open", listener="otlp_http"),
        })
        return row

    def run(self):
        nxt = time.time()
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SAMPLE_FIELDS, extrasaction="ignore")
            w.writeheader()
            while not self.stop_ev.is_set():
                try:
                    row = self.sample()
                except Exception as e:   # never let the sampler die
                    self.errors.append((time.time(), f"{type(e).__name__}: {e}"))
                    row = None
                if row:
                    self.rows.append(row)
                    w.writerow(row)
                    f.flush()
                nxt += self.every
                self.stop_ev.wait(max(0.0, nxt - time.time()))


def wait_until(t, stop=None):
    while True:
        d = t - time.time()
        if d <= 0:
            return
        time.sleep(min(d, 1.0))


class Soak:
    def __init__(self, binary):
        self.binary = binary
        self.soak_s = env_f("SOAK_S", 3600.0)
        self.out = os.environ.get("SOAK_OUT") or tempfile.mkdtemp(prefix="soak.", dir="/tmp")
        os.makedirs(self.out, exist_ok=True)
        self.kill_s = env_f("KILL_S", 600.0 if self.soak_s >= 3600 else self.soak_s / 6)
        self.reload_s = env_f("RELOAD_S", 60.0 if self.soak_s >= 600 else self.soak_s / 10)
        self.sample_s = env_f("SAMPLE_S", 10.0)
        self.n_targets = int(env_f("TARGETS", 2000))
        self.flap_every = int(env_f("FLAP_EVERY", 50))
        self.n_rules = int(env_f("RULES", 1000))
        # the rules' longest range (1m) + the 5m lookback, vitals' minimum rule of thumb
        self.retention_s = env_f("SOAK_RETENTION", 360.0)
        self.drain_s = min(240.0, max(90.0, 0.2 * self.soak_s))
        self.period = min(300.0, max(180.0, self.soak_s / 3))
        self.down = round(0.45 * self.period)
        # the brief's "first 20 % or first 10 min", capped at half of a short run
        self.warmup_s = env_f("SOAK_WARMUP", max(0.2 * self.soak_s, min(600.0, 0.5 * self.soak_s)))
        self.events = []       # everything that happened, in order
        self.procs = []
        self.failures_seen = []

    def event(self, kind, **kw):
        e = {"t": round(time.time() - self.t0, 2), "wall": time.time(), "kind": kind, **kw}
        self.events.append(e)
        brief = {k: v for k, v in kw.items() if k not in ("before", "after_ready", "after_eval", "body")}
        log(f"{kind} {json.dumps(brief)[:300]}")
        return e

    def spawn(self, name, *args):
        logf = open(os.path.join(self.out, f"{name}.log"), "w")
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), *args],
                             stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    # ---- set-up -------------------------------------------------------------------------------
    def setup(self):
        out = self.out
        self.t0 = time.time() + 8          # vitals starts right before
        t_end = self.t0 + self.soak_s
        t_stop = t_end - self.drain_s
        flap = [i for i in range(self.n_targets) if i % self.flap_every == self.flap_every // 2]
        nf = max(1, len(flap))
        phase = [((j * 37) % nf) / nf * self.period for j in range(len(flap))]
        sched = {"t0": self.t0, "t_end": t_end, "t_stop": t_stop, "flap_t0": self.t0 + 30,
                 "period": self.period, "down": self.down, "targets": self.n_targets,
                 "flap": flap, "phase": phase, "seed": int(env_f("SEED", 1)),
                 "fail_p": env_f("FAIL_P", 0.1), "hang_p": env_f("HANG_P", 0.1),
                 "hang_s": env_f("HANG_S", 6.0), "delivery_timeout_s": 2,
                 "repeat_s": 120, "senders": int(env_f("SENDERS", 4)), "otlp_every": 10.0}
        self.sched_path = os.path.join(out, "schedule.json")
        with open(self.sched_path, "w") as f:
            json.dump(sched, f)
        self.sch = Schedule(sched)
        self.ports = {"targets": [free_port() for _ in range(4)], "receiver": free_port(),
                      "api": free_port(), "otlp": free_port(), "token": "soak-token-1",
                      "data": os.path.join(out, "data")}
        self.rules_dir = os.path.join(out, "rules")
        self.n_rules_written = write_rules(self.rules_dir, self.n_rules)
        self.cfg = os.path.join(out, "vitals.yaml")
        write_config(self.cfg, self.ports, self.sch, self.rules_dir, self.retention_s)
        log(f"output in {out}; SOAK_S={self.soak_s:.0f} kill every {self.kill_s:.0f}s, reload every "
            f"{self.reload_s:.0f}s, flap period {self.period:.0f}s down {self.down}s, "
            f"{len(flap)} flapping of {self.n_targets}, {self.n_rules_written} rules, retention "
            f"{self.retention_s:.0f}s, warm-up {self.warmup_s:.0f}s, drain {self.drain_s:.0f}s")
        def sh(*cmd):
            try:
                return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                return "?"
        self.meta = {"version": (sh(self.binary, "--version").split() or ["?", "?"])[-1],
                     "commit": sh("git", "-C", HERE, "rev-parse", "--short", "HEAD"),
                     "dirty": " + uncommitted changes" if sh("git", "-C", HERE, "status", "--porcelain", "--untracked-files=no") else "",
                     "nproc": os.cpu_count(), "loadavg": open("/proc/loadavg").read().split()[:3]}
        r = subprocess.run([self.binary, "check", "config", self.cfg], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"vitals check config failed:\n{r.stdout}{r.stderr}")
        self.spawn("targets", "targets", self.sched_path, os.path.join(out, "flaplog.txt"),
                   *map(str, self.ports["targets"]))
        self.spawn("receiver", "receiver", self.sched_path, os.path.join(out, "deliveries.jsonl"),
                   str(self.ports["receiver"]))
        for p in self.ports["targets"] + [self.ports["receiver"]]:
            self.wait_port(p)
        self.api = f"http://127.0.0.1:{self.ports['api']}"
        self.v = Vitals(self.binary, self.cfg, out, self.api, self.ports["token"])

    def wait_port(self, port):
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"port {port} never opened")

    # ---- actions ------------------------------------------------------------------------------
    def restart(self, reason):
        try:
            before = self.v.alerts()
        except Exception as e:
            before = None
            self.event("alerts_before_failed", error=str(e))
        t_before = time.time()
        t_kill = self.v.kill9()
        info = self.v.start()
        t_ready = info["ready"]
        after_ready = self.safe_alerts()
        t_after_ready = time.time()
        time.sleep(35)   # two evaluation intervals (15 s) and a bit: restored alerts re-evaluated
        after_eval = self.safe_alerts()
        t_after_eval = time.time()
        self.event("restart", reason=reason, t_before=t_before, t_kill=t_kill, t_ready=t_ready,
                   ready_s=round(t_ready - info["start"], 3), down_s=round(t_ready - t_kill, 3),
                   t_after_ready=t_after_ready, t_after_eval=t_after_eval, life=info["life"],
                   before=jsonable(before), after_ready=jsonable(after_ready),
                   after_eval=jsonable(after_eval))

    def safe_alerts(self):
        try:
            return self.v.alerts()
        except Exception as e:
            self.event("alerts_query_failed", error=str(e))
            return None

    def reload(self, k):
        good = k % 2 == 0
        via = "http" if (k // 2) % 2 == 0 else "sighup"
        reload_path = os.path.join(self.rules_dir, "reload.yml")
        old_toggle = self.toggle
        try:
            m0 = self.v.metrics()
        except Exception:
            m0 = {}
        s0 = msum(m0, "vitals_config_reloads_total", outcome="success")
        f0 = msum(m0, "vitals_config_reloads_total", outcome="failure")
        if good:
            new_toggle = not old_toggle
            self.reload_text = reload_rules(new_toggle, k)
            with open(reload_path, "w") as fh:
                fh.write(self.reload_text)
            flap_path = os.path.join(self.rules_dir, "flap.yml")
            with open(flap_path, "w") as fh:
                fh.write(dump_rules([FLAP_GROUP], f"# generation {k}"))
        else:
            new_toggle = old_toggle
            with open(reload_path, "w") as fh:
                fh.write(BAD_RELOADS[(k // 2) % len(BAD_RELOADS)])
        proc, _ = self.v.current()
        status, body = None, ""
        t = time.time()
        if via == "http":
            status, body = http_post(self.api + "/-/reload", token=self.ports["token"])
        else:
            proc.send_signal(signal.SIGHUP)
        # wait for the reload to be counted
        counted = False
        m1 = {}
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                m1 = self.v.metrics()
            except Exception:
                time.sleep(0.5)
                continue
            s1 = msum(m1, "vitals_config_reloads_total", outcome="success")
            f1 = msum(m1, "vitals_config_reloads_total", outcome="failure")
            if (good and s1 > s0) or (not good and f1 > f0):
                counted = True
                break
            if (good and f1 > f0) or (not good and s1 > s0):
                break
            time.sleep(0.3)
        took = time.time() - t
        if not good:   # the running configuration is the old one: put its file back
            with open(reload_path, "w") as fh:
                fh.write(self.reload_text)
        last_ok = msum(m1, "vitals_config_last_reload_successful")
        try:
            names = self.v.rules()
        except Exception as e:
            names = []
        alive = proc.poll() is None
        try:
            ready = http_get(self.api + "/ready", timeout=5)[0] == 200
        except Exception:
            ready = False
        has_toggle = "soak:reload:toggle" in names
        expected_rules = self.n_rules_written + (1 if new_toggle else 0)
        ok = (counted and alive and ready and has_toggle == new_toggle
              and len(names) == expected_rules and last_ok == (1 if good else 0)
              and (via != "http" or status == (200 if good else 400)))
        self.toggle = new_toggle
        self.event("reload", k=k, good=good, via=via, http_status=status,
                   answer=body.strip()[:300], counted=counted, took_s=round(took, 3),
                   last_reload_successful=last_ok, rules_loaded=len(names),
                   rules_expected=expected_rules, toggle_expected=new_toggle,
                   toggle_loaded=has_toggle, alive=alive, ready=ready, ok=ok)

    # ---- the run ------------------------------------------------------------------------------
    def run(self):
        self.setup()
        self.toggle = False
        self.reload_text = reload_rules(False, 0)
        wait_until(self.t0 - 2)
        info = self.v.start()
        self.event("start", life=0, ready_s=round(info["ready"] - info["start"], 3))
        self.spawn("otlp", "otlp", self.sched_path, os.path.join(self.out, "otlp_stats.json"),
                   f"http://127.0.0.1:{self.ports['otlp']}")
        self.sampler = Sampler(self.v, self.t0, self.sample_s, os.path.join(self.out, "samples.csv"),
                               self.ports)
        self.sampler.start()
        # the timeline: reloads and kills, all before T_stop, never two at once
        plan = []
        k = 1
        while self.t0 + k * self.kill_s < self.sch.t_stop - 40:
            plan.append((self.t0 + k * self.kill_s, "kill", k))
            k += 1
        k = 1
        while self.t0 + k * self.reload_s < self.sch.t_stop - 10:
            plan.append((self.t0 + k * self.reload_s, "reload", k - 1))
            k += 1
        plan.sort()
        for when, what, k in plan:
            wait_until(when)
            self.watch()
            if time.time() > self.sch.t_stop - 5:
                break
            if what == "kill":
                self.restart(f"scheduled kill {k}")
            else:
                self.reload(k)
        # drain: no more faults (the receiver and the targets stop on their own at t_stop)
        wait_until(self.sch.t_stop)
        try:
            http_post(f"http://127.0.0.1:{self.ports['receiver']}/_faults?on=0")
        except Exception:
            pass
        self.event("drain", note="faults and flapping stopped")
        while time.time() < self.sch.t_end:
            self.watch()
            time.sleep(2)
        # the end state: outbox empty, no probe alert left (waits at most 180 s more)
        deadline = time.time() + 180
        end = {}
        while True:
            self.watch()
            try:
                m = self.v.metrics()
                al = self.v.alerts()
                end = {"outbox": msum(m, "vitals_alerting_outbox_notifications"),
                       "outbox_oldest_s": msum(m, "vitals_alerting_outbox_oldest_age_seconds"),
                       "probe_alerts_active": sum(1 for a in al.values()
                                                  if a["labels"].get("alertname", "").startswith("SoakProbe")),
                       "t": round(time.time() - self.t0, 1)}
            except Exception as e:
                end = {"error": str(e)}
            if end.get("outbox") == 0 and end.get("probe_alerts_active") == 0:
                break
            if time.time() > deadline:
                break
            time.sleep(2)
        time.sleep(15)       # the last resolved notifications' deliveries land
        try:
            end["metrics"] = {k: v for k, v in self.sampler.sample().items()}
        except Exception:
            pass
        self.end_state = end
        self.event("end_state", **{k: v for k, v in end.items() if k != "metrics"})
        self.sampler.stop_ev.set()
        self.sampler.join(timeout=30)
        rc = self.v.stop()
        self.event("stop", exit=rc)
        for name, p in self.procs:
            if name == "otlp":
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        time.sleep(1)
        for name, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        with open(os.path.join(self.out, "events.json"), "w") as f:
            json.dump(self.events, f, indent=1)
        self.save()
        return Report(self).run()

    SAVED = ("soak_s", "kill_s", "reload_s", "sample_s", "n_targets", "n_rules_written",
             "retention_s", "drain_s", "period", "down", "warmup_s", "t0", "events", "end_state",
             "out", "ports", "meta")

    def save(self):
        """Everything the report reads, so `soak.py report OUT` can run it again."""
        st = {k: getattr(self, k) for k in self.SAVED}
        st.update(lives=self.v.lives, rows=self.sampler.rows, sampler_errors=self.sampler.errors)
        with open(os.path.join(self.out, "state.json"), "w") as f:
            json.dump(st, f)

    def watch(self):
        if not self.v.check_alive():
            life = self.v.lives[-1]
            self.event("crash", life=life["life"], ended_by=life["ended_by"], log=life["log"])
            info = self.v.start()
            self.event("start", life=info["life"], ready_s=round(info["ready"] - info["start"], 3),
                       after="crash")

    def cleanup(self):
        try:
            if getattr(self, "v", None) and self.v.proc and self.v.proc.poll() is None:
                self.v.proc.kill()
        except Exception:
            pass
        for _, p in self.procs:
            if p.poll() is None:
                p.kill()


def jsonable(alerts):
    if alerts is None:
        return None
    return [{"labels": a["labels"], "state": a["state"], "activeAt": a["activeAt"]} for a in alerts.values()]


# ---------------------------------------------------------------------------------------------
# Checks and the report.
# ---------------------------------------------------------------------------------------------


def parse_ts(s):
    """RFC 3339 -> Unix seconds (None for Go's zero time)."""
    if not s or s.startswith("0001-"):
        return None
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        return None
    import calendar
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = float(m.group(7)) if m.group(7) else 0.0
    t = calendar.timegm((y, mo, d, h, mi, se)) + frac
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return t


class Report:
    def __init__(self, soak):
        self.s = soak
        self.checks = []     # (name, ok, detail)
        self.lines = []

    def check(self, name, ok, detail):
        self.checks.append((name, ok, detail))

    def run(self):
        s = self.s
        self.rss_fd()
        self.crashes()
        self.notifications()
        self.restarts()
        self.reloads()
        self.otlp()
        self.end_state()
        md = self.markdown()
        with open(os.path.join(s.out, "summary.md"), "w") as f:
            f.write(md)
        print(md)
        failed = [c for c in self.checks if not c[1]]
        log(f"{len(self.checks) - len(failed)} PASS, {len(failed)} FAIL; output in {s.out}")
        return 1 if failed else 0

    # ---- memory and fds -----------------------------------------------------------------------
    def rss_fd(self):
        s = self.s
        rows = s.sampler.rows
        self.life_rows = []
        checked = []
        for r in rows:
            if r.get("fds") is not None and r.get("fd_probe") is not None:
                r["fd_own"] = r["fds"] - r["fd_probe"] - r["fd_webhook"]
        for life in s.v.lives:
            lr = [r for r in rows if r["life"] == life["life"] and r.get("rss_mib")]
            if not lr:
                continue
            t_a = life["start"] - s.t0
            t_b = (life["end"] or time.time()) - s.t0
            L = t_b - t_a
            row = {"life": life["life"], "from_s": round(t_a), "to_s": round(t_b),
                   "ended_by": life["ended_by"], "samples": len(lr),
                   "ready_s": round(life["ready"] - life["start"], 2) if life["ready"] else None,
                   "after_warmup": t_a >= s.warmup_s}
            # within a life: the first quarter (at least 60 s) is its warm-up (caches, pools,
            # allocator arenas after the checkpoint load); baseline = median of the first half
            # of the rest, peak = max of the second half
            w = max(L / 4, 60.0)
            mid = t_a + w + (L - w) / 2
            row["window"] = (round(w), round(L))
            for key in ("rss_mib", "fds", "threads", "fd_fixed", "fd_own", "fd_probe", "fd_webhook"):
                q2 = [r[key] for r in lr if t_a + w <= r["t"] < mid and r.get(key) is not None]
                h2 = [r[key] for r in lr if r["t"] >= mid and r.get(key) is not None]
                vals = [r[key] for r in lr if r.get(key) is not None]
                if not vals:
                    continue
                base = statistics.median(q2) if q2 else None
                peak = max(h2) if h2 else None
                row[key] = {"min": min(vals), "max": max(vals), "median_q2": base, "max_h2": peak,
                            "max_q2": max(q2) if q2 else None,
                            # after the life's warm-up (its start-up transients, such as the
                            # checkpoint file open while it loads, excluded)
                            "max_after": max(q2 + h2) if q2 or h2 else None,
                            "growth": (peak / base - 1) if base and peak is not None else None}
            self.life_rows.append(row)
            if row["after_warmup"] and L - w >= 30 and row.get("rss_mib", {}).get("growth") is not None:
                checked.append(row)
        if not checked:
            self.check("RSS and fds flat within each life after warm-up", False,
                       f"no life starts after the warm-up ({s.warmup_s:.0f} s) with 30 s past its own warm-up")
            return

        def g(x):
            return f"{100 * x:+.1f} %"
        # RSS: the brief's rule, max of the last half against the median before it
        bad = [r for r in checked if r["rss_mib"]["growth"] >= 0.05]
        self.check("RSS flat within each life after warm-up (max of the second half < 1.05 × median "
                   "of the first half)", not bad, "; ".join(
                       f"life {r['life']}: {r['rss_mib']['median_q2']:.1f} → {r['rss_mib']['max_h2']:.1f} MiB "
                       f"({g(r['rss_mib']['growth'])})" for r in checked))
        # fds: vitals' own (listeners, files, epoll/eventfd/pipes, the harness's connections to
        # it) by the same rule as RSS; its client connection pools (probes, webhooks) keep as
        # many connections as the most concurrent moment of the last 90 s needed (idle timeout),
        # so they are checked against the configured bound instead, a leak would pass it
        bad = []
        det = []
        for r in checked:
            own = r["fd_own"]
            if own["max_h2"] >= 1.05 * own["median_q2"] and own["max_h2"] > own["median_q2"]:
                bad.append(r)
            det.append(f"life {r['life']}: {own['median_q2']:.0f} → {own['max_h2']:.0f} "
                       f"({g(own['max_h2'] / own['median_q2'] - 1)})")
        self.check("open fds other than client connection pools flat within each life after warm-up "
                   "(max of the second half < 1.05 × median of the first half)", not bad, "; ".join(det))
        rows_after = [r for r in rows if r["t"] >= s.warmup_s and r.get("fd_probe") is not None]
        mp = max((r["fd_probe"] for r in rows_after), default=None)
        mw = max((r["fd_webhook"] for r in rows_after), default=None)
        mp_all = max((r.get("fd_probe") or 0 for r in rows), default=None)
        mw_all = max((r.get("fd_webhook") or 0 for r in rows), default=None)
        self.check("client connection pools bounded (probe connections ≤ probes.max_concurrency 512; "
                   "webhook connections ≤ 2 integrations × delivery.concurrency 8)",
                   mp_all is not None and mp_all <= 512 and mw_all <= 16,
                   f"max after warm-up: probe {mp}, webhook {mw}; whole run: probe {mp_all}, webhook {mw_all}; "
                   "per life: " + "; ".join(
                       f"life {r['life']} probe {r['fd_probe']['median_q2']:.0f} → {r['fd_probe']['max_h2']:.0f}, "
                       f"all fds {r['fds']['median_q2']:.0f} → {r['fds']['max_h2']:.0f}" for r in checked))
        # across lives: leaks that survive a restart (durable file, checkpoint, state)
        if len(checked) >= 2:
            a, b = checked[0], checked[-1]
            ra, rb = a["rss_mib"]["median_q2"], b["rss_mib"]["median_q2"]
            fa, fb = a["fd_own"]["max_after"], b["fd_own"]["max_after"]
            self.check("RSS and fds flat across lives after warm-up (last checked life's median RSS < 1.05 × "
                       "the first's; fds other than client pools: max after each life's warm-up not above "
                       "the first's)",
                       rb < 1.05 * ra and fb <= fa,
                       f"life {a['life']} → life {b['life']}: RSS {ra:.1f} → {rb:.1f} MiB ({g(rb / ra - 1)}), "
                       f"fds other than client pools {fa:.0f} → {fb:.0f}")

    # ---- crashes, panics ----------------------------------------------------------------------
    def crashes(self):
        s = self.s
        unexpected = [l for l in s.v.lives if l["ended_by"] and not (
            l["ended_by"] == "kill -9" or l["ended_by"].startswith("SIGTERM (exit 0"))]
        self.check("vitals never exited on its own (only the harness's kill -9; exit 0 on SIGTERM)",
                   not unexpected,
                   "; ".join(f"life {l['life']}: {l['ended_by']}" for l in unexpected) or
                   f"{len(s.v.lives)} lives, {sum(1 for l in s.v.lives if l['ended_by'] == 'kill -9')} kill -9")
        panics, errors, warns = [], 0, 0
        self.error_lines = []
        for l in s.v.lives:
            with open(l["log"], errors="replace") as f:
                for line in f:
                    if "panic" in line.lower():
                        panics.append(f"life {l['life']}: {line.strip()[:300]}")
                    if re.search(r"\bERROR\b", line):
                        errors += 1
                        if len(self.error_lines) < 10:
                            self.error_lines.append(f"life {l['life']}: {line.strip()[:300]}")
                    elif re.search(r"\bWARN\b", line):
                        warns += 1
        self.log_counts = (errors, warns)
        self.check("no panic in vitals' logs", not panics,
                   "; ".join(panics[:5]) or f"{errors} ERROR and {warns} WARN lines in all (see below)")

    # ---- notifications ------------------------------------------------------------------------
    def notifications(self):
        s = self.s
        sch = s.sch
        recs = []
        with open(os.path.join(s.out, "deliveries.jsonl")) as f:
            for line in f:
                if line.strip():
                    recs.append(json.loads(line))
        recs.sort(key=lambda r: r["t"])
        self.recs = recs
        kills = [e["t_kill"] for e in s.events if e["kind"] == "restart"]
        fates = {}
        for r in recs:
            fates[r["fate"]] = fates.get(r["fate"], 0) + 1
        delivered = [r for r in recs if r["fate"] in ("ok", "hang")]
        paths = sorted({r["path"] for r in recs}) or ["/a", "/b"]
        repeat_s = sch.d["repeat_s"]

        # 1. expected transitions (flapping probes) and the always-firing alerts
        by_target = {f"t{i:04d}": i for i in sch.flap}
        inst = {}         # (path, alertname, who, window) -> {"startsAt": set, "firing": n, "resolved": n, ...}
        unexpected = []
        attempted = {}    # same key -> statuses attempted (any fate)
        for r in recs:
            for a in r.get("alerts", []):
                name = a["alertname"]
                st = parse_ts(a["startsAt"])
                key = None
                if name in ("SoakProbeDown", "SoakProbeDownFor30s"):
                    i = by_target.get(a["probe"])
                    if i is not None and st is not None:
                        for w, (wa, wb) in enumerate(sch.windows(i)):
                            if wa - 2 <= st <= wb + 40:
                                key = (r["path"], name, a["probe"], w)
                                break
                elif name == "SoakAlwaysFiring":
                    key = (r["path"], name, a["job"], 0)
                if key is None:
                    if r["fate"] != "fail":
                        unexpected.append((r["t"], r["path"], name, a.get("probe") or a.get("job"),
                                           a["startsAt"], a["status"]))
                    continue
                attempted.setdefault(key, set()).add(a["status"])
                if r["fate"] == "fail":
                    continue
                d = inst.setdefault(key, {"startsAt": set(), "firing": 0, "resolved": 0,
                                          "endsAt": set()})
                d["startsAt"].add(a["startsAt"])
                d[a["status"]] = d.get(a["status"], 0) + 1
                if a["status"] == "resolved":
                    d["endsAt"].add(a["endsAt"])
        expected = []     # (key, statuses)
        optional = 0
        for i in sch.flap:
            for w, (wa, wb) in enumerate(sch.windows(i)):
                need = {"SoakProbeDown": 45, "SoakProbeDownFor30s": 75}
                for name, dur in need.items():
                    for path in paths:
                        key = (path, name, f"t{i:04d}", w)
                        if wb - wa >= dur:
                            expected.append((key, ("firing", "resolved")))
                        else:
                            optional += 1
        for j in range(int(sch.d["senders"])):
            for path in paths:
                expected.append(((path, "SoakAlwaysFiring", f"soak-sender-{j}", 0), ("firing",)))
        missing = []
        for key, sts in expected:
            d = inst.get(key, {})
            for st in sts:
                if not d.get(st):
                    why = "attempted, every attempt got 500" if st in attempted.get(key, set()) else "never attempted"
                    missing.append((key, st, why))
        resets = [(k, sorted(d["startsAt"])) for k, d in inst.items() if len(d["startsAt"]) > 1]
        late_resolve = []
        for k, d in inst.items():
            if k[1].startswith("SoakProbe") and d["endsAt"]:
                i = by_target[k[2]]
                wa, wb = sch.windows(i)[k[3]]
                for e in d["endsAt"]:
                    te = parse_ts(e)
                    if te is None or not (wb - 2 <= te <= wb + 90):
                        late_resolve.append((k, e, wb))
        always_resolved = [k for k, d in inst.items() if k[1] == "SoakAlwaysFiring" and d.get("resolved")]
        self.notif = {"attempts": len(recs), "fates": fates, "delivered": len(delivered),
                      "expected": len(expected), "optional": optional, "missing": missing,
                      "resets": resets, "unexpected": unexpected, "late_resolve": late_resolve}
        self.check("every expected notification delivered (each flap window: firing and resolved of "
                   "both alerts on /a and /b; SoakAlwaysFiring firing)",
                   not missing,
                   f"{sum(len(x[1]) for x in expected)} expected transitions, {len(missing)} missing"
                   + ("; " + "; ".join(f"{k} {st}: {why}" for k, st, why in missing[:8]) if missing else ""))
        self.check("one startsAt per alert episode (no alert re-fired within a down window or "
                   "across a restart; SoakAlwaysFiring keeps its start all run)",
                   not resets, "; ".join(f"{k}: {v}" for k, v in resets[:6]) or
                   f"{len(inst)} alert episodes, each one startsAt")
        self.check("no unexpected alert in notifications (non-flapping target, outside a window, "
                   "SoakAlwaysFiring resolved)", not unexpected and not always_resolved,
                   "; ".join(str(u) for u in unexpected[:6]) + (f" resolved: {always_resolved}" if always_resolved else "")
                   or "none")
        self.check("resolved notifications carry an endsAt just after the window's end",
                   not late_resolve, "; ".join(str(x) for x in late_resolve[:6]) or "all within [end-2s, end+90s]")

        # 2. duplicates
        by_id = {}
        for r in recs:
            by_id.setdefault((r["path"], r.get("id")), []).append(r)
        dup_id = {"after_hang": 0, "after_kill": 0, "other": 0}
        dup_id_examples = []
        for (path, nid), rs in by_id.items():
            got = [r for r in rs if r["fate"] in ("ok", "hang")]
            for m in range(1, len(got)):
                prev = got[:m]
                if any(p["fate"] == "hang" for p in prev):
                    c = "after_hang"
                elif any(prev[-1]["t"] <= k <= got[m]["t"] for k in kills):
                    c = "after_kill"
                else:
                    c = "other"
                dup_id[c] += 1
                if c != "after_hang" and len(dup_id_examples) < 6:
                    dup_id_examples.append((c, path, nid, got[m]["groupKey"], got[m]["status"],
                                            [round(p["t"] - s.t0, 1) for p in got]))
        # content: same (path, groupKey, status, alerts with their start/end) under another id
        def content(r):
            return (r["path"], r["groupKey"], r["status"],
                    tuple(sorted((a["fp"], a["status"], a["startsAt"], a["endsAt"]) for a in r["alerts"])))
        first_try = {}   # (path, id) -> first attempt time
        for (path, nid), rs in by_id.items():
            first_try[(path, nid)] = min(r["t"] for r in rs)
        ids_by_content = {}
        for (path, nid), rs in by_id.items():
            if any(r["fate"] in ("ok", "hang") for r in rs):
                ids_by_content.setdefault(content(rs[0]), []).append((first_try[(path, nid)], nid, rs))
        dup_content = {"after_hang": 0, "after_kill": 0, "other": 0}
        repeats = 0
        dup_content_examples = []
        for c, ids in ids_by_content.items():
            ids.sort()
            for m in range(1, len(ids)):
                gap = ids[m][0] - ids[m - 1][0]
                if gap >= repeat_s - 2:
                    repeats += 1
                    continue
                prev_rs = ids[m - 1][2]
                if any(p["fate"] == "hang" for p in prev_rs):
                    k = "after_hang"
                elif any(ids[m - 1][0] <= kt <= ids[m][0] for kt in kills):
                    k = "after_kill"
                else:
                    k = "other"
                dup_content[k] += 1
                if k != "after_hang" and len(dup_content_examples) < 6:
                    dup_content_examples.append((k, c[0], c[1], c[2], ids[m - 1][1], ids[m][1],
                                                 round(ids[m - 1][0] - s.t0, 1), round(gap, 1)))
        undelivered_ids = [(p, n) for (p, n), rs in by_id.items() if not any(r["fate"] in ("ok", "hang") for r in rs)]
        self.dups = {"by_id": dup_id, "by_content": dup_content, "repeats": repeats,
                     "ids": len(by_id), "undelivered_ids": len(undelivered_ids),
                     "id_examples": dup_id_examples, "content_examples": dup_content_examples}
        n_all = sum(dup_id.values()) + sum(dup_content.values())
        n_bad = n_all - dup_id["after_hang"] - dup_content["after_hang"]
        self.check("exactly once: no duplicate delivery except the retry of a hung attempt "
                   "(same notificationId re-sent after the receiver took it but the client timed out)",
                   n_bad == 0,
                   f"duplicates {n_all} in all, {n_all - n_bad} after a hung attempt, {n_bad} others "
                   f"(same id: {dup_id}; same content under a new id, sooner than repeat_interval: "
                   f"{dup_content}); {repeats} repeat_interval repeats (expected)"
                   + ("; examples: " + "; ".join(map(str, dup_id_examples + dup_content_examples)) if n_bad else ""))

    # ---- restarts: alert state ----------------------------------------------------------------
    def restarts(self):
        s = self.s
        sch = s.sch
        by_target = {f"t{i:04d}": i for i in sch.flap}
        rows = []
        bad = []
        for e in s.events:
            if e["kind"] != "restart":
                continue
            before = {alert_key(a["labels"]): a for a in (e["before"] or [])}
            res = {"life": e["life"], "t_kill": round(e["t_kill"] - s.t0, 1), "down_s": e["down_s"],
                   "ready_s": e["ready_s"], "before": len(before), "firing_before":
                   sum(1 for a in before.values() if a["state"] == "firing"), "compared": 0,
                   "excused": 0, "changed": 0}
            if e["before"] is None or e["after_ready"] is None or e["after_eval"] is None:
                res["changed"] = "no snapshot"
                bad.append((e["life"], "an /api/v1/alerts snapshot is missing"))
                rows.append(res)
                continue
            for phase in ("after_ready", "after_eval"):
                after = {alert_key(a["labels"]): a for a in e[phase]}
                t_hi = e["t_after_eval"] if phase == "after_eval" else e["t_after_ready"]
                for k, a in before.items():
                    lb = a["labels"]
                    i = by_target.get(lb.get("probe"))
                    if i is not None:
                        # a window edge near the restart may legitimately change it
                        edges = [x for w in sch.windows(i) for x in w]
                        if any(e["t_before"] - 30 <= x <= t_hi + 5 for x in edges):
                            res["excused"] += 1
                            continue
                    res["compared"] += 1
                    b = after.get(k)
                    ok = b is not None and b["activeAt"] == a["activeAt"] and (
                        b["state"] == a["state"] or (a["state"] == "pending" and b["state"] == "firing"))
                    if not ok:
                        res["changed"] += 1
                        bad.append((e["life"], phase, dict(lb), a["state"], a["activeAt"],
                                    b and b["state"], b and b["activeAt"]))
            rows.append(res)
        self.restart_rows = rows
        self.check("no alert state change across kill -9 (every firing/pending alert before the kill "
                   "is there with the same state and activeAt at /ready and two evaluations later)",
                   bool(rows) and not bad,
                   ("; ".join(map(str, bad[:6])) if bad else
                    f"{len(rows)} restarts, {sum(r['compared'] for r in rows)} alert comparisons "
                    f"(+{sum(r['excused'] for r in rows)} skipped: a flap edge within the restart)")
                   if rows else "no restart happened")

    def reloads(self):
        s = self.s
        rl = [e for e in s.events if e["kind"] == "reload"]
        bad = [e for e in rl if not e["ok"]]
        combos = {}
        for e in rl:
            k = f"{'good' if e['good'] else 'bad'}/{e['via']}"
            combos[k] = combos.get(k, 0) + 1
        self.check("reloads: good ones applied, bad ones refused and the old rules kept running "
                   "(POST /-/reload 200/400, SIGHUP counted; rule list and last_reload_successful as expected)",
                   bool(rl) and not bad,
                   (f"{len(rl)} reloads {combos}" + ("; failed: " + "; ".join(
                       f"k={e['k']} {'good' if e['good'] else 'bad'}/{e['via']}: http {e['http_status']}, counted "
                       f"{e['counted']}, rules {e['rules_loaded']}/{e['rules_expected']}, toggle "
                       f"{e['toggle_loaded']}/{e['toggle_expected']}, last_ok {e['last_reload_successful']}, "
                       f"answer {e['answer'][:120]!r}" for e in bad[:4]) if bad else ""))
                   if rl else "no reload happened")

    def otlp(self):
        s = self.s
        try:
            st = json.load(open(os.path.join(s.out, "otlp_stats.json")))
        except (OSError, ValueError):
            self.check("OTLP: every export outside a restart accepted", False, "no sender stats")
            return
        windows = [(e["t_kill"] - 1, e["t_ready"] + 2) for e in s.events if e["kind"] == "restart"]
        exports = sum(x["exports"] for x in st.values())
        ok = sum(x["ok"] for x in st.values())
        points = sum(x["points"] for x in st.values())
        rej = sum(x["rejected_points"] for x in st.values())
        fails = [f for x in st.values() for f in x["failures"]]
        outside = [f for f in fails if not any(a <= f[0] <= b for a, b in windows)]
        self.otlp_stats = {"exports": exports, "ok": ok, "points": points, "rejected": rej,
                           "failures": len(fails), "outside": len(outside),
                           "reopened_idle_keepalive": sum(x.get("stale_keepalive_retries", 0) for x in st.values())}
        self.check("OTLP: every export outside a restart accepted (200, no rejected points)",
                   not outside,
                   f"{exports} exports, {ok} answered 200 ({points} points, {rej} rejected), "
                   f"{len(fails)} failed, all during a restart" if not outside else
                   f"{len(outside)} failures outside restarts: " + "; ".join(
                       f"{f[0] - s.t0:.0f}s {f[1][:150]}" for f in outside[:5]))

    def end_state(self):
        s = self.s
        e = s.end_state
        self.check("queues drained at the end (outbox 0; every probe alert resolved)",
                   e.get("outbox") == 0 and e.get("probe_alerts_active") == 0,
                   json.dumps({k: v for k, v in e.items() if k != "metrics"}))
        rows = s.sampler.rows
        last = rows[-1] if rows else {}
        for key, label in (("rule_eval_failures", "rule evaluation failures"),
                           ("durable_write_failures", "durable write failures"),
                           ("outbox_write_failures", "outbox write failures"),
                           ("checkpoint_failures", "checkpoint failures"),
                           ("state_persist_failures", "rule state persist failures")):
            worst = max((r.get(key) or 0) for r in rows) if rows else None
            self.check(f"no {label} (counter, per life)", worst == 0, f"max seen {worst}")

    # ---- markdown -----------------------------------------------------------------------------
    def markdown(self):
        s = self.s
        L = []
        L.append(f"## vitals soak, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(s.t0))}: "
                 f"{s.soak_s:.0f} s")
        L.append("")
        meta = getattr(s, "meta", None)
        if meta:
            L.append(f"vitals {meta.get('version')} (commit {meta.get('commit')}{meta.get('dirty', '')}), "
                     f"{meta.get('nproc')} CPUs, load average at start {meta.get('loadavg')}.")
            L.append("")
        L.append(f"{s.n_targets} probe targets every 15 s ({len(s.sch.flap)} flapping: down "
                 f"{s.down:.0f} s every {s.period:.0f} s), {s.sch.d['senders']} OTLP senders every 10 s, "
                 f"{s.n_rules_written} rules, webhook faults {100 * s.sch.d['fail_p']:.0f} % HTTP 500 + "
                 f"{100 * s.sch.d['hang_p']:.0f} % hang {s.sch.d['hang_s']:.0f} s (delivery.timeout "
                 f"{s.sch.d['delivery_timeout_s']} s) until the drain, reload every {s.reload_s:.0f} s, "
                 f"kill -9 every {s.kill_s:.0f} s; retention {s.retention_s:.0f} s, warm-up "
                 f"{s.warmup_s:.0f} s, drain {s.drain_s:.0f} s. Output: `{s.out}`.")
        L.append("")
        L.append("| check | result | detail |")
        L.append("|---|---|---|")
        for name, ok, det in self.checks:
            L.append(f"| {name} | **{'PASS' if ok else 'FAIL'}** | {str(det).replace('|', '/')} |")
        L.append("")
        L.append("Per life (RSS MiB / open fds / threads: a life's first quarter, at least 60 s, is its warm-up; "
                 "median of the first half of the rest → max of the second half; fds w/o client pools = listeners, "
                 "files, epoll/eventfd/pipes, connections to vitals' API and OTLP ports; probe and webhook fds = "
                 "vitals' client connection pools):")
        L.append("")
        L.append("| life | from–to (s) | ended by | start → ready (s) | samples | RSS min–max | RSS | fds | fds w/o client pools | probe fds | webhook fds | threads | checked |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")

        def pair(d, spec):
            if not d or d["median_q2"] is None or d["max_h2"] is None:
                return "n/a"
            g = f" ({100 * d['growth']:+.1f} %)" if d["growth"] is not None else ""
            return f"{format(d['median_q2'], spec)} → {format(d['max_h2'], spec)}{g}"
        for r in self.life_rows:
            L.append(f"| {r['life']} | {r['from_s']}–{r['to_s']} | {r['ended_by']} | {r['ready_s']} | "
                     f"{r['samples']} | {r['rss_mib']['min']:.1f}–{r['rss_mib']['max']:.1f} | "
                     f"{pair(r['rss_mib'], '.1f')} | {pair(r['fds'], '.0f')} | {pair(r.get('fd_own'), '.0f')} | "
                     f"{pair(r.get('fd_probe'), '.0f')} | {pair(r.get('fd_webhook'), '.0f')} | {pair(r['threads'], '.0f')} | "
                     f"{'yes' if r['after_warmup'] else 'warm-up'} |")
        L.append("")
        n = self.notif
        d = self.dups
        L.append("Notifications (receiver side, /a and /b): "
                 f"{n['attempts']} attempts ({', '.join(f'{k} {v}' for k, v in sorted(n['fates'].items()))}), "
                 f"{d['ids']} notification ids, {d['undelivered_ids']} ids never taken (every attempt "
                 f"500; superseded by a newer notification of the group), {n['expected']} expected "
                 f"alert episodes + {n['optional']} optional (windows cut short by the drain), "
                 f"{len(n['missing'])} transitions missing; duplicates: same id {d['by_id']}, same "
                 f"content under a new id within repeat_interval {d['by_content']}; "
                 f"{d['repeats']} repeat_interval repeats.")
        L.append("")
        if self.restart_rows:
            L.append("| restart (life) | kill at (s) | kill → ready (s) | start → ready (s) | alerts before (firing) | compared | skipped (flap edge) | changed |")
            L.append("|---|---|---|---|---|---|---|---|")
            for r in self.restart_rows:
                L.append(f"| {r['life']} | {r['t_kill']} | {r['down_s']} | {r['ready_s']} | {r['before']} "
                         f"({r['firing_before']}) | {r['compared']} | {r['excused']} | {r['changed']} |")
            L.append("")
        rows = s.sampler.rows
        if rows:
            last = rows[-1]
            L.append("Last sample: " + ", ".join(
                f"{k} {last.get(k)}" for k in ("rss_mib", "fds", "threads", "store_series",
                                               "store_chunk_bytes", "outbox", "notifications_ok",
                                               "notifications_failed", "failed_superseded",
                                               "rule_evaluations", "rule_iterations_missed",
                                               "probes", "probe_errors", "scrape_s", "redb_bytes",
                                               "checkpoint_bytes")
                if last.get(k) is not None) + ".")
            L.append("")
        if getattr(self, "otlp_stats", None):
            L.append(f"OTLP senders: {self.otlp_stats} (reopened_idle_keepalive: vitals closed a keep-alive "
                     "connection idle for the 10 s header_read_timeout, as documented, and the sender opened a new one).")
            L.append("")
        e, w = self.log_counts
        L.append(f"vitals' logs: {e} ERROR, {w} WARN lines in all lives.")
        for x in self.error_lines[:5]:
            L.append(f"    {x}")
        L.append("")
        if s.sampler.errors:
            L.append(f"Sampler errors: {len(s.sampler.errors)} (first: {s.sampler.errors[0][1][:200]}).")
            L.append("")
        return "\n".join(L) + "\n"


class Saved:
    """A finished soak, read back from its state.json (for `soak.py report OUT`)."""

    def __init__(self, out):
        with open(os.path.join(out, "state.json")) as f:
            st = json.load(f)
        for k in Soak.SAVED:
            setattr(self, k, st.get(k))
        self.out = out
        self.sch = Schedule.load(os.path.join(out, "schedule.json"))
        self.v = type("V", (), {})()
        self.v.lives = st["lives"]
        self.sampler = type("S", (), {})()
        self.sampler.rows = st["rows"]
        self.sampler.errors = st["sampler_errors"]


def cmd_report(out):
    sys.exit(Report(Saved(out)).run())


def cmd_run(binary):
    soak = Soak(binary)

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        rc = soak.run()
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        soak.cleanup()
    sys.exit(rc)


def main():
    cmds = {"run": cmd_run, "targets": cmd_targets, "receiver": cmd_receiver, "otlp": cmd_otlp,
            "report": cmd_report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
