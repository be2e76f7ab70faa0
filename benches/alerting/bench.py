#!/usr/bin/env python3
"""Helpers of benches/alerting/run.sh: the webhook receiver, the flapping probe target, the
receiver's throughput self-test, the three measurements (latency, burst, e2e) and the report.

Only the standard library. All times are CLOCK_MONOTONIC (`time.monotonic()`), which is one
clock for every process on the machine, so a sender's timestamp (carried in the alert's
`sent` annotation) and the receiver's arrival time can be subtracted.

    bench.py receiver PORT            webhook receiver; GET /_records?from=N lists what arrived
    bench.py target PORT              /health answers 200 or 503; POST /_down, /_up switch it
    bench.py selftest RECV_PORT N     N webhook-sized POSTs over 8 keep-alive connections
    bench.py latency OUT N SPACING_MS name=apiurl,path ...
    bench.py burst OUT ALERTS GROUPS POST_SIZE name apiurl path pid [metrics_url]
    bench.py e2e OUT REPS recv_url target_url
    bench.py report OUT_MD META_JSON results.json...
"""

import asyncio
import http.client
import datetime
import json
import math
import os
import random
import socket
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

# ---------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 server on asyncio streams (keep-alive, Content-Length or chunked bodies).
# ---------------------------------------------------------------------------------------------


async def read_request(reader):
    """One request: (method, target, headers, body), or None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
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
    else:
        body = b""
    return method, target, headers, body


def response(status, body=b"", ctype="application/json"):
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(status, "X")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def serve(port, handle):
    async def conn(reader, writer):
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                writer.write(handle(*req))
                await writer.drain()
                if req[2].get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(conn, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# Webhook receiver: records (arrival, path, body); bodies are parsed only when listed.
# ---------------------------------------------------------------------------------------------


def summarize(t, path, body, wall=None):
    rec = {"t": t, "wall": wall, "path": path, "bytes": len(body)}
    try:
        n = json.loads(body)
    except ValueError:
        rec["error"] = "not json"
        return rec
    alerts = n.get("alerts") or []
    rec.update({
        "status": n.get("status"),
        "group_key": n.get("groupKey"),
        "group_labels": n.get("groupLabels"),
        "n_alerts": len(alerts),
        "alerts": [{
            "name": a.get("labels", {}).get("alertname"),
            "idx": a.get("labels", {}).get("idx"),
            "status": a.get("status"),
            "starts_at": a.get("startsAt"),
            "sent": a.get("annotations", {}).get("sent"),
        } for a in alerts],
    })
    return rec


def cmd_receiver(port):
    raw = []      # (arrival, path, body, arrival wall-clock time)
    parsed = []   # summaries of raw[:len(parsed)]

    def handle(method, target, headers, body):
        t = time.monotonic()
        path, _, query = target.partition("?")
        if method == "GET" and path == "/_records":
            start = int(urllib.parse.parse_qs(query).get("from", ["0"])[0])
            while len(parsed) < len(raw):
                parsed.append(summarize(*raw[len(parsed)]))
            return response(200, json.dumps(parsed[start:]).encode())
        if method == "GET" and path == "/_count":
            return response(200, str(len(raw)).encode())
        if method == "POST":
            raw.append((t, path, body, time.time()))
            return response(200)
        return response(404)

    serve(port, handle)


# ---------------------------------------------------------------------------------------------
# Probe target: /health answers 200 until POST /_down (which returns the switch time), etc.
# ---------------------------------------------------------------------------------------------


def cmd_target(port):
    state = {"up": True, "log": []}  # log: (time, status) of every /health answer

    def handle(method, target, headers, body):
        t = time.monotonic()
        path, _, query = target.partition("?")
        if path == "/_down" or path == "/_up":
            state["up"] = path == "/_up"
            return response(200, json.dumps({"t": t}).encode())
        if path == "/_log":
            start = int(urllib.parse.parse_qs(query).get("from", ["0"])[0])
            return response(200, json.dumps(state["log"][start:]).encode())
        if path == "/health":
            status = 200 if state["up"] else 503
            state["log"].append((t, status))
            return response(status, b'{"status":"UP"}' if status == 200 else b'{"status":"DOWN"}')
        return response(404)

    serve(port, handle)


# ---------------------------------------------------------------------------------------------
# Client side.
# ---------------------------------------------------------------------------------------------


def get_json(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def post_json(url, body=None, timeout=30):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else b"",
                                 headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class Api:
    """A keep-alive connection to an Alertmanager v2 API (vitals' or Alertmanager's)."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def post_alerts(self, alerts):
        body = json.dumps(alerts).encode()
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.conn.request("POST", "/api/v2/alerts", body,
                                  {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise SystemExit(f"POST /api/v2/alerts on {self.port}: {r.status} {data[:300]!r}")
                return
            except (ConnectionError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise


class Records:
    """Incremental reader of the receiver's records."""

    def __init__(self, recv_url):
        self.url = recv_url
        self.all = []

    def poll(self):
        new = get_json(f"{self.url}/_records?from={len(self.all)}")
        self.all.extend(new)
        return new


def quantile(xs, q):
    """Nearest-rank quantile."""
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)] if s else None


def proc_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def metric_value(url, name):
    with urllib.request.urlopen(url, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


def cmd_selftest(port, n):
    """n POSTs of a ~10 KB webhook body over 8 keep-alive connections: the receiver's rate."""
    n = int(n)
    body = json.dumps({"alerts": [{"labels": {"alertname": "x", "idx": str(i)},
                                   "annotations": {"sent": "0"}} for i in range(20)],
                       "groupKey": "k", "status": "firing"}).encode()
    start_count = int(urllib.request.urlopen(f"http://127.0.0.1:{port}/_count").read())

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
        for _ in range(k):
            c.request("POST", "/_selftest", body, {"Content-Type": "application/json"})
            c.getresponse().read()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n // 8,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    got = int(urllib.request.urlopen(f"http://127.0.0.1:{port}/_count").read()) - start_count
    print(json.dumps({"requests": got, "seconds": dt, "per_second": got / dt}))


def cmd_latency(out, n, spacing_ms, *systems):
    """One alert at a time, each its own group, alternating between the systems, spacing_ms
    apart per system; latency = receiver arrival - the time just before the POST."""
    n, spacing = int(n), float(spacing_ms) / 1000
    sys_list = []
    for s in systems:
        name, rest = s.split("=", 1)
        api, path = rest.split(",", 1)
        sys_list.append({"name": name, "api": Api(api), "path": path})
    recv = Records(os.environ["RECV_URL"])
    recv.poll()
    warm = 5
    step = spacing / len(sys_list)
    sent = {s["name"]: {} for s in sys_list}
    t_next = time.monotonic()
    for i in range(-warm, n):
        for s in sys_list:
            now = time.monotonic()
            if t_next > now:
                time.sleep(t_next - now)
            name = f"Lat{i}" if i >= 0 else f"Warm{-i}"
            t = time.monotonic()
            s["api"].post_alerts([{"labels": {"alertname": name, "bench": "latency"},
                                   "annotations": {"sent": repr(t)}}])
            if i >= 0:
                sent[s["name"]][name] = (t, time.monotonic() - t)
            t_next += step
    deadline = time.monotonic() + 60
    arrivals = {s["name"]: {} for s in sys_list}
    while time.monotonic() < deadline:
        for r in recv.poll():
            for s in sys_list:
                if r["path"] == s["path"]:
                    for a in r.get("alerts", []):
                        if a["name"] in sent[s["name"]]:
                            arrivals[s["name"]].setdefault(a["name"], []).append(
                                (r["t"], float(a["sent"])))
        if all(len(arrivals[s["name"]]) >= n for s in sys_list):
            break
        time.sleep(0.2)
    res = {}
    for s in sys_list:
        lat = [min(x[0] for x in v) - v[0][1] for v in arrivals[s["name"]].values()]
        acks = [x[1] for x in sent[s["name"]].values()]
        dup = sum(len(v) - 1 for v in arrivals[s["name"]].values())
        res[s["name"]] = {
            "sent": n, "delivered": len(lat), "duplicates": dup,
            "p50_ms": 1000 * quantile(lat, 0.5) if lat else None,
            "p99_ms": 1000 * quantile(lat, 0.99) if lat else None,
            "max_ms": 1000 * max(lat) if lat else None,
            "mean_ms": 1000 * statistics.mean(lat) if lat else None,
            "post_ack_p50_ms": 1000 * quantile(acks, 0.5),
            "post_ack_p99_ms": 1000 * quantile(acks, 0.99),
        }
    json.dump({"kind": "latency", "n": n, "spacing_ms": float(spacing_ms), "warmup": warm,
               "systems": res}, open(out, "w"), indent=1)
    for k, v in res.items():
        print(f"latency {k}: {json.dumps(v)}", file=sys.stderr)


def cmd_burst(out, n_alerts, n_groups, post_size, name, api_url, path, pid, metrics_url=""):
    """n_alerts alerts in n_groups groups (label grp; a group's alerts are consecutive, so each
    POST carries whole groups), posted back to back; waits until every group has had a
    notification listing all its alerts."""
    n_alerts, n_groups, post_size, pid = int(n_alerts), int(n_groups), int(post_size), int(pid)
    per_group = n_alerts // n_groups
    alerts = [{"labels": {"alertname": "Burst", "bench": "burst", "grp": f"g{i // per_group:04d}",
                          "idx": str(i)},
               "annotations": {"summary": f"alert {i} of the burst", "sent": "0"}}
              for i in range(n_alerts)]
    api = Api(api_url)
    recv = Records(os.environ["RECV_URL"])
    recv.poll()
    rss0, hwm0 = proc_kb(pid, "VmRSS"), proc_kb(pid, "VmHWM")
    t0 = time.monotonic()
    for k in range(0, n_alerts, post_size):
        api.post_alerts(alerts[k:k + post_size])
    t_posted = time.monotonic()
    want = {f"g{g:04d}": set(str(i) for i in range(g * per_group, (g + 1) * per_group))
            for g in range(n_groups)}
    seen = {}         # grp -> set of idx seen
    complete_at = {}  # grp -> first arrival of a notification listing all its alerts
    first_at = {}
    notes = []
    deadline = t0 + float(os.environ.get("BURST_TIMEOUT", "120"))
    while time.monotonic() < deadline and len(complete_at) < n_groups:
        for r in recv.poll():
            if r["path"] != path:
                continue
            notes.append(r)
            idxs = [a["idx"] for a in r.get("alerts", [])]
            grps = {(r.get("group_labels") or {}).get("grp")}
            for g in grps:
                first_at.setdefault(g, r["t"])
                seen.setdefault(g, set()).update(idxs)
                if g in want and want[g] <= set(idxs):
                    complete_at.setdefault(g, r["t"])
        time.sleep(0.05)
    t_done = time.monotonic()
    # Late extra notifications (duplicates) would show up within a group_interval or two.
    time.sleep(float(os.environ.get("BURST_SETTLE", "2.5")))
    for r in recv.poll():
        if r["path"] == path:
            notes.append(r)
    rss1, hwm1 = proc_kb(pid, "VmRSS"), proc_kb(pid, "VmHWM")
    outbox = None
    outbox_zero_after = None
    if metrics_url:
        t_m = time.monotonic()
        while True:
            outbox = metric_value(metrics_url, "vitals_alerting_outbox_notifications")
            if outbox == 0 or time.monotonic() - t_m > 10:
                break
            time.sleep(0.2)
        outbox_zero_after = time.monotonic() - t_done if outbox == 0 else None
    total_alerts = sum(r.get("n_alerts", 0) for r in notes)
    all_idx = [a["idx"] for r in notes for a in r.get("alerts", [])]
    groups = {(r.get("group_labels") or {}).get("grp") for r in notes}
    lost = sum(len(w - seen.get(g, set())) for g, w in want.items())
    res = {
        "kind": "burst", "system": name, "alerts": n_alerts, "groups": n_groups,
        "post_size": post_size,
        "post_s": t_posted - t0,
        "first_notification_s": (min(r["t"] for r in notes) - t0) if notes else None,
        "last_first_notification_s": (max(first_at.values()) - t0) if first_at else None,
        "all_complete_s": (max(complete_at.values()) - t0) if len(complete_at) == n_groups else None,
        "groups_complete": len(complete_at),
        "groups_notified": len(groups),
        "notifications": len(notes),
        "alerts_in_bodies": total_alerts,
        "distinct_alerts": len(set(all_idx)),
        "alerts_lost": lost,
        "rss_before_mib": rss0 / 1024, "hwm_before_mib": hwm0 / 1024,
        "rss_after_mib": rss1 / 1024, "hwm_after_mib": hwm1 / 1024,
        "outbox_after": outbox, "outbox_zero_after_s": outbox_zero_after,
    }
    json.dump(res, open(out, "w"), indent=1)
    print(f"burst {name}: {json.dumps(res)}", file=sys.stderr)


def cmd_e2e(out, reps, recv_url, target_url, path="/e2e"):
    """The target goes 503 at T (a random phase within the probe interval); latency = T ->
    the first firing notification after T. Then up again and wait for the resolve."""
    reps = int(reps)
    recv = Records(recv_url)
    recv.poll()
    rows = []
    for rep in range(reps):
        time.sleep(random.uniform(0.0, 1.0))
        log_from = len(get_json(f"{target_url}/_log"))
        t_down = post_json(f"{target_url}/_down")["t"]
        fired = None
        deadline = t_down + 20
        while time.monotonic() < deadline and fired is None:
            for r in recv.poll():
                if r["path"] == path and r.get("status") == "firing" and r["t"] > t_down:
                    fired = r
                    break
            time.sleep(0.01)
        probe_503 = next((t for t, s in get_json(f"{target_url}/_log?from={log_from}")
                          if s == 503 and t >= t_down), None)
        t_up = post_json(f"{target_url}/_up")["t"]
        resolved = None
        deadline = t_up + 30
        while time.monotonic() < deadline and resolved is None:
            for r in recv.poll():
                if r["path"] == path and r.get("status") == "resolved" and r["t"] > t_up:
                    resolved = r
            time.sleep(0.05)
        # The firing alert's startsAt is the rule evaluation's timestamp (for: 0s): the
        # evaluation → webhook part of the path, on the wall clock both sides share.
        eval_to_webhook = None
        if fired and fired.get("wall") and fired["alerts"] and fired["alerts"][0].get("starts_at"):
            try:
                st = datetime.datetime.fromisoformat(fired["alerts"][0]["starts_at"].replace("Z", "+00:00"))
                eval_to_webhook = fired["wall"] - st.timestamp()
            except ValueError:
                pass
        row = {
            "rep": rep,
            "eval_to_webhook_s": eval_to_webhook,
            "latency_s": fired["t"] - t_down if fired else None,
            "first_503_probe_after_s": probe_503 - t_down if probe_503 else None,
            "resolve_latency_s": resolved["t"] - t_up if resolved else None,
        }
        rows.append(row)
        print(f"e2e rep {rep}: {json.dumps(row)}", file=sys.stderr)
        time.sleep(float(os.environ.get("E2E_GAP", "2")))
    lat = [r["latency_s"] for r in rows if r["latency_s"] is not None]
    res = {"kind": "e2e", "reps": reps, "rows": rows,
           "fired": len(lat),
           "median_s": statistics.median(lat) if lat else None,
           "max_s": max(lat) if lat else None,
           "min_s": min(lat) if lat else None}
    json.dump(res, open(out, "w"), indent=1)


# ---------------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------------


def f(x, spec=".1f", unit=""):
    return "n/a" if x is None else format(x, spec) + unit


def cmd_report(out_md, meta_json, *paths):
    meta = json.loads(meta_json)
    rs = [json.load(open(p)) for p in paths]
    lat = next((r for r in rs if r["kind"] == "latency"), None)
    bursts = [r for r in rs if r["kind"] == "burst"]
    e2e = next((r for r in rs if r["kind"] == "e2e"), None)
    L = []
    L.append(f"### Run of {meta['date']}")
    L.append("")
    L.append(f"Machine: {meta['nproc']} CPUs ({meta['cpu']}), load average at start "
             f"{meta['loadavg']}. Command: `{meta['command']}`. vitals {meta['vitals_version']} "
             f"(commit {meta['vitals_commit']}), Alertmanager {meta['am_version']}. "
             f"Receiver self-test: {meta['selftest_per_s']:.0f} webhook POSTs/s.")
    L.append("")
    L.append("| measurement | vitals | Alertmanager | requirement | verdict |")
    L.append("|---|---|---|---|---|")
    verdicts = []
    if lat:
        v, a = lat["systems"].get("vitals"), lat["systems"].get("alertmanager")
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")):
            req, ok = "", ""
            if key == "p99_ms":
                req = "vitals < 10 ms and ≤ Alertmanager"
                good = (v and v[key] is not None and v[key] < 10 and a and a[key] is not None
                        and v[key] <= a[key] and v["delivered"] == lat["n"])
                ok = "met" if good else "NOT met"
                verdicts.append(("latency p99", ok))
            L.append(f"| 1. POST → webhook latency {label} ({lat['n']} alerts, one group each, "
                     f"{lat['spacing_ms']:.0f} ms apart) | {f(v and v[key], '.2f', ' ms')} | "
                     f"{f(a and a[key], '.2f', ' ms')} | {req} | {ok} |")
        L.append(f"| 1. delivered / duplicates | {v['delivered']}/{lat['n']}, {v['duplicates']} | "
                 f"{a['delivered']}/{lat['n']}, {a['duplicates']} | all, 0 | |")
        L.append(f"| 1. POST ack p50 / p99 (API answer time) | {f(v['post_ack_p50_ms'], '.2f')} / "
                 f"{f(v['post_ack_p99_ms'], '.2f', ' ms')} | {f(a['post_ack_p50_ms'], '.2f')} / "
                 f"{f(a['post_ack_p99_ms'], '.2f', ' ms')} | | |")
    for rnd in sorted({b.get("round", 1) for b in bursts}):
        bv = next((b for b in bursts if b["system"] == "vitals" and b.get("round", 1) == rnd), None)
        ba = next((b for b in bursts if b["system"] == "alertmanager" and b.get("round", 1) == rnd), None)
        if not (bv and ba):
            continue
        tag = f"2. burst (round {rnd}, {bv.get('order', '')})"
        tv, ta = bv["all_complete_s"], ba["all_complete_s"]
        ok = "met" if tv is not None and ta is not None and tv <= ta / 3 else "NOT met"
        verdicts.append((f"burst time r{rnd}", ok))
        L.append(f"| {tag}: first POST → last group's complete notification "
                 f"({bv['alerts']} alerts, {bv['groups']} groups, POSTs of {bv['post_size']}) | "
                 f"{f(tv, '.3f', ' s')} | {f(ta, '.3f', ' s')} | vitals ≤ 1/3 of Alertmanager "
                 f"(ratio {f(tv / ta if tv and ta else None, '.2f')}) | {ok} |")
        lv, la = bv["last_first_notification_s"], ba["last_first_notification_s"]
        L.append(f"| {tag}: time spent POSTing / first notification / last group's first "
                 f"notification | {f(bv['post_s'], '.3f')} / {f(bv['first_notification_s'], '.3f')} / "
                 f"{f(lv, '.3f', ' s')} | {f(ba['post_s'], '.3f')} / "
                 f"{f(ba['first_notification_s'], '.3f')} / {f(la, '.3f', ' s')} | "
                 f"(last first-notification ratio {f(lv / la if lv and la else None, '.2f')}) | |")
        good = all(b["groups_complete"] == b["groups"] and b["alerts_lost"] == 0
                   and b["alerts_in_bodies"] == b["alerts"] for b in (bv,))
        verdicts.append((f"burst delivery r{rnd}", "met" if good else "NOT met"))
        L.append(f"| {tag}: groups complete / notifications / alerts in bodies / distinct / lost | "
                 f"{bv['groups_complete']} / {bv['notifications']} / {bv['alerts_in_bodies']} / "
                 f"{bv['distinct_alerts']} / {bv['alerts_lost']} | {ba['groups_complete']} / "
                 f"{ba['notifications']} / {ba['alerts_in_bodies']} / {ba['distinct_alerts']} / "
                 f"{ba['alerts_lost']} | 500 / 500 / 10000 / 10000 / 0 | "
                 f"{'met' if good else 'NOT met'} (vitals) |")
        rv, ra = bv["rss_after_mib"], ba["rss_after_mib"]
        ok = "met" if rv <= ra / 2 else "NOT met"
        verdicts.append((f"burst RSS r{rnd}", ok))
        L.append(f"| {tag}: RSS after (VmRSS) / peak (VmHWM) / RSS before | {rv:.1f} / "
                 f"{bv['hwm_after_mib']:.1f} / {bv['rss_before_mib']:.1f} MiB | {ra:.1f} / "
                 f"{ba['hwm_after_mib']:.1f} / {ba['rss_before_mib']:.1f} MiB | vitals RSS ≤ 1/2 "
                 f"(ratio {rv / ra:.2f}; peak ratio {bv['hwm_after_mib'] / ba['hwm_after_mib']:.2f}) | {ok} |")
        ok = "met" if bv["outbox_after"] == 0 else "NOT met"
        verdicts.append((f"outbox r{rnd}", ok))
        L.append(f"| {tag}: `vitals_alerting_outbox_notifications` afterwards | "
                 f"{f(bv['outbox_after'], '.0f')} | – | 0 | {ok} |")
    if e2e:
        ok = "met" if e2e["max_s"] is not None and e2e["max_s"] <= 2.2 and e2e["fired"] == e2e["reps"] else "NOT met"
        verdicts.append(("e2e", ok))
        per = ", ".join(f(r["latency_s"], ".2f") for r in e2e["rows"])
        L.append(f"| 3. probe target → 503 at T → webhook (probe 1s/500ms, rule every 1s, for 0s, "
                 f"group_wait 0s, group_interval 1s), {e2e['reps']} reps: median / max | "
                 f"{f(e2e['median_s'], '.2f')} / {f(e2e['max_s'], '.2f', ' s')} (each: {per}) | – | "
                 f"≤ 2.2 s | {ok} |")
        probe = [r["first_503_probe_after_s"] for r in e2e["rows"] if r["first_503_probe_after_s"] is not None]
        rest = [r["latency_s"] - r["first_503_probe_after_s"] for r in e2e["rows"]
                if r["latency_s"] is not None and r["first_503_probe_after_s"] is not None]
        L.append(f"| 3. of which: T → first 503 probe / that probe → webhook (max) | "
                 f"{f(max(probe) if probe else None, '.2f')} / {f(max(rest) if rest else None, '.2f', ' s')} | – | | |")
        ev = [r["eval_to_webhook_s"] * 1000 for r in e2e["rows"] if r.get("eval_to_webhook_s") is not None]
        L.append(f"| 3. rule evaluation instant (the alert's startsAt) → webhook: median / max | "
                 f"{f(statistics.median(ev) if ev else None, '.1f')} / {f(max(ev) if ev else None, '.1f', ' ms')} | – | "
                 f"< 10 ms | {'met' if ev and max(ev) < 10 else 'NOT met'} |")
        res = [r["resolve_latency_s"] for r in e2e["rows"] if r["resolve_latency_s"] is not None]
        L.append(f"| 3. up again → resolved notification (max) | {f(max(res) if res else None, '.2f', ' s')} | – | | |")
    L.append("")
    text = "\n".join(L) + "\n"
    print(text)
    with open(out_md, "a") as fh:
        fh.write(text)


def main():
    cmds = {"receiver": cmd_receiver, "target": cmd_target, "selftest": cmd_selftest,
            "latency": cmd_latency, "burst": cmd_burst, "e2e": cmd_e2e, "report": cmd_report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
