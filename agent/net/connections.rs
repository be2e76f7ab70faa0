//! `connections:`, the block every listening section (`server:`, `otlp:`) takes to set its
//! listeners' [`ConnectionLimits`].

use serde::Deserialize;

use super::listen::ConnectionLimits;
use crate::config::{FieldError, PromDuration};

/// `connections:` of a listening section. Omitted keys keep [`ConnectionLimits`]'s defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Connections served at once per listener; more are closed at once and counted in
    /// `vitals_connections_refused_total{listener}`. Default 4096.
    #[serde(default)]
    pub max: Option<usize>,
    /// Time from a connection's opening (or the end of its previous request) until a
    /// request's headers are complete; a slower client is disconnected. Default 10s.
    #[serde(default)]
    pub header_read_timeout: Option<PromDuration>,
    /// A connection with no request in flight for this long is closed. Default 2m.
    #[serde(default)]
    pub idle_timeout: Option<PromDuration>,
    /// Time from a request's headers until its whole body has arrived. Default 60s.
    #[serde(default)]
    pub body_read_timeout: Option<PromDuration>,
}

impl ConnectionsConfig {
    /// The limits, validated; errors relative to the block.
    pub fn build(&self) -> Result<ConnectionLimits, Vec<FieldError>> {
        let mut limits = ConnectionLimits::default();
        if let Some(max) = self.max {
            limits.max_connections = max;
        }
        let mut errors = Vec::new();
        for (field, value, slot) in [
            (
                "header_read_timeout",
                self.header_read_timeout,
                &mut limits.header_read_timeout,
            ),
            ("idle_timeout", self.idle_timeout, &mut limits.idle_timeout),
            (
                "body_read_timeout",
                self.body_read_timeout,
                &mut limits.body_read_timeout,
            ),
        ] {
            if let Some(v) = value {
                if v.get().is_zero() {
                    errors.push(FieldError::new(field, "must be longer than 0s"));
                }
                *slot = v.get();
            }
        }
        if let Err(e) = limits.validate() {
            errors.push(FieldError::new("max", e.to_string()));
        }
        if errors.is_empty() {
            Ok(limits)
        } else {
            Err(errors)
        }
    }
}
