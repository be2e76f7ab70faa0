//! vitals: one daemon that probes `/health` endpoints, keeps what it measures in a small
//! in-memory time-series store and exports it to Prometheus and Grafana.
//!
//! The modules mirror the pipeline (see `DESIGN.md`):
//! `sources` (probes, later OTLP and CloudWatch) write samples into the `store`; the `api`
//! reads the store for `/metrics` and the query API; `config` describes all of it and
//! `telemetry` is the agent's own logs and metrics. `main.rs` only wires these together.
//! `rules` renders alert templates with the `gotemplate` engine (which the alerting stage's
//! notification templates share); `civil` is the one calendar every date conversion uses.
#![forbid(unsafe_code)]

pub mod api;
pub mod civil;
pub mod config;
pub mod durable;
pub mod gotemplate;
pub mod promql;
pub mod rules;
pub mod shutdown;
pub mod sources;
pub mod store;
pub mod telemetry;
