//! The CloudWatch source (being built; see issue 11): pulls AWS CloudWatch metrics with
//! GetMetricData and writes them into the store under yet-another-cloudwatch-exporter's
//! names. Today it holds the naming ([`names`]); the jobs, discovery and the stage follow.

pub mod names;
