//! Sources: everything that produces samples and writes them into the store.
//!
//! The health prober (`probe`) and the OTLP receiver (`otlp`); CloudWatch joins here. Each is
//! a [`crate::stage::Stage`] with its own config section, schedule and connections, and
//! talks to the rest of the pipeline only through the store's append methods.

pub mod cloudwatch;
pub mod otlp;
pub mod probe;
