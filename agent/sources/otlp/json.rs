//! OTLP/JSON decoding into the protobuf types, following the OTLP specification's JSON
//! mapping: lowerCamelCase field names (the proto names are accepted too), enums as
//! integers (names accepted), 64-bit integers as decimal strings or numbers, trace and
//! span IDs as hex, unknown fields ignored.
//!
//! It is written out by hand rather than through `opentelemetry-proto`'s serde support,
//! which silently drops data in known cases (`asInt` as a string, inner decode errors
//! becoming `None`, empty `AnyValue`s). Here every malformed field is an error naming its
//! path, e.g. `resourceMetrics[0].scopeMetrics[0].metrics[1].sum.dataPoints[3].asInt`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{Map, Value};

/// A JSON body that does not follow the OTLP mapping; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JsonError {
    pub path: String,
    pub message: String,
}

type R<T> = Result<T, JsonError>;

/// A JSON object being read, with its path for errors.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

fn err<T>(path: &str, message: impl Into<String>) -> R<T> {
    Err(JsonError {
        path: if path.is_empty() {
            "<root>".into()
        } else {
            path.into()
        },
        message: message.into(),
    })
}

/// `fooBar` → `foo_bar`, the proto field name.
fn snake(camel: &str) -> String {
    let mut s = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

impl<'a> Obj<'a> {
    fn root(v: &'a Value) -> R<Obj<'a>> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: String::new(),
            }),
            _ => err("", "expected a JSON object"),
        }
    }

    fn field_path(&self, f: &str) -> String {
        if self.path.is_empty() {
            f.to_string()
        } else {
            format!("{}.{f}", self.path)
        }
    }

    /// The field by its JSON name or its proto name; `null` counts as absent.
    fn get(&self, f: &str) -> Option<&'a Value> {
        let v = self.map.get(f).or_else(|| self.map.get(&snake(f)))?;
        (!v.is_null()).then_some(v)
    }

    fn obj(&self, f: &str) -> R<Option<Obj<'a>>> {
        match self.get(f) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.field_path(f),
            })),
            Some(_) => err(&self.field_path(f), "expected an object"),
        }
    }

    fn arr(&self, f: &str) -> R<Vec<Obj<'a>>> {
        match self.get(f) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let path = format!("{}[{i}]", self.field_path(f));
                    match v {
                        Value::Object(map) => Ok(Obj { map, path }),
                        _ => err(&path, "expected an object"),
                    }
                })
                .collect(),
            Some(_) => err(&self.field_path(f), "expected an array"),
        }
    }

    fn string(&self, f: &str) -> R<String> {
        match self.get(f) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => err(&self.field_path(f), "expected a string"),
        }
    }

    fn u64(&self, f: &str) -> R<u64> {
        match self.get(f) {
            None => Ok(0),
            Some(v) => u64_of(v).ok_or(()).or_else(|_| {
                err(
                    &self.field_path(f),
                    "expected an unsigned integer (a number or a decimal string)",
                )
            }),
        }
    }

    fn i64(&self, f: &str) -> R<i64> {
        match self.get(f) {
            None => Ok(0),
            Some(v) => i64_of(v).ok_or(()).or_else(|_| {
                err(
                    &self.field_path(f),
                    "expected an integer (a number or a decimal string)",
                )
            }),
        }
    }

    fn u32(&self, f: &str) -> R<u32> {
        let v = self.u64(f)?;
        u32::try_from(v).or_else(|_| err(&self.field_path(f), "is larger than 32 bits"))
    }

    fn i32(&self, f: &str) -> R<i32> {
        let v = self.i64(f)?;
        i32::try_from(v).or_else(|_| err(&self.field_path(f), "is out of the 32-bit range"))
    }

    fn f64(&self, f: &str) -> R<f64> {
        match self.get(f) {
            None => Ok(0.0),
            Some(v) => f64_of(v).ok_or(()).or_else(|_| {
                err(
                    &self.field_path(f),
                    "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")",
                )
            }),
        }
    }

    fn opt_f64(&self, f: &str) -> R<Option<f64>> {
        if self.get(f).is_some() {
            self.f64(f).map(Some)
        } else {
            Ok(None)
        }
    }

    fn bool(&self, f: &str) -> R<bool> {
        match self.get(f) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => err(&self.field_path(f), "expected true or false"),
        }
    }

    /// An enum: an integer, or one of its names.
    fn enumeration(&self, f: &str, names: &[&str]) -> R<i32> {
        match self.get(f) {
            None => Ok(0),
            Some(Value::String(s)) if !s.chars().all(|c| c.is_ascii_digit()) => {
                match names.iter().position(|n| *n == s) {
                    Some(i) => i32::try_from(i).or_else(|_| err(&self.field_path(f), "bad enum")),
                    None => err(&self.field_path(f), format!("unknown value {s:?}")),
                }
            }
            Some(_) => self.i32(f),
        }
    }

    /// Bytes written as hex (trace and span IDs).
    fn hex(&self, f: &str, len: usize) -> R<Vec<u8>> {
        let s = self.string(f)?;
        if s.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = decode_hex(&s).ok_or(()).or_else(|_| {
            err(
                &self.field_path(f),
                format!("expected {} hex digits", len * 2),
            )
        })?;
        if bytes.len() != len {
            return err(
                &self.field_path(f),
                format!("expected {} hex digits", len * 2),
            );
        }
        Ok(bytes)
    }

    fn u64_list(&self, f: &str) -> R<Vec<u64>> {
        self.list(f, u64_of, "an unsigned integer")
    }

    fn f64_list(&self, f: &str) -> R<Vec<f64>> {
        self.list(f, f64_of, "a number")
    }

    fn list<T>(&self, f: &str, item: impl Fn(&Value) -> Option<T>, what: &str) -> R<Vec<T>> {
        match self.get(f) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    item(v).ok_or(()).or_else(|_| {
                        err(
                            &format!("{}[{i}]", self.field_path(f)),
                            format!("expected {what}"),
                        )
                    })
                })
                .collect(),
            Some(_) => err(&self.field_path(f), "expected an array"),
        }
    }
}

fn u64_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8446744073709552e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn i64_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn any_value(o: &Obj<'_>) -> R<AnyValue> {
    let value = if let Some(v) = o.get("stringValue") {
        match v {
            Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
            _ => return err(&o.field_path("stringValue"), "expected a string"),
        }
    } else if o.get("boolValue").is_some() {
        Some(any_value::Value::BoolValue(o.bool("boolValue")?))
    } else if o.get("intValue").is_some() {
        Some(any_value::Value::IntValue(o.i64("intValue")?))
    } else if o.get("doubleValue").is_some() {
        Some(any_value::Value::DoubleValue(o.f64("doubleValue")?))
    } else if let Some(a) = o.obj("arrayValue")? {
        let values = a.arr("values")?.iter().map(any_value).collect::<R<_>>()?;
        Some(any_value::Value::ArrayValue(ArrayValue { values }))
    } else if let Some(kv) = o.obj("kvlistValue")? {
        Some(any_value::Value::KvlistValue(KeyValueList {
            values: key_values(&kv, "values")?,
        }))
    } else if o.get("bytesValue").is_some() {
        // Bytes are base64 in the JSON mapping; kept as their text, which is all a label needs.
        Some(any_value::Value::BytesValue(
            o.string("bytesValue")?.into_bytes(),
        ))
    } else {
        // `{}` is a valid, empty AnyValue: kept, not dropped.
        None
    };
    Ok(AnyValue { value })
}

fn key_values(o: &Obj<'_>, f: &str) -> R<Vec<KeyValue>> {
    o.arr(f)?
        .iter()
        .map(|kv| {
            Ok(KeyValue {
                key: kv.string("key")?,
                key_strindex: 0,
                value: match kv.obj("value")? {
                    Some(v) => Some(any_value(&v)?),
                    None => None,
                },
            })
        })
        .collect()
}

fn resource(o: &Obj<'_>) -> R<Option<Resource>> {
    Ok(match o.obj("resource")? {
        Some(r) => Some(Resource {
            attributes: key_values(&r, "attributes")?,
            dropped_attributes_count: r.u32("droppedAttributesCount")?,
            ..Default::default()
        }),
        None => None,
    })
}

fn scope(o: &Obj<'_>) -> R<Option<InstrumentationScope>> {
    Ok(match o.obj("scope")? {
        Some(s) => Some(InstrumentationScope {
            name: s.string("name")?,
            version: s.string("version")?,
            attributes: key_values(&s, "attributes")?,
            dropped_attributes_count: s.u32("droppedAttributesCount")?,
        }),
        None => None,
    })
}

/// Decodes an `ExportMetricsServiceRequest` written as OTLP/JSON.
pub fn metrics(body: &[u8]) -> R<ExportMetricsServiceRequest> {
    let v = parse(body)?;
    let root = Obj::root(&v)?;
    let mut resource_metrics = Vec::new();
    for rm in root.arr("resourceMetrics")? {
        let mut scope_metrics = Vec::new();
        for sm in rm.arr("scopeMetrics")? {
            let metrics = sm.arr("metrics")?.iter().map(metric).collect::<R<_>>()?;
            scope_metrics.push(ScopeMetrics {
                scope: scope(&sm)?,
                metrics,
                schema_url: sm.string("schemaUrl")?,
            });
        }
        resource_metrics.push(ResourceMetrics {
            resource: resource(&rm)?,
            scope_metrics,
            schema_url: rm.string("schemaUrl")?,
        });
    }
    Ok(ExportMetricsServiceRequest { resource_metrics })
}

const TEMPORALITY: &[&str] = &[
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
];

fn metric(m: &Obj<'_>) -> R<Metric> {
    let data = if let Some(g) = m.obj("gauge")? {
        Some(metric::Data::Gauge(Gauge {
            data_points: number_points(&g)?,
        }))
    } else if let Some(s) = m.obj("sum")? {
        Some(metric::Data::Sum(Sum {
            data_points: number_points(&s)?,
            aggregation_temporality: s.enumeration("aggregationTemporality", TEMPORALITY)?,
            is_monotonic: s.bool("isMonotonic")?,
        }))
    } else if let Some(h) = m.obj("histogram")? {
        Some(metric::Data::Histogram(Histogram {
            data_points: h
                .arr("dataPoints")?
                .iter()
                .map(|p| {
                    Ok(HistogramDataPoint {
                        attributes: key_values(p, "attributes")?,
                        start_time_unix_nano: p.u64("startTimeUnixNano")?,
                        time_unix_nano: p.u64("timeUnixNano")?,
                        count: p.u64("count")?,
                        sum: p.opt_f64("sum")?,
                        bucket_counts: p.u64_list("bucketCounts")?,
                        explicit_bounds: p.f64_list("explicitBounds")?,
                        exemplars: Vec::new(),
                        flags: p.u32("flags")?,
                        min: p.opt_f64("min")?,
                        max: p.opt_f64("max")?,
                    })
                })
                .collect::<R<_>>()?,
            aggregation_temporality: h.enumeration("aggregationTemporality", TEMPORALITY)?,
        }))
    } else if let Some(h) = m.obj("exponentialHistogram")? {
        let buckets = |p: &Obj<'_>, f: &str| -> R<Option<Buckets>> {
            Ok(match p.obj(f)? {
                Some(b) => Some(Buckets {
                    offset: b.i32("offset")?,
                    bucket_counts: b.u64_list("bucketCounts")?,
                }),
                None => None,
            })
        };
        Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: h
                .arr("dataPoints")?
                .iter()
                .map(|p| {
                    Ok(ExponentialHistogramDataPoint {
                        attributes: key_values(p, "attributes")?,
                        start_time_unix_nano: p.u64("startTimeUnixNano")?,
                        time_unix_nano: p.u64("timeUnixNano")?,
                        count: p.u64("count")?,
                        sum: p.opt_f64("sum")?,
                        scale: p.i32("scale")?,
                        zero_count: p.u64("zeroCount")?,
                        positive: buckets(p, "positive")?,
                        negative: buckets(p, "negative")?,
                        flags: p.u32("flags")?,
                        exemplars: Vec::new(),
                        min: p.opt_f64("min")?,
                        max: p.opt_f64("max")?,
                        zero_threshold: p.f64("zeroThreshold")?,
                    })
                })
                .collect::<R<_>>()?,
            aggregation_temporality: h.enumeration("aggregationTemporality", TEMPORALITY)?,
        }))
    } else if let Some(s) = m.obj("summary")? {
        Some(metric::Data::Summary(Summary {
            data_points: s
                .arr("dataPoints")?
                .iter()
                .map(|p| {
                    Ok(SummaryDataPoint {
                        attributes: key_values(p, "attributes")?,
                        start_time_unix_nano: p.u64("startTimeUnixNano")?,
                        time_unix_nano: p.u64("timeUnixNano")?,
                        count: p.u64("count")?,
                        sum: p.f64("sum")?,
                        quantile_values: p
                            .arr("quantileValues")?
                            .iter()
                            .map(|q| {
                                Ok(ValueAtQuantile {
                                    quantile: q.f64("quantile")?,
                                    value: q.f64("value")?,
                                })
                            })
                            .collect::<R<_>>()?,
                        flags: p.u32("flags")?,
                    })
                })
                .collect::<R<_>>()?,
        }))
    } else {
        None
    };
    Ok(Metric {
        name: m.string("name")?,
        description: m.string("description")?,
        unit: m.string("unit")?,
        metadata: key_values(m, "metadata")?,
        data,
    })
}

fn number_points(o: &Obj<'_>) -> R<Vec<NumberDataPoint>> {
    o.arr("dataPoints")?
        .iter()
        .map(|p| {
            let value = if p.get("asInt").is_some() {
                Some(number_data_point::Value::AsInt(p.i64("asInt")?))
            } else if p.get("asDouble").is_some() {
                Some(number_data_point::Value::AsDouble(p.f64("asDouble")?))
            } else {
                None
            };
            Ok(NumberDataPoint {
                attributes: key_values(p, "attributes")?,
                start_time_unix_nano: p.u64("startTimeUnixNano")?,
                time_unix_nano: p.u64("timeUnixNano")?,
                exemplars: Vec::new(),
                flags: p.u32("flags")?,
                value,
            })
        })
        .collect()
}

const SPAN_KIND: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODE: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// Decodes an `ExportTraceServiceRequest` written as OTLP/JSON.
pub fn traces(body: &[u8]) -> R<ExportTraceServiceRequest> {
    let v = parse(body)?;
    let root = Obj::root(&v)?;
    let mut resource_spans = Vec::new();
    for rs in root.arr("resourceSpans")? {
        let mut scope_spans = Vec::new();
        for ss in rs.arr("scopeSpans")? {
            let spans = ss
                .arr("spans")?
                .iter()
                .map(|s| {
                    Ok(Span {
                        trace_id: s.hex("traceId", 16)?,
                        span_id: s.hex("spanId", 8)?,
                        trace_state: s.string("traceState")?,
                        parent_span_id: s.hex("parentSpanId", 8)?,
                        flags: s.u32("flags")?,
                        name: s.string("name")?,
                        kind: s.enumeration("kind", SPAN_KIND)?,
                        start_time_unix_nano: s.u64("startTimeUnixNano")?,
                        end_time_unix_nano: s.u64("endTimeUnixNano")?,
                        attributes: key_values(s, "attributes")?,
                        dropped_attributes_count: s.u32("droppedAttributesCount")?,
                        events: Vec::new(),
                        dropped_events_count: s.u32("droppedEventsCount")?,
                        links: Vec::new(),
                        dropped_links_count: s.u32("droppedLinksCount")?,
                        status: match s.obj("status")? {
                            Some(st) => Some(Status {
                                message: st.string("message")?,
                                code: st.enumeration("code", STATUS_CODE)?,
                            }),
                            None => None,
                        },
                    })
                })
                .collect::<R<_>>()?;
            scope_spans.push(ScopeSpans {
                scope: scope(&ss)?,
                spans,
                schema_url: ss.string("schemaUrl")?,
            });
        }
        resource_spans.push(ResourceSpans {
            resource: resource(&rs)?,
            scope_spans,
            schema_url: rs.string("schemaUrl")?,
        });
    }
    Ok(ExportTraceServiceRequest { resource_spans })
}

/// Decodes an `ExportLogsServiceRequest` written as OTLP/JSON.
pub fn logs(body: &[u8]) -> R<ExportLogsServiceRequest> {
    let v = parse(body)?;
    let root = Obj::root(&v)?;
    let mut resource_logs = Vec::new();
    for rl in root.arr("resourceLogs")? {
        let mut scope_logs = Vec::new();
        for sl in rl.arr("scopeLogs")? {
            let log_records = sl
                .arr("logRecords")?
                .iter()
                .map(|l| {
                    Ok(LogRecord {
                        time_unix_nano: l.u64("timeUnixNano")?,
                        observed_time_unix_nano: l.u64("observedTimeUnixNano")?,
                        severity_number: l.enumeration("severityNumber", &[])?,
                        severity_text: l.string("severityText")?,
                        body: match l.obj("body")? {
                            Some(b) => Some(any_value(&b)?),
                            None => None,
                        },
                        attributes: key_values(l, "attributes")?,
                        dropped_attributes_count: l.u32("droppedAttributesCount")?,
                        flags: l.u32("flags")?,
                        trace_id: l.hex("traceId", 16)?,
                        span_id: l.hex("spanId", 8)?,
                        event_name: l.string("eventName")?,
                    })
                })
                .collect::<R<_>>()?;
            scope_logs.push(ScopeLogs {
                scope: scope(&sl)?,
                log_records,
                schema_url: sl.string("schemaUrl")?,
            });
        }
        resource_logs.push(ResourceLogs {
            resource: resource(&rl)?,
            scope_logs,
            schema_url: rl.string("schemaUrl")?,
        });
    }
    Ok(ExportLogsServiceRequest { resource_logs })
}

fn parse(body: &[u8]) -> R<Value> {
    serde_json::from_slice(body).or_else(|e| err("", format!("not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::span;

    #[test]
    fn int_as_string_and_number_both_decode() {
        let body = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"9007199254740993","timeUnixNano":"1700000000000000000"},{"asInt":7,"timeUnixNano":1700000000000000000}]}}]}]}]}"#;
        let req = metrics(body).expect("decodes");
        let Some(metric::Data::Sum(sum)) =
            &req.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("not a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2);
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(9_007_199_254_740_993))
        );
        assert_eq!(
            sum.data_points[1].value,
            Some(number_data_point::Value::AsInt(7))
        );
        assert_eq!(sum.data_points[0].time_unix_nano, 1_700_000_000_000_000_000);
    }

    #[test]
    fn bad_fields_are_errors_with_their_path() {
        let body = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"c","gauge":{"dataPoints":[{"asInt":"12x"}]}}]}]}]}"#;
        let e = metrics(body).expect_err("must fail");
        assert_eq!(
            e.path,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asInt"
        );
        assert!(metrics(b"{not json").is_err());
        assert!(metrics(b"[1]").is_err());
    }

    #[test]
    fn empty_any_value_and_unknown_fields_are_kept_and_ignored() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},{"key":"empty","value":{}}]},"future":1,"scopeLogs":[{"logRecords":[{"severityText":"ERROR","severityNumber":"17","body":{"stringValue":"payment failed"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
        let req = logs(body).expect("decodes");
        let rl = &req.resource_logs[0];
        let attrs = &rl.resource.as_ref().expect("resource").attributes;
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].value, Some(AnyValue { value: None }));
        let rec = &rl.scope_logs[0].log_records[0];
        assert_eq!(rec.severity_number, 17);
        assert_eq!(rec.trace_id.len(), 16);
        assert_eq!(rec.span_id.len(), 8);
    }

    #[test]
    fn span_ids_are_hex_and_enums_accept_names() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","name":"GET /","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1","endTimeUnixNano":"2","status":{"code":2}}]}]}]}"#;
        let req = traces(body).expect("decodes");
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, span::SpanKind::Server as i32);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
        let bad = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abc"}]}]}]}"#;
        assert_eq!(
            traces(bad).expect_err("odd hex").path,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId"
        );
    }
}
