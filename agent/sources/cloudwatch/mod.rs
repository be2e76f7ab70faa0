//! The CloudWatch source (being built; see issue 11): pulls AWS CloudWatch metrics with
//! GetMetricData and writes them into the store under yet-another-cloudwatch-exporter's
//! names. Today it holds the naming ([`names`]), the `cloudwatch:` section with its
//! validation ([`config`]), the run planner (window, batches of queries, output series:
//! [`plan`]) and the SDK client ([`client`]: ListMetrics, GetMetricData, errors by reason;
//! `tests/cloudwatch.rs` drives it against a fake CloudWatch speaking RPC v2 CBOR). None is
//! wired into the daemon yet, so the root config still refuses a `cloudwatch:` section.
//! Discovery caching, the scheduler, store writes and the stage follow.

pub mod client;
pub mod config;
pub mod names;
pub mod plan;
