//! The rule engine: Prometheus rule files evaluated over the store, the read-then-write
//! middle of the pipeline.
//!
//! It owns rule groups (loaded from Prometheus rule files), their schedule (every group on its
//! own interval, aligned), recording rules (their results are written back to the store),
//! the alert state machine (inactive → pending → firing → resolved, with `for` and
//! `keep_firing_for`), the `ALERTS` / `ALERTS_FOR_STATE` series, annotation templates, and the
//! persistence of alert state under `storage.path`. What it shows of itself is in [`status`].

pub mod alert;
pub mod config;
pub mod file;
pub mod group;
mod internal_events;
pub mod manager;
pub mod persist;
pub mod sink;
pub mod status;
pub mod template;
pub mod unittest;

/// The shipped rule files (`rules/*.yml`), built in: the embedded default configuration
/// loads these when `rules/` is not there to read (a binary run away from its checkout).
pub const EMBEDDED_RULES: [(&str, &str); 4] = [
    (
        "<embedded>/rules/probes.yml",
        include_str!("../../rules/probes.yml"),
    ),
    (
        "<embedded>/rules/otlp.yml",
        include_str!("../../rules/otlp.yml"),
    ),
    (
        "<embedded>/rules/spanmetrics.yml",
        include_str!("../../rules/spanmetrics.yml"),
    ),
    (
        "<embedded>/rules/cloudwatch.yml",
        include_str!("../../rules/cloudwatch.yml"),
    ),
];
