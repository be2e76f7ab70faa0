//! The rule engine: Prometheus rule files evaluated over the store, the read-then-write
//! middle of the pipeline.
//!
//! It owns rule groups (loaded from Prometheus rule files), their schedule (every group on its
//! own interval, aligned), recording rules (their results are written back to the store),
//! the alert state machine (inactive → pending → firing → resolved, with `for` and
//! `keep_firing_for`), the `ALERTS` / `ALERTS_FOR_STATE` series, annotation templates, and the
//! persistence of alert state under `storage.path`. What it shows of itself is in [`status`].

pub mod status;
pub mod template;
