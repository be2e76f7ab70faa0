//! The CloudWatch source (being built; see issue 11): pulls AWS CloudWatch metrics with
//! GetMetricData and writes them into the store under yet-another-cloudwatch-exporter's
//! names. Today it holds the naming ([`names`]) and the `cloudwatch:` section with its
//! validation ([`config`]); neither is wired into the daemon yet, so the root config still
//! refuses a `cloudwatch:` section. The client, discovery, batching and the stage follow.

pub mod config;
pub mod names;
