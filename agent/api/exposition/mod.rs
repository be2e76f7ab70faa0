//! The exposition endpoints' writer: `/metrics` (every live series in the store, newest
//! sample, then the agent's own `vitals_*` metrics) and `/federate?match[]=…` (Prometheus's
//! federation endpoint: the matching series, each with its sample's timestamp), in
//! Prometheus text format 0.0.4 or OpenMetrics 1.0.
//!
//! Series go from the store to the (gzip-compressed, when accepted) response a family, a
//! shard and a batch at a time ([`crate::store::Store::scan_latest`], [`body`]): a scrape of
//! 250,000 series holds one batch of text and the chunks in flight, never the whole answer
//! or a copy of the label sets.

pub mod body;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use prometheus::proto::{MetricFamily, MetricType as ProtoType};

use crate::store::{LabelMatcher, METRIC_NAME, MetricMeta, MetricType, Store, matches_all};
use body::CHUNK_BYTES;

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

/// Metric metadata by family name, as [`crate::store::Store::all_metadata`] gives it.
type Metadata = BTreeMap<String, MetricMeta>;

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

/// Where a metric name's samples go within its family: buckets or quantiles first, then
/// `_count`, `_sum`, `_created` (OpenMetrics' order for a histogram or summary).
fn rank_in_family(name: &str, family: &str) -> u8 {
    match name.strip_prefix(family) {
        Some("" | "_bucket" | "_total") => 0,
        Some("_count") => 1,
        Some("_sum") => 2,
        Some("_created") => 3,
        _ => 4,
    }
}

/// A store family: its metadata and its metric names in the order their samples go.
#[derive(Default)]
struct StoreFamily {
    meta: MetricMeta,
    names: Vec<(u8, String)>,
}

/// What an exposition holds.
#[derive(Debug, Clone)]
pub struct Exposition {
    /// The format to write.
    pub format: Format,
    /// `/federate`'s selectors: only the series matching at least one set are written, each
    /// with its sample's timestamp. `None` (`/metrics`): every live series, no timestamps.
    pub select: Option<Vec<Vec<LabelMatcher>>>,
}

impl Exposition {
    /// Writes every live series of `store` (its newest sample, within the 5-minute lookback,
    /// not stale) and the agent's own families `own`, family by family in name order, to
    /// `out`. Holds the text of at most one batch of series ([`crate::store::SCAN_BATCH`]) at a time.
    /// A family in both is written from `own`. Under `/federate`, metric names no selector's
    /// `__name__` matchers accept are not scanned at all.
    pub fn write(
        &self,
        store: &Store,
        own: &[MetricFamily],
        now_ms: i64,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let meta: Metadata = store.all_metadata().into_iter().collect();
        let mut families: BTreeMap<String, StoreFamily> = BTreeMap::new();
        let wanted = |name: &str| {
            self.select.as_ref().is_none_or(|sets| {
                sets.iter().any(|set| {
                    set.iter()
                        .filter(|m| m.name() == METRIC_NAME)
                        .all(|m| m.matches(name))
                })
            })
        };
        for name in store.metric_names().into_iter().filter(|n| wanted(n)) {
            let (family, m) = family_of(&name, &meta);
            let f = families
                .entry(family.to_owned())
                .or_insert_with(|| StoreFamily {
                    meta: m.cloned().unwrap_or_default(),
                    names: Vec::new(),
                });
            f.names.push((rank_in_family(&name, family), name));
        }
        families.values_mut().for_each(|f| f.names.sort());
        let own: BTreeMap<&str, &MetricFamily> = own.iter().map(|mf| (mf.name(), mf)).collect();
        let mut order: Vec<&str> = families.keys().map(String::as_str).collect();
        order.extend(own.keys().copied().filter(|n| !families.contains_key(*n)));
        order.sort_unstable();

        let mut buf = String::with_capacity(CHUNK_BYTES);
        for name in order {
            if let Some(mf) = own.get(name) {
                self.write_own(&mut buf, mf);
            } else if let Some(f) = families.get(name) {
                let names: Vec<&str> = f.names.iter().map(|(_, n)| n.as_str()).collect();
                let mut header = Some(Header {
                    name,
                    meta: &f.meta,
                });
                for shard in 0..store.shard_count() {
                    store.scan_latest(
                        shard,
                        &names,
                        now_ms,
                        self.select.as_deref(),
                        &mut buf,
                        |buf, s| {
                            if let Some(h) = header.take() {
                                self.write_header(buf, &h);
                            }
                            let t = self.select.is_some().then_some(s.sample.t);
                            self.write_sample(buf, f.meta.kind, s.name, s.labels, s.sample.v, t);
                        },
                        |buf| {
                            out.write_all(buf.as_bytes())?;
                            buf.clear();
                            Ok::<(), std::io::Error>(())
                        },
                    )?;
                }
            }
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
        if self.format == Format::OpenMetrics {
            out.write_all(b"# EOF\n")?;
        }
        Ok(())
    }

    /// One of the agent's own families (under `/federate`, only its matching samples).
    fn write_own(&self, buf: &mut String, mf: &MetricFamily) {
        let (kind, samples) = own_samples(mf);
        let meta = MetricMeta {
            kind,
            help: mf.help().to_owned(),
            unit: String::new(),
        };
        let mut header = Some(Header {
            name: mf.name(),
            meta: &meta,
        });
        for (name, labels, v) in &samples {
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            if let Some(sets) = &self.select
                && !sets.iter().any(|set| matches_all(set, name, &labels))
            {
                continue;
            }
            if let Some(h) = header.take() {
                self.write_header(buf, &h);
            }
            self.write_sample(buf, kind, name, &labels, *v, None);
        }
    }

    fn write_header(&self, out: &mut String, h: &Header<'_>) {
        let name = h.name;
        let type_name = match (self.format, h.meta.kind) {
            (_, MetricType::Counter) => "counter",
            (_, MetricType::Gauge) => "gauge",
            (_, MetricType::Histogram) => "histogram",
            (_, MetricType::Summary) => "summary",
            (Format::Text, MetricType::Unknown) => "untyped",
            (Format::OpenMetrics, MetricType::Unknown) => "unknown",
        };
        // OpenMetrics names a counter family without `_total`; text format names it as the
        // samples.
        let family_name = match (self.format, h.meta.kind) {
            (Format::OpenMetrics, MetricType::Counter) => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name,
        };
        if !h.meta.help.is_empty() {
            let _ = writeln!(out, "# HELP {family_name} {}", escape_help(&h.meta.help));
        }
        let _ = writeln!(out, "# TYPE {family_name} {type_name}");
        if self.format == Format::OpenMetrics && !h.meta.unit.is_empty() {
            let _ = writeln!(out, "# UNIT {family_name} {}", h.meta.unit);
        }
    }

    /// One sample line; `t` (ms) is written as the format wants it (text: ms, OpenMetrics:
    /// seconds).
    fn write_sample(
        &self,
        out: &mut String,
        kind: MetricType,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
        t: Option<i64>,
    ) {
        out.push_str(name);
        if self.format == Format::OpenMetrics
            && kind == MetricType::Counter
            && !name.ends_with("_total")
            && !name.ends_with("_created")
        {
            out.push_str("_total");
        }
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
        write_value(out, value);
        match (t, self.format) {
            (None, _) => {}
            (Some(t), Format::Text) => {
                let _ = write!(out, " {t}");
            }
            (Some(t), Format::OpenMetrics) => {
                let _ = write!(out, " {}.{:03}", t.div_euclid(1000), t.rem_euclid(1000));
            }
        }
        out.push('\n');
    }
}

/// A family's `# HELP`/`# TYPE`/`# UNIT` lines, written before its first sample.
struct Header<'a> {
    name: &'a str,
    meta: &'a MetricMeta,
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
    use crate::store::{Labels, MatchOp, StoreConfig, stale_marker};
    use std::time::Duration;

    const NOW: i64 = 1_700_000_000_123;

    fn store() -> Store {
        let cfg = StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(3600),
            max_series: 1_000_000,
        };
        let store = Store::new(cfg, &prometheus::Registry::new()).expect("store");
        for (name, kind, help, unit) in [
            (
                "probe_success",
                MetricType::Gauge,
                "Displays whether or not the probe was a success.",
                "",
            ),
            ("req", MetricType::Histogram, "h", "seconds"),
            ("jobs_total", MetricType::Counter, "", ""),
        ] {
            store.set_metadata(
                name,
                MetricMeta {
                    kind,
                    help: help.into(),
                    unit: unit.into(),
                },
            );
        }
        store
    }

    fn put(store: &Store, pairs: &[(&str, &str)], v: f64) {
        store
            .append(&Labels::new(pairs.iter().copied()), NOW, v)
            .expect("append");
    }

    fn small() -> Store {
        let s = store();
        put(&s, &[("__name__", "jobs_total"), ("x", "a\"b\\c\nd")], 3.0);
        put(&s, &[("__name__", "probe_success"), ("probe", "api")], 1.0);
        put(&s, &[("__name__", "raw")], f64::NAN);
        put(&s, &[("__name__", "req_sum")], 0.25);
        put(&s, &[("__name__", "req_count")], 4.0);
        put(&s, &[("__name__", "req_bucket"), ("le", "+Inf")], 4.0);
        put(&s, &[("__name__", "req_bucket"), ("le", "0.5")], 3.0);
        s
    }

    fn text(store: &Store, own: &[MetricFamily], e: &Exposition) -> String {
        let mut out = Vec::new();
        e.write(store, own, NOW, &mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    fn metrics(format: Format) -> Exposition {
        Exposition {
            format,
            select: None,
        }
    }

    #[test]
    fn text_format_groups_families_and_escapes() {
        let out = text(&small(), &[], &metrics(Format::Text));
        let want = "# TYPE jobs_total counter\n\
jobs_total{x=\"a\\\"b\\\\c\\nd\"} 3\n\
# HELP probe_success Displays whether or not the probe was a success.\n\
# TYPE probe_success gauge\n\
probe_success{probe=\"api\"} 1\n\
# TYPE raw untyped\n\
raw NaN\n\
# HELP req h\n\
# TYPE req histogram\n\
req_bucket{le=\"0.5\"} 3\n\
req_bucket{le=\"+Inf\"} 4\n\
req_count 4\n\
req_sum 0.25\n";
        assert_eq!(out, want);
    }

    #[test]
    fn openmetrics_names_counters_without_total_and_ends_with_eof() {
        let out = text(&small(), &[], &metrics(Format::OpenMetrics));
        assert!(out.contains("# TYPE jobs counter\njobs_total{"), "{out}");
        assert!(out.contains("# TYPE raw unknown\n"), "{out}");
        assert!(out.contains("# UNIT req seconds\n"), "{out}");
        assert!(out.ends_with("# EOF\n"));
    }

    #[test]
    fn stale_and_old_series_are_left_out() {
        let s = store();
        put(&s, &[("__name__", "gone"), ("a", "1")], 1.0);
        s.append(
            &Labels::new([("__name__", "gone"), ("a", "1")]),
            NOW + 1,
            stale_marker(),
        )
        .expect("stale");
        s.append(&Labels::new([("__name__", "old")]), NOW - 301_000, 1.0)
            .expect("old");
        put(&s, &[("__name__", "kept")], 1.0);
        let out = text(&s, &[], &metrics(Format::Text));
        assert_eq!(out, "# TYPE kept untyped\nkept 1\n");
    }

    /// Every histogram data point's samples are contiguous, buckets in `le` order, then
    /// `_count` and `_sum`, whatever shard they live in and whatever order they came in.
    #[test]
    fn histogram_data_points_are_contiguous_and_ordered() {
        let s = store();
        for svc in 0..50 {
            let svc = format!("svc{svc}");
            for (le, v) in [("+Inf", 4.0), ("10", 3.0), ("0.1", 1.0), ("1", 2.0)] {
                put(
                    &s,
                    &[("__name__", "req_bucket"), ("le", le), ("service", &svc)],
                    v,
                );
            }
            put(&s, &[("__name__", "req_sum"), ("service", &svc)], 0.5);
            put(&s, &[("__name__", "req_count"), ("service", &svc)], 4.0);
        }
        let out = text(&s, &[], &metrics(Format::OpenMetrics));
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("req_")).collect();
        assert_eq!(lines.len(), 300);
        for point in lines.chunks(6) {
            let svc = point[0]
                .split("service=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .expect("service label");
            let want = [
                format!("req_bucket{{le=\"0.1\",service=\"{svc}\"}} 1"),
                format!("req_bucket{{le=\"1\",service=\"{svc}\"}} 2"),
                format!("req_bucket{{le=\"10\",service=\"{svc}\"}} 3"),
                format!("req_bucket{{le=\"+Inf\",service=\"{svc}\"}} 4"),
                format!("req_count{{service=\"{svc}\"}} 4"),
                format!("req_sum{{service=\"{svc}\"}} 0.5"),
            ];
            assert_eq!(point, want, "{out}");
        }
        assert_eq!(out.matches("# TYPE req histogram\n").count(), 1);
    }

    fn own() -> Vec<MetricFamily> {
        let registry = prometheus::Registry::new();
        let h = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("vitals_x_seconds", "x").buckets(vec![0.5]),
        )
        .expect("histogram");
        registry.register(Box::new(h.clone())).expect("register");
        h.observe(0.1);
        registry.gather()
    }

    #[test]
    fn own_metrics_are_rendered() {
        let out = text(&store(), &own(), &metrics(Format::Text));
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

    fn m(name: &str, op: MatchOp, value: &str) -> LabelMatcher {
        LabelMatcher::new(name, op, value).expect("matcher")
    }

    #[test]
    fn federate_writes_the_matching_series_with_their_timestamps() {
        let e = Exposition {
            format: Format::Text,
            select: Some(vec![
                vec![m("__name__", MatchOp::Equal, "probe_success")],
                vec![
                    m("__name__", MatchOp::Regex, "req_.*|vitals_.*_count"),
                    m("le", MatchOp::NotEqual, "0.5"),
                ],
            ]),
        };
        let out = text(&small(), &own(), &e);
        let want = "# HELP probe_success Displays whether or not the probe was a success.\n\
# TYPE probe_success gauge\n\
probe_success{probe=\"api\"} 1 1700000000123\n\
# HELP req h\n\
# TYPE req histogram\n\
req_bucket{le=\"+Inf\"} 4 1700000000123\n\
req_count 4 1700000000123\n\
req_sum 0.25 1700000000123\n\
# HELP vitals_x_seconds x\n\
# TYPE vitals_x_seconds histogram\n\
vitals_x_seconds_count 1\n";
        assert_eq!(out, want);
        let om = Exposition {
            format: Format::OpenMetrics,
            ..e
        };
        assert!(
            text(&small(), &[], &om).contains("probe_success{probe=\"api\"} 1 1700000000.123\n")
        );
        // A selector without a name matcher looks at every metric.
        let by_label = Exposition {
            format: Format::Text,
            select: Some(vec![vec![m("x", MatchOp::Regex, "a[^z]*")]]),
        };
        let out = text(&small(), &[], &by_label);
        assert!(
            out.starts_with("# TYPE jobs_total counter\njobs_total{x="),
            "{out}"
        );
        assert_eq!(out.lines().count(), 2, "{out}");
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
