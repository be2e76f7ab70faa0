//! OpenTelemetry → Prometheus naming, per the OTel specification's Prometheus
//! compatibility rules: metric names with unit and type suffixes, label names sanitised,
//! attribute values rendered as strings.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

/// How a metric is exposed, which decides its suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic sum: `_total`.
    Counter,
    /// Gauge or non-monotonic sum: `_ratio` for unit `1`.
    Gauge,
    /// Histogram or summary: the unit only (`_bucket`/`_sum`/`_count` are added per series).
    Distribution,
}

/// The main units, OTel (UCUM) → Prometheus.
fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

/// The units after a `/`.
fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Splits on anything that is not a letter or digit, dropping empty pieces.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// A unit with `{annotations}` removed, mapped, or cleaned when unknown.
fn unit_word(unit: &str, map: fn(&str) -> Option<&'static str>) -> String {
    let mut stripped = String::with_capacity(unit.len());
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => stripped.push(c),
            _ => {}
        }
    }
    let stripped = stripped.trim();
    match map(stripped) {
        Some(w) => w.to_string(),
        None => tokens(stripped).collect::<Vec<_>>().join("_"),
    }
}

/// The Prometheus name of an OTel metric: `http.server.request.duration` with unit `s`
/// becomes `http_server_request_duration_seconds`; a counter of `{request}` becomes
/// `..._total`; a gauge of unit `1` gets `_ratio`. Suffixes are not added twice.
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut parts: Vec<String> = tokens(name).map(str::to_string).collect();
    if kind == Kind::Counter {
        parts.retain(|t| t != "total");
    }
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit, None),
    };
    if main == "1" && per.is_none() {
        if kind == Kind::Gauge && !parts.iter().any(|t| t == "ratio") {
            parts.push("ratio".into());
        }
    } else {
        let main = unit_word(main, main_unit);
        if !main.is_empty() && !parts.contains(&main) {
            parts.push(main);
        }
        if let Some(per) = per {
            let per = unit_word(per, per_unit);
            if !per.is_empty() && !parts.contains(&per) {
                parts.push("per".into());
                parts.push(per);
            }
        }
    }
    if kind == Kind::Counter {
        parts.push("total".into());
    }
    let mut out = parts.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A label name made valid: other characters become `_`, a leading digit gets `key_`, a
/// single leading `_` gets `key`.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// An attribute value as a label value: strings as they are, numbers and booleans in their
/// usual text form, arrays and maps as JSON.
pub fn value_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => {
            let json = value_json(other);
            match json {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }
        }
    }
}

fn value_json(v: &any_value::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        any_value::Value::StringValue(s) => J::String(s.clone()),
        any_value::Value::BoolValue(b) => J::Bool(*b),
        any_value::Value::IntValue(i) => J::from(*i),
        any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map(J::Number)
            .unwrap_or_else(|| J::String(d.to_string())),
        any_value::Value::BytesValue(b) => J::String(hex(b)),
        // A dictionary index, meaningful only inside a profiles request.
        any_value::Value::StringValueStrindex(i) => J::from(*i),
        any_value::Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map(value_json).unwrap_or(J::Null))
                .collect(),
        ),
        any_value::Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value
                            .as_ref()
                            .and_then(|v| v.value.as_ref())
                            .map(value_json)
                            .unwrap_or(J::Null),
                    )
                })
                .collect(),
        ),
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The string value of attribute `key`, if present.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// Attributes as sanitised label pairs; keys that collide after sanitising have their
/// values joined with `;` in key order.
pub fn attr_labels(attrs: &[KeyValue], out: &mut Vec<(String, String)>) {
    let start = out.len();
    let mut sorted: Vec<&KeyValue> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    for kv in sorted {
        let name = label_name(&kv.key);
        let value = value_string(kv.value.as_ref());
        if let Some(existing) = out[start..].iter_mut().find(|(n, _)| *n == name) {
            if !value.is_empty() {
                if !existing.1.is_empty() {
                    existing.1.push(';');
                }
                existing.1.push_str(&value);
            }
        } else {
            out.push((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_the_spec() {
        let cases = [
            (
                "http.server.request.duration",
                "s",
                Kind::Distribution,
                "http_server_request_duration_seconds",
            ),
            (
                "http.server.requests",
                "{request}",
                Kind::Counter,
                "http_server_requests_total",
            ),
            ("requests_total", "1", Kind::Counter, "requests_total"),
            (
                "system.cpu.utilization",
                "1",
                Kind::Gauge,
                "system_cpu_utilization_ratio",
            ),
            (
                "process.memory.usage",
                "By",
                Kind::Gauge,
                "process_memory_usage_bytes",
            ),
            (
                "latency_seconds",
                "s",
                Kind::Distribution,
                "latency_seconds",
            ),
            ("speed", "m/s", Kind::Gauge, "speed_meters_per_second"),
            (
                "throughput",
                "{packets}/s",
                Kind::Gauge,
                "throughput_per_second",
            ),
            ("queue..depth", "", Kind::Gauge, "queue_depth"),
            ("2xx.responses", "", Kind::Counter, "_2xx_responses_total"),
            (
                "db.client.connections.usage",
                "{connection}",
                Kind::Gauge,
                "db_client_connections_usage",
            ),
            (
                "cpu.time",
                "ms",
                Kind::Counter,
                "cpu_time_milliseconds_total",
            ),
            ("disk", "%", Kind::Gauge, "disk_percent"),
        ];
        for (name, unit, kind, want) in cases {
            assert_eq!(
                metric_name(name, unit, kind),
                want,
                "{name} [{unit}] {kind:?}"
            );
        }
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(label_name("1st"), "key_1st");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__reserved"), "__reserved");
        assert_eq!(label_name("k8s.pod-name"), "k8s_pod_name");
    }

    #[test]
    fn colliding_keys_join_values_in_key_order() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            key_strindex: 0,
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
        };
        let mut out = Vec::new();
        attr_labels(&[kv("a-b", "2"), kv("a.b", "1"), kv("c", "3")], &mut out);
        assert_eq!(
            out,
            [
                ("a_b".to_string(), "2;1".to_string()),
                ("c".into(), "3".into())
            ]
        );
    }

    #[test]
    fn non_string_values_render_as_text() {
        let v = |x| Some(AnyValue { value: Some(x) });
        assert_eq!(
            value_string(v(any_value::Value::IntValue(42)).as_ref()),
            "42"
        );
        assert_eq!(
            value_string(v(any_value::Value::BoolValue(true)).as_ref()),
            "true"
        );
        assert_eq!(
            value_string(v(any_value::Value::DoubleValue(0.5)).as_ref()),
            "0.5"
        );
        assert_eq!(value_string(None), "");
    }
}
