//! vitals: one daemon that probes `/health` endpoints, ingests OTLP, keeps what it measures
//! in a small in-memory time-series store, evaluates Prometheus alert rules over it and
//! exports everything to Prometheus and Grafana.
//!
//! The modules mirror the pipeline (see `DESIGN.md` and the README's layout section):
//!
//! ```text
//! sources (probe, otlp) ──> store ──> promql / rules ──> (alerting ──> notify)
//!                             └──> api: /metrics, /api/v1/*, status page
//! ```
//!
//! `stage` is the shape every stage shares; `daemon` builds, reloads and stops the stages;
//! `config` is the leaf toolkit each stage's config section is written with; `net` holds
//! shared network pieces, `gotemplate` the Go template engine (rule templates, and
//! notification templates next), `civil` the one calendar every date conversion uses,
//! `durable` the state file, `telemetry` the agent's own logs and metrics. `main.rs` only
//! parses the command line.
#![forbid(unsafe_code)]

pub mod alerting;
pub mod api;
pub mod civil;
pub mod config;
pub mod daemon;
pub mod durable;
pub mod gotemplate;
pub mod net;
pub mod notify;
pub mod promql;
pub mod rules;
pub mod sources;
pub mod stage;
pub mod store;
pub mod telemetry;
