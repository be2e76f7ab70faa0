//! Sources: everything that produces samples and writes them into the store.
//!
//! Today that is the probe scheduler (`probe`); OTLP and CloudWatch join here. A source owns
//! its own schedule and connections and talks to the rest of the pipeline only through
//! [`crate::store::Store::append`].

pub mod otlp;
pub mod probe;
