//! The CloudWatch source (issue 11, in progress): pulls AWS CloudWatch metrics with
//! GetMetricData and writes them into the store under yet-another-cloudwatch-exporter's
//! names, each datapoint at CloudWatch's own timestamp.
//!
//! - [`config`]: the `cloudwatch:` section, its validation and the monthly cost estimate
//!   `vitals check config` prints.
//! - [`names`]: YACE's metric and `dimension_<Name>` label naming.
//! - [`plan`]: a run's window, its GetMetricData calls (at most 500 queries each) and the
//!   series each query writes.
//! - [`client`]: ListMetrics and GetMetricData through the SDK (Smithy RPC v2 CBOR), with
//!   the SDK's retries for throttling and 5xx, and errors by reason.
//! - [`job`]: one job's run: discovery cached for its TTL, calls under the shared permits,
//!   new datapoints written, series that discovery lost ended with a stale marker.
//! - [`stage`]: the stage: a task per job every period, reload, stop.
//! - [`internal_events`]: its metrics and log lines.
//!
//! `tests/cloudwatch.rs` drives it through the real SDK and the real binary against a fake
//! CloudWatch speaking RPC v2 CBOR (`tests/common/cloudwatch.rs`).

pub mod client;
pub mod config;
pub mod internal_events;
pub mod job;
pub mod names;
pub mod plan;
pub mod stage;

pub use config::{CloudWatchConfig, CloudWatchSpec};
pub use stage::{CloudWatchError, CloudWatchSource};
