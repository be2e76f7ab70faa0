//! The OTLP receiver's log-and-count events: bytes received, requests by outcome, items
//! refused by reason, request durations and the live series gauge, counted in one place
//! (Vector's `internal_events`). Metrics are registered where they are made.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

use super::{Protocol, Signal, Tally};
use crate::telemetry::register;

/// The receiver's own metrics (`vitals_otlp_*`).
#[derive(Clone)]
pub struct OtlpMetrics {
    /// Items (points, spans, log records) received, by signal and protocol.
    pub received: IntCounterVec,
    /// Request bytes received (after decompression), by signal and protocol.
    pub bytes: IntCounterVec,
    /// Items refused, by signal and reason.
    pub rejected: IntCounterVec,
    /// Requests by signal, protocol and outcome.
    pub requests: IntCounterVec,
    /// Time to handle a request, by signal and protocol.
    pub duration: HistogramVec,
    /// Series the OTLP cache holds (what `otlp.max_series` caps).
    pub series: IntGauge,
}

impl OtlpMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let received = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "vitals_otlp_received_items_total",
                    "OTLP data points, spans and log records received.",
                ),
                &["signal", "protocol"],
            )?,
        )?;
        let bytes = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "vitals_otlp_received_bytes_total",
                    "OTLP request bytes received, after decompression.",
                ),
                &["signal", "protocol"],
            )?,
        )?;
        let rejected = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "vitals_otlp_rejected_points_total",
                    "OTLP items refused, by reason (series_limit, too_many_labels, label_too_long, out_of_order, too_far_in_future, reserved_name, invalid_attribute, invalid).",
                ),
                &["signal", "reason"],
            )?,
        )?;
        let requests = register(
            registry,
            IntCounterVec::new(
                Opts::new("vitals_otlp_requests_total", "OTLP requests, by outcome."),
                &["signal", "protocol", "outcome"],
            )?,
        )?;
        let duration = register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "vitals_otlp_request_duration_seconds",
                    "Time to decode and store an OTLP request.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
                &["signal", "protocol"],
            )?,
        )?;
        let series = register(
            registry,
            IntGauge::new(
                "vitals_otlp_series",
                "Series created from OTLP data and still live.",
            )?,
        )?;
        Ok(OtlpMetrics {
            received,
            bytes,
            rejected,
            requests,
            duration,
            series,
        })
    }
}

impl OtlpMetrics {
    /// A request's body arrived (`bytes` after decompression).
    pub fn received_bytes(&self, signal: Signal, protocol: Protocol, bytes: usize) {
        self.bytes
            .with_label_values(&[signal.as_str(), protocol.as_str()])
            .inc_by(bytes as u64);
    }

    /// A request was refused before ingest (`busy`, `unauthorized`, `invalid`, ...).
    pub fn refused(&self, signal: Signal, protocol: Protocol, outcome: &str) {
        self.requests
            .with_label_values(&[signal.as_str(), protocol.as_str(), outcome])
            .inc();
    }

    /// A request was ingested: its items, the ones refused by reason (derived series such as
    /// `target_info` too, though they are not items of the request's partial success), its
    /// outcome and how long it took.
    pub fn ingested(&self, signal: Signal, protocol: Protocol, tally: &Tally, took: Duration) {
        let labels = [signal.as_str(), protocol.as_str()];
        self.received
            .with_label_values(&labels)
            .inc_by(tally.accepted + tally.rejected_total());
        for (reason, n) in tally.rejected.iter().chain(&tally.side) {
            self.rejected
                .with_label_values(&[signal.as_str(), reason])
                .inc_by(*n);
        }
        let outcome = if tally.rejected_total() > 0 {
            "partial"
        } else {
            "ok"
        };
        self.requests
            .with_label_values(&[signal.as_str(), protocol.as_str(), outcome])
            .inc();
        self.duration
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }
}
