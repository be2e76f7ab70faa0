//! Renders `/metrics`: every live series in the store (latest sample) followed by the
//! agent's own `vitals_*` metrics, in Prometheus text format 0.0.4 or OpenMetrics 1.0.

use std::collections::BTreeMap;
use std::fmt::Write;

use prometheus::proto::{MetricFamily, MetricType as ProtoType};

use crate::store::{Labels, METRIC_NAME, MetricMeta, MetricType, Sample};

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Text,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    /// Picks the format from an `Accept` header: OpenMetrics only when asked for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// One sample to write: its name, its labels (without `__name__`) and its value.
type OutSample = (String, Vec<(String, String)>, f64);

/// One metric family ready to write.
struct Family {
    kind: MetricType,
    help: String,
    unit: String,
    samples: Vec<OutSample>,
}

/// Metric metadata by family name, as [`crate::store::Store::all_metadata`] gives it.
pub type Metadata = BTreeMap<String, MetricMeta>;

/// The family a series belongs to: its own name when it has metadata, else the name
/// without a histogram/summary/counter suffix when that family has metadata.
fn family_of<'a>(name: &'a str, meta: &'a Metadata) -> (&'a str, Option<&'a MetricMeta>) {
    if let Some(m) = meta.get(name) {
        return (name, Some(m));
    }
    for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(m) = meta.get(base)
        {
            let fits = match m.kind {
                MetricType::Histogram => suffix != "_total",
                MetricType::Summary => matches!(suffix, "_sum" | "_count" | "_created"),
                MetricType::Counter => matches!(suffix, "_total" | "_created"),
                _ => false,
            };
            if fits {
                return (base, Some(m));
            }
        }
    }
    (name, None)
}

/// Writes the store's series and the registry's families in `format`.
pub fn render(
    series: &[(Labels, Sample)],
    meta: &Metadata,
    own: &[MetricFamily],
    format: Format,
) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for (labels, sample) in series {
        let Some(name) = labels.metric_name() else {
            continue;
        };
        let (family, m) = family_of(name, meta);
        if !families.contains_key(family) {
            let m = m.cloned().unwrap_or_default();
            families.insert(
                family.to_string(),
                Family {
                    kind: m.kind,
                    help: m.help,
                    unit: m.unit,
                    samples: Vec::new(),
                },
            );
        }
        let Some(f) = families.get_mut(family) else {
            continue;
        };
        let pairs = labels
            .iter()
            .filter(|l| &*l.name != METRIC_NAME)
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        f.samples.push((name.to_string(), pairs, sample.v));
    }
    for mf in own {
        let (kind, samples) = own_samples(mf);
        families.insert(
            mf.name().to_string(),
            Family {
                kind,
                help: mf.help().to_string(),
                unit: String::new(),
                samples,
            },
        );
    }

    let mut out = String::with_capacity(series.len() * 96 + 4096);
    for (name, f) in &families {
        write_family(&mut out, name, f, format);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn write_family(out: &mut String, name: &str, f: &Family, format: Format) {
    let type_name = match (format, f.kind) {
        (_, MetricType::Counter) => "counter",
        (_, MetricType::Gauge) => "gauge",
        (_, MetricType::Histogram) => "histogram",
        (_, MetricType::Summary) => "summary",
        (Format::Text, MetricType::Unknown) => "untyped",
        (Format::OpenMetrics, MetricType::Unknown) => "unknown",
    };
    // OpenMetrics names a counter family without `_total`; text format names it as the samples.
    let family_name = match (format, f.kind) {
        (Format::OpenMetrics, MetricType::Counter) => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    if !f.help.is_empty() {
        let _ = writeln!(out, "# HELP {family_name} {}", escape_help(&f.help));
    }
    let _ = writeln!(out, "# TYPE {family_name} {type_name}");
    if format == Format::OpenMetrics && !f.unit.is_empty() {
        let _ = writeln!(out, "# UNIT {family_name} {}", f.unit);
    }
    for (sample_name, labels, value) in &f.samples {
        let sample_name = match (format, f.kind) {
            (Format::OpenMetrics, MetricType::Counter) if !sample_name.ends_with("_total") => {
                format!("{sample_name}_total")
            }
            _ => sample_name.clone(),
        };
        out.push_str(&sample_name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(out, *value);
        out.push('\n');
    }
}

fn own_samples(mf: &MetricFamily) -> (MetricType, Vec<OutSample>) {
    let name = mf.name();
    let mut samples = Vec::new();
    let kind = match mf.get_field_type() {
        ProtoType::COUNTER => MetricType::Counter,
        ProtoType::GAUGE => MetricType::Gauge,
        ProtoType::HISTOGRAM => MetricType::Histogram,
        ProtoType::SUMMARY => MetricType::Summary,
        ProtoType::UNTYPED => MetricType::Unknown,
    };
    for m in mf.get_metric() {
        let labels: Vec<(String, String)> = m
            .get_label()
            .iter()
            .map(|l| (l.name().to_string(), l.value().to_string()))
            .collect();
        match kind {
            MetricType::Counter => {
                samples.push((name.to_string(), labels, m.get_counter().get_value()))
            }
            MetricType::Gauge => {
                samples.push((name.to_string(), labels, m.get_gauge().get_value()))
            }
            MetricType::Unknown => {
                #[allow(deprecated)] // the plain model's only accessor for untyped values
                let v = m.get_untyped().get_value();
                samples.push((name.to_string(), labels, v))
            }
            MetricType::Histogram => {
                let h = m.get_histogram();
                for b in h.get_bucket() {
                    let mut l = labels.clone();
                    l.push(("le".into(), format_value(b.upper_bound())));
                    samples.push((format!("{name}_bucket"), l, b.cumulative_count() as f64));
                }
                let mut l = labels.clone();
                l.push(("le".into(), "+Inf".into()));
                samples.push((format!("{name}_bucket"), l, h.get_sample_count() as f64));
                samples.push((format!("{name}_sum"), labels.clone(), h.get_sample_sum()));
                samples.push((format!("{name}_count"), labels, h.get_sample_count() as f64));
            }
            MetricType::Summary => {
                let s = m.get_summary();
                for q in s.get_quantile() {
                    let mut l = labels.clone();
                    l.push(("quantile".into(), format_value(q.quantile())));
                    samples.push((name.to_string(), l, q.value()));
                }
                samples.push((format!("{name}_sum"), labels.clone(), s.sample_sum()));
                samples.push((format!("{name}_count"), labels, s.sample_count() as f64));
            }
        }
    }
    (kind, samples)
}

/// A float as Prometheus writes it: `NaN`, `+Inf`, `-Inf`, or the shortest decimal.
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        ["probe_success", "req", "jobs_total"]
            .into_iter()
            .filter_map(|n| meta_of(n).map(|m| (n.to_string(), m)))
            .collect()
    }

    fn meta_of(name: &str) -> Option<MetricMeta> {
        match name {
            "probe_success" => Some(MetricMeta {
                kind: MetricType::Gauge,
                help: "Displays whether or not the probe was a success.".into(),
                unit: String::new(),
            }),
            "req" => Some(MetricMeta {
                kind: MetricType::Histogram,
                help: "h".into(),
                unit: "seconds".into(),
            }),
            "jobs_total" => Some(MetricMeta {
                kind: MetricType::Counter,
                help: String::new(),
                unit: String::new(),
            }),
            _ => None,
        }
    }

    fn s(v: f64) -> Sample {
        Sample { t: 0, v }
    }

    fn series() -> Vec<(Labels, Sample)> {
        vec![
            (
                Labels::new([("__name__", "jobs_total"), ("x", "a\"b\\c\nd")]),
                s(3.0),
            ),
            (
                Labels::new([("__name__", "probe_success"), ("probe", "api")]),
                s(1.0),
            ),
            (Labels::new([("__name__", "raw")]), s(f64::NAN)),
            (
                Labels::new([("__name__", "req_bucket"), ("le", "+Inf")]),
                s(4.0),
            ),
            (Labels::new([("__name__", "req_count")]), s(4.0)),
            (Labels::new([("__name__", "req_sum")]), s(0.25)),
        ]
    }

    #[test]
    fn text_format_groups_families_and_escapes() {
        let out = render(&series(), &meta(), &[], Format::Text);
        let want = "# TYPE jobs_total counter\n\
jobs_total{x=\"a\\\"b\\\\c\\nd\"} 3\n\
# HELP probe_success Displays whether or not the probe was a success.\n\
# TYPE probe_success gauge\n\
probe_success{probe=\"api\"} 1\n\
# TYPE raw untyped\n\
raw NaN\n\
# HELP req h\n\
# TYPE req histogram\n\
req_bucket{le=\"+Inf\"} 4\n\
req_count 4\n\
req_sum 0.25\n";
        assert_eq!(out, want);
    }

    #[test]
    fn openmetrics_names_counters_without_total_and_ends_with_eof() {
        let out = render(&series(), &meta(), &[], Format::OpenMetrics);
        assert!(out.contains("# TYPE jobs counter\njobs_total{"), "{out}");
        assert!(out.contains("# TYPE raw unknown\n"), "{out}");
        assert!(out.contains("# UNIT req seconds\n"), "{out}");
        assert!(out.ends_with("# EOF\n"));
    }

    #[test]
    fn own_metrics_are_rendered() {
        let registry = prometheus::Registry::new();
        let h = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("vitals_x_seconds", "x").buckets(vec![0.5]),
        )
        .expect("histogram");
        registry.register(Box::new(h.clone())).expect("register");
        h.observe(0.1);
        let out = render(&[], &meta(), &registry.gather(), Format::Text);
        assert!(
            out.contains("vitals_x_seconds_bucket{le=\"0.5\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("vitals_x_seconds_bucket{le=\"+Inf\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("vitals_x_seconds_count 1\n"), "{out}");
    }

    #[test]
    fn accept_header_selects_format() {
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
