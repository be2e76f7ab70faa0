//! The in-memory time-series store: the middle of the pipeline.
//!
//! Sources (probes, OTLP, later CloudWatch) and recording rules write samples here and
//! nothing else does; `/metrics`, the query API and the rule engine read from here.
//!
//! It owns: the series index (label set → series, postings per label pair), one compressed
//! sample window per series (see `chunk`), metric metadata (type and help per metric name),
//! retention (the window the rules need plus the 5-minute lookback), dropping stale series,
//! and the hard cap on series count.
//!
//! Timestamps are milliseconds since the Unix epoch; values are `f64`. A stale marker is the
//! NaN bit pattern Prometheus uses ([`STALE_NAN_BITS`]).

mod bits;
pub mod checkpoint;
mod chunk;
pub mod config;
mod db;
mod error;
mod intern;
mod internal_events;
pub mod labels;
mod latest;
pub mod maintenance;
mod matcher;
mod series;
mod shard;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use db::{GcStats, SeriesRef, SeriesSamples, Store, StoreStats};
pub use error::{AppendError, StoreError};
pub use labels::{Label, Labels, METRIC_NAME};
pub use latest::{LatestSeries, SCAN_BATCH, matches_all};
pub use matcher::{LabelMatcher, MatchOp};

/// Prometheus's stale-marker NaN: written when a series ends (a probe target is removed).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The stale-marker value.
pub fn stale_marker() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is a stale marker (and not just any NaN).
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// How far ahead of the store's clock ([`now_ms`]) a sample may be: 10 minutes. Later ones
/// are refused with [`AppendError::TooFarInFuture`] (Prometheus's TSDB refuses samples too
/// far ahead of its head in the same way), so a sender with a bad clock cannot block a series
/// with a point stamped a year ahead. Ten minutes leaves room for ordinary clock skew.
pub const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;

/// Milliseconds since the Unix epoch, now: the store's time unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How much the store keeps, and how many series it admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Samples older than `newest - retention` may be dropped.
    pub retention: Duration,
    /// A series with no sample newer than this is dropped whole.
    pub stale_after: Duration,
    /// Hard cap on live series; a new series past it is refused and counted in
    /// `vitals_store_series_dropped_total`.
    pub max_series: usize,
}

/// One sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; may be a stale marker.
    pub v: f64,
}

/// The exposition type of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    #[default]
    Unknown,
}

/// Metadata of a metric family, as `# TYPE` and `# HELP` show it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MetricMeta {
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}
