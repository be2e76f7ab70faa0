//! The CloudWatch source (being built; see issue 11): pulls AWS CloudWatch metrics with
//! GetMetricData and writes them into the store under yet-another-cloudwatch-exporter's
//! names. Today it holds the naming ([`names`]), the `cloudwatch:` section with its
//! validation ([`config`]), the run planner (window, batches of queries, output series:
//! [`plan`]), the SDK client ([`client`]: ListMetrics, GetMetricData, errors by reason) and
//! one job's run ([`job`]: discovery cached for its TTL, bounded calls, datapoints written at
//! CloudWatch's timestamps, lost series ended). `tests/cloudwatch.rs` drives them through
//! the real SDK against a fake CloudWatch speaking RPC v2 CBOR. None is wired into the
//! daemon yet, so the root config still refuses a `cloudwatch:` section: the stage
//! (schedule, self metrics, reload), `check config`'s cost estimate and the docs follow.

pub mod client;
pub mod config;
pub mod job;
pub mod names;
pub mod plan;
