#!/usr/bin/env bash
# The OpenTelemetry Python SDK exports metrics, spans and logs to vitals over OTLP/gRPC and
# OTLP/HTTP; the result is checked in /metrics under the Prometheus names.
set -euo pipefail
: "${VITALS_BIN:?set by run.sh}"
python3 -c 'import opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-http >/dev/null
work=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
vport=$(port); gport=$(port); hport=$(port)
cat > "$work/vitals.yaml" <<YAML
server: {listen: "127.0.0.1:$vport"}
storage: {path: "$work/data"}
otlp: {grpc_listen: "127.0.0.1:$gport", http_listen: "127.0.0.1:$hport", log_counters: [{name: payment_errors, match: "payment failed"}]}
YAML
"$VITALS_BIN" run -c "$work/vitals.yaml" 2>"$work/vitals.log" & pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$vport/ready" >/dev/null 2>&1 && break; sleep 0.1; done

cat > "$work/send.py" <<'PY'
import logging, sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs

grpc, http = sys.argv[1], sys.argv[2]
for name, exporter in [("py-grpc", GrpcMetrics(endpoint=f"http://{grpc}", insecure=True)),
                       ("py-http", HttpMetrics(endpoint=f"http://{http}/v1/metrics"))]:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3600_000)
    mp = MeterProvider(resource=Resource.create({"service.name": name, "service.instance.id": "pod-1"}), metric_readers=[reader])
    meter = mp.get_meter("interop")
    meter.create_counter("orders.placed", unit="{order}").add(5, {"region": "eu"})
    h = meter.create_histogram("http.server.request.duration", unit="s")
    for v in (0.004, 0.02, 0.3, 1.5):
        h.record(v, {"http.route": "/orders"})
    meter.create_up_down_counter("queue.depth").add(3)
    mp.force_flush(); mp.shutdown()

tp = TracerProvider(resource=Resource.create({"service.name": "py-traces"}))
tp.add_span_processor(SimpleSpanProcessor(HttpSpans(endpoint=f"http://{http}/v1/traces")))
tracer = tp.get_tracer("interop")
for i in range(4):
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", "/orders")
        if i == 0:
            span.set_status(Status(StatusCode.ERROR))
tp.shutdown()

lp = LoggerProvider(resource=Resource.create({"service.name": "py-logs"}))
lp.add_log_record_processor(SimpleLogRecordProcessor(GrpcLogs(endpoint=f"http://{grpc}", insecure=True)))
log = logging.getLogger("interop"); log.setLevel(logging.INFO); log.addHandler(LoggingHandler(logger_provider=lp))
log.error("payment failed: card declined"); log.error("payment failed: timeout"); log.info("all good")
lp.shutdown()
PY
python3 "$work/send.py" "127.0.0.1:$gport" "127.0.0.1:$hport"

check() {  # check NAME LABEL-SUBSTRING... EXPECTED
  local want=${*: -1} name=$1; shift; local subs=("${@:1:$#-1}")
  for _ in $(seq 50); do
    got=$(curl -fsS "http://127.0.0.1:$vport/metrics" | python3 -c '
import sys
name, subs = sys.argv[1], sys.argv[2:]
for line in sys.stdin:
    if line.startswith(name + "{") and all(s in line for s in subs):
        print(line.rsplit(" ", 1)[1].strip()); break' "$name" "${subs[@]}")
    [[ $got == "$want" ]] && { echo "ok: $name ${subs[*]} = $want"; return 0; }
    sleep 0.2
  done
  echo "FAIL: $name ${subs[*]}: want $want, got '${got:-none}'"; tail -n 20 "$work/vitals.log"; return 1
}
for job in py-grpc py-http; do
  check orders_placed_total "job=\"$job\"" 'instance="pod-1"' 'region="eu"' 5
  check http_server_request_duration_seconds_count "job=\"$job\"" 'http_route="/orders"' 4
  check http_server_request_duration_seconds_bucket "job=\"$job\"" 'le="+Inf"' 4
  check queue_depth "job=\"$job\"" 3
done
check traces_span_metrics_calls_total 'service_name="py-traces"' 'span_kind="SPAN_KIND_SERVER"' 'status_code="STATUS_CODE_ERROR"' 1
check traces_span_metrics_calls_total 'service_name="py-traces"' 'status_code="STATUS_CODE_UNSET"' 3
check otel_log_records_total 'job="py-logs"' 'severity="ERROR"' 2
check payment_errors_total 'job="py-logs"' 2
