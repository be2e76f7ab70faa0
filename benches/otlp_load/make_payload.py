#!/usr/bin/env python3
"""The shared payload (../shared/bench/make_otlp_payload.py), built with a timestamp whose low
40 bits are zero, so fresh.lua can advance it per request by patching five bytes."""
import os, sys, time
sys.path.insert(0, sys.argv[3])
from make_otlp_payload import build
base = (time.time_ns() >> 40) << 40
req = build(int(sys.argv[1]), ts=base)
open(sys.argv[2], "wb").write(req.SerializeToString())
