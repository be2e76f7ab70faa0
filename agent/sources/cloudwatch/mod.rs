//! The CloudWatch source (being built; see issue 11): pulls AWS CloudWatch metrics with
//! GetMetricData and writes them into the store under yet-another-cloudwatch-exporter's
//! names. Today it holds the naming ([`names`]), the `cloudwatch:` section with its
//! validation ([`config`]) and the run planner (window, batches of queries, output series:
//! [`plan`]). None is wired into the daemon yet, so the root config still refuses a
//! `cloudwatch:` section. The client, discovery and the stage follow.

pub mod config;
pub mod names;
pub mod plan;
