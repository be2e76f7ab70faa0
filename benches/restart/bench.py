#!/usr/bin/env python3
"""Restart benchmark: vitals (store checkpoint) against Prometheus 2.42 (WAL replay) on the
same 100,000 series x 15 minutes at 15 s (6,000,000 samples), side by side in one run.

Measures, in order:
  1. restart-to-ready after `kill -9`: process start until /ready (vitals) or /-/ready
     (Prometheus) answers 200, ROUNDS times each, alternating; then checks every sample is back
     (sum of count_over_time over all series);
  2. disk: the checkpoint file against vitals_store_chunk_bytes (and Prometheus's WAL, for
     context);
  3. checkpoint CPU: vitals' CPU time over WINDOW seconds while a live feed adds one sample per
     series every 15 s, with the checkpoint on (every 10 s) and off;
  4. ingest throughput with the checkpoint on and off: the `fresh` OTLP load of
     benches/otlp_load (wrk, 8 senders, a new timestamp every request) on top of the 100k
     series, on two fresh instances per round fed the same history, alternating which goes
     first.

Usage: bench.py VITALS_BINARY SHARED_BENCH_DIR
       (env: ROUNDS=3 WINDOW=60 LOAD_SECONDS=15 LOAD_ROUNDS=6)
"""
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.error
import urllib.request

import cramjam
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.common.v1 import common_pb2 as common

VITALS = sys.argv[1]
SHARED = sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
WINDOW = int(os.environ.get("WINDOW", "60"))
LOAD_SECONDS = int(os.environ.get("LOAD_SECONDS", "15"))
LOAD_ROUNDS = int(os.environ.get("LOAD_ROUNDS", "6"))

METRICS = int(os.environ.get("METRICS", "100"))        # metric names
RESOURCES = int(os.environ.get("RESOURCES", "1000"))  # (job, instance) pairs: 50 jobs x 20 instances
STEPS = 60           # 15 minutes at 15 s
STEP_MS = 15_000
PARTS = 10           # requests per timestamp (100 resources each)


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url, timeout=5.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{url}: {e.code} {e.read()[:500]!r}") from None


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        return r.status


def wait_ready(url, deadline_s=300):
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        try:
            if get(url, timeout=1)[0] == 200:
                return time.monotonic() - start
        except Exception:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} never became ready")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


# ---------------------------------------------------------------- data

class Data:
    """Counters with random increments: values[s][k] for series s at step k."""

    def __init__(self, t0_ms):
        rnd = random.Random(42)
        self.t0 = t0_ms
        n = METRICS * RESOURCES
        self.values = []
        for _ in range(n):
            v = float(rnd.randint(0, 10_000))
            row = []
            for _ in range(STEPS + 8):
                v += rnd.randint(0, 50)
                row.append(v)
            self.values.append(row)

    def ts(self, k):
        return self.t0 + k * STEP_MS


def resource_labels(r):
    return f"svc-{r // 20}", f"10.0.{r // 250}.{r % 250}:8080"


class OtlpFeed:
    """PARTS OTLP requests per timestamp, built once and re-stamped."""

    def __init__(self, data):
        self.data = data
        self.reqs = []
        for part in range(PARTS):
            req = ms.ExportMetricsServiceRequest()
            for r in range(part * RESOURCES // PARTS, (part + 1) * RESOURCES // PARTS):
                job, inst = resource_labels(r)
                rm = req.resource_metrics.add()
                rm.resource.attributes.append(common.KeyValue(key="service.name", value=common.AnyValue(string_value=job)))
                rm.resource.attributes.append(common.KeyValue(key="service.instance.id", value=common.AnyValue(string_value=inst)))
                sm = rm.scope_metrics.add()
                for m in range(METRICS):
                    met = sm.metrics.add()
                    met.name = f"bench_metric_{m}"
                    met.gauge.data_points.add()
            self.reqs.append(req)

    def bodies(self, k, t_ms=None):
        t_ns = (self.data.ts(k) if t_ms is None else t_ms) * 1_000_000
        out = []
        for part, req in enumerate(self.reqs):
            base = part * RESOURCES // PARTS
            for i, rm in enumerate(req.resource_metrics):
                r = base + i
                for m, met in enumerate(rm.scope_metrics[0].metrics):
                    dp = met.gauge.data_points[0]
                    dp.time_unix_nano = t_ns
                    dp.as_double = self.data.values[r * METRICS + m][k]
            out.append(req.SerializeToString())
        return out

    def send(self, base_url, k, t_ms=None):
        for body in self.bodies(k, t_ms):
            status = post(base_url + "/v1/metrics", body, {"content-type": "application/x-protobuf"})
            assert status == 200, status


def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes(field, b):
    return pb_varint((field << 3) | 2) + pb_varint(len(b)) + b


class RemoteWriteFeed:
    """The same series and samples as Prometheus remote-write requests."""

    def __init__(self, data):
        self.data = data
        self.labels = []
        for r in range(RESOURCES):
            job, inst = resource_labels(r)
            for m in range(METRICS):
                lb = (pb_bytes(1, pb_bytes(1, b"__name__") + pb_bytes(2, f"bench_metric_{m}".encode()))
                      + pb_bytes(1, pb_bytes(1, b"instance") + pb_bytes(2, inst.encode()))
                      + pb_bytes(1, pb_bytes(1, b"job") + pb_bytes(2, job.encode())))
                self.labels.append(lb)

    def send(self, base_url, k):
        ts = pb_varint(self.data.ts(k))
        per = len(self.labels) // PARTS
        for part in range(PARTS):
            chunks = []
            for s in range(part * per, (part + 1) * per):
                sample = b"\x09" + struct.pack("<d", self.data.values[s][k]) + b"\x10" + ts
                series = self.labels[s] + pb_bytes(2, sample)
                chunks.append(pb_bytes(1, series))
            body = cramjam.snappy.compress_raw(b"".join(chunks))
            status = post(base_url + "/api/v1/write", bytes(body), {
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            })
            assert status in (200, 204), status


# ---------------------------------------------------------------- systems

class Vitals:
    def __init__(self, work, name, checkpoint="10s"):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.api = port()
        self.otlp = port()
        self.url = f"http://127.0.0.1:{self.api}"
        self.otlp_url = f"http://127.0.0.1:{self.otlp}"
        with open(os.path.join(self.dir, "vitals.yaml"), "w") as f:
            f.write(f"""server: {{listen: "127.0.0.1:{self.api}", query_max_samples: 100000000}}
storage: {{path: "{self.dir}/data", checkpoint_interval: {checkpoint}, max_series: 2000000}}
otlp: {{grpc_listen: "", http_listen: "127.0.0.1:{self.otlp}"}}
rules: {{files: []}}
""")
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "vitals.log"), "a")
        self.proc = subprocess.Popen([VITALS, "run", "-c", os.path.join(self.dir, "vitals.yaml")],
                                     stdout=log, stderr=log, cwd=self.dir)
        return wait_ready(self.url + "/ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)

    def metrics(self):
        return get(self.url + "/metrics")[1].decode()

    def query(self, q):
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
        return json.loads(get(url, timeout=120)[1])

    def feed(self, feed, k, t_ms=None):
        feed.send(self.otlp_url, k, t_ms)


class Prometheus:
    def __init__(self, work):
        self.dir = os.path.join(work, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port()
        self.url = f"http://127.0.0.1:{self.port}"
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 15s}\n")
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "prometheus.log"), "a")
        self.proc = subprocess.Popen([
            "prometheus", f"--config.file={self.dir}/prometheus.yml",
            f"--storage.tsdb.path={self.dir}/data", f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-remote-write-receiver", "--query.max-samples=100000000",
        ], stdout=log, stderr=log, cwd=self.dir)
        return wait_ready(self.url + "/-/ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def query(self, q):
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
        return json.loads(get(url, timeout=120)[1])

    def feed(self, feed, k):
        feed.send(self.url, k)


def samples(system):
    """Every sample held, one metric name at a time (count_over_time drops the name, so one
    query over all names would hold duplicate label sets)."""
    total = 0
    for m in range(METRICS):
        r = system.query(f"sum(count_over_time(bench_metric_{m}[20m]))")
        total += int(float(r["data"]["result"][0]["value"][1]))
    return total


def main():
    work = tempfile.mkdtemp(prefix="vitals-restart-")
    procs = []
    try:
        now = int(time.time() * 1000)
        data = Data(now - (STEPS - 1) * STEP_MS - 5000)
        t = time.monotonic()
        otlp, rw = OtlpFeed(data), RemoteWriteFeed(data)
        print(f"# generated {METRICS * RESOURCES} series x {STEPS} samples in {time.monotonic() - t:.1f}s", flush=True)

        v, p = Vitals(work, "vitals"), Prometheus(work)
        v.start(), p.start()
        procs += [v, p]
        t = time.monotonic()
        for k in range(STEPS):
            v.feed(otlp, k)
        print(f"# vitals took the history in {time.monotonic() - t:.1f}s", flush=True)
        t = time.monotonic()
        for k in range(STEPS):
            p.feed(rw, k)
        print(f"# prometheus took the history in {time.monotonic() - t:.1f}s", flush=True)
        want = METRICS * RESOURCES * STEPS
        assert samples(v) == want, samples(v)
        assert samples(p) == want, samples(p)
        # Let a checkpoint (10 s) and Prometheus's WAL writes land.
        time.sleep(12)
        m = v.metrics()
        chunk_bytes = metric(m, "vitals_store_chunk_bytes")
        ck_bytes = os.path.getsize(os.path.join(v.dir, "data/store/store.ckpt"))
        wal_bytes = du(os.path.join(p.dir, "data/wal"))
        rss_v, rss_p = rss_mib(v.proc.pid), rss_mib(p.proc.pid)

        # 1. restart to ready after kill -9
        times = {"vitals": [], "prometheus": []}
        for _ in range(ROUNDS):
            for name, s in (("vitals", v), ("prometheus", p)):
                s.kill9()
                times[name].append(s.start())
        got_v, got_p = samples(v), samples(p)
        print("\n## restart to ready after kill -9 (100,000 series x 60 samples)")
        print(f"{'system':<11} {'ready_s (each)':<28} {'median_s':>9} {'samples_after':>14}")
        for name, got in (("vitals", got_v), ("prometheus", got_p)):
            each = " ".join(f"{x:.3f}" for x in times[name])
            print(f"{name:<11} {each:<28} {statistics.median(times[name]):>9.3f} {got:>14}")
        ratio = statistics.median(times["vitals"]) / statistics.median(times["prometheus"])
        print(f"ratio vitals/prometheus: {ratio:.3f}  (every sample back: {got_v == want and got_p == want})")
        m = v.metrics()
        print(f"vitals load_duration_seconds={metric(m, 'vitals_store_checkpoint_load_duration_seconds'):.3f} "
              f"series_recovered={metric(m, 'vitals_store_checkpoint_series_recovered'):.0f} "
              f"samples_recovered={metric(m, 'vitals_store_checkpoint_samples_recovered'):.0f}")

        # 2. disk
        print("\n## disk")
        print(f"vitals checkpoint {ck_bytes} B; chunk bytes in memory {chunk_bytes:.0f} B; "
              f"ratio {ck_bytes / chunk_bytes:.3f}; RSS {rss_v:.0f} MiB")
        print(f"prometheus WAL {wal_bytes} B; RSS {rss_p:.0f} MiB")
        p.kill9()
        procs.remove(p)

        # 3. checkpoint CPU under a live feed (one sample per series every 15 s)
        off = Vitals(work, "vitals-off", checkpoint="0s")
        off.start()
        procs.append(off)
        for k in range(STEPS):
            off.feed(otlp, k)
        print(f"\n## CPU over {WINDOW}s with a live feed (100,000 samples every 15 s)")
        cpu = {}
        for name, s in (("checkpoint on (10s)", v), ("checkpoint off", off)):
            c0, w0 = cpu_seconds(s.proc.pid), time.monotonic()
            k = STEPS
            while time.monotonic() - w0 < WINDOW:
                # The precomputed values after the history, stamped now.
                s.feed(otlp, min(k, STEPS + 7), int(time.time() * 1000))
                k += 1
                time.sleep(max(0.0, min(15.0, WINDOW - (time.monotonic() - w0)) - (time.monotonic() - w0) % 15))
            c1, w1 = cpu_seconds(s.proc.pid), time.monotonic()
            cpu[name] = (c1 - c0) / (w1 - w0)
            print(f"{name:<20} {100 * cpu[name]:6.2f} % of a core")
        m = v.metrics()
        n = metric(m, "vitals_store_checkpoint_duration_seconds_count")
        total = metric(m, "vitals_store_checkpoint_duration_seconds_sum")
        print(f"checkpoint cost: {100 * (cpu['checkpoint on (10s)'] - cpu['checkpoint off']):.2f} % of a core; "
              f"mean write {1000 * total / n:.1f} ms wall over {n:.0f} checkpoints")

        # 4. ingest throughput, on vs off
        print(f"\n## OTLP ingest ({LOAD_SECONDS}s of the fresh load on top of 100k series)")
        payload = os.path.join(work, "fresh.pb")
        subprocess.run([sys.executable, os.path.join(HERE, "../otlp_load/make_payload.py"), "333", payload, SHARED],
                       check=True, stdout=subprocess.DEVNULL)
        # Two fresh instances per round fed the same history, one checkpointing; which one
        # starts, is fed and is loaded first alternates by round: with both checkpoints off
        # the first-started instance of a pair measured ~8% slower here, which would
        # otherwise be charged to the checkpoint.
        v.kill9()
        procs.remove(v)
        off.kill9()
        procs.remove(off)
        rates = {"on": [], "off": []}
        for rnd in range(LOAD_ROUNDS):
            pair = [("on", "10s"), ("off", "0s")]
            if rnd % 2:
                pair.reverse()
            systems = [(name, Vitals(work, f"load-{rnd}-{name}", checkpoint=ck)) for name, ck in pair]
            for _, s in systems:
                s.start()
                procs.append(s)
                for k in range(STEPS):
                    s.feed(otlp, k)
            for name, s in systems:
                out = subprocess.run(["wrk", "-t8", "-c8", f"-d{LOAD_SECONDS}s", "-s",
                                      os.path.join(HERE, "../otlp_load/fresh.lua"), s.otlp_url + "/v1/metrics"],
                                     env={**os.environ, "OTLP_BODY": payload}, capture_output=True, text=True, check=True).stdout
                rps = float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")))
                rates[name].append(rps * 999)
                print(f"round {rnd} checkpoint {name:<4} {rps * 999:>12.0f} points/s", flush=True)
            for _, s in systems:
                s.kill9()
                procs.remove(s)
                shutil.rmtree(s.dir, ignore_errors=True)
        on, off_r = statistics.mean(rates["on"]), statistics.mean(rates["off"])
        print(f"on/off: {on / off_r:.3f}")
    finally:
        for s in procs:
            try:
                s.kill9()
            except Exception:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
