#!/usr/bin/env python3
"""Posts SERVICES services x 6,327 series (the shared payload with N=333: a counter, a gauge
and a 15-bucket histogram per attribute set) to an OTLP/HTTP endpoint, one request per
service and sample; SAMPLES samples per series (default 1), 15 s apart, the last stamped now.

Usage: post.py URL SERVICES SHARED_BENCH_DIR [SAMPLES]"""
import sys, time, urllib.request
sys.path.insert(0, sys.argv[3])
from make_otlp_payload import build

url, services = sys.argv[1], int(sys.argv[2])
samples = int(sys.argv[4]) if len(sys.argv) > 4 else 1
now = time.time_ns()
for k in range(samples):
    ts = now - (samples - 1 - k) * 15 * 10**9
    for s in range(services):
        req = build(333, services=1, ts=ts)
        rm = req.resource_metrics[0]
        for kv in rm.resource.attributes:
            if kv.key == "service.name":
                kv.value.string_value = f"svc-{s}"
            if kv.key == "service.instance.id":
                kv.value.string_value = f"pod-{s}"
        body = req.SerializeToString()
        r = urllib.request.Request(url, data=body, headers={"content-type": "application/x-protobuf"})
        with urllib.request.urlopen(r) as resp:
            if resp.status != 200:
                sys.exit(f"service {s}: HTTP {resp.status}")
