//! The configuration toolkit: durations in Prometheus's syntax, `${ENV}` expansion, secrets
//! (and `*_file` keys), field paths mapped to `file:line:col`, and errors that name where and
//! what. It is a leaf: it imports nothing else of the crate.
//!
//! Each stage owns the struct of its own YAML section (`sources/probe/config.rs`,
//! `sources/otlp/config.rs`, `rules/config.rs`, `api/config.rs`, `store/config.rs`) and its
//! validation, returning every problem as a [`FieldError`] relative to the section. The
//! daemon's root configuration (`daemon/config.rs`) lists the sections once, gathers every
//! section's errors and attaches positions through a [`Document`].

mod depth;
mod document;
mod duration;
mod env;
mod error;
pub mod position;
mod secret;

pub use depth::{MAX_YAML_DEPTH, TooDeep, check_depth};
pub use document::{Document, SchemaErrors, Section, SectionCheck, schema_errors_of};
pub use duration::{DurationError, PromDuration};
pub use error::{ConfigError, ConfigErrors, FieldError};
pub use secret::{Secret, read_secret_file, resolve_secret_file};

/// Parses a listen address (`ip:port`); `example` shows the expected form in the error.
pub fn parse_listen(
    field: &str,
    value: &str,
    example: &str,
) -> Result<std::net::SocketAddr, FieldError> {
    value.parse().map_err(|_| {
        FieldError::new(
            field,
            format!("{value:?} is not an address: expected ip:port, e.g. {example}"),
        )
    })
}
