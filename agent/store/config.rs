//! `storage:`, the store's section of the configuration (and where durable state lives).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::StoreConfig;
use crate::config::{FieldError, PromDuration, Section};

/// `storage:`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for durable state: alert state, silences and the notification outbox
    /// (`vitals.redb`), and the store checkpoint (`store/store.ckpt`). It must be writable.
    #[serde(default = "defaults::storage_path")]
    pub path: PathBuf,
    /// How often the in-memory store is written to `path/store/` (and once more on
    /// shutdown), so a restart keeps every window; a `kill -9` loses at most this much.
    /// `0s` turns the checkpoint off: every restart starts with an empty store.
    #[serde(default = "defaults::checkpoint_interval")]
    pub checkpoint_interval: PromDuration,
    /// How much sample history the in-memory store keeps per series: the longest range the
    /// rules use plus the 5-minute lookback (default 15m). Raise it when Grafana queries vitals
    /// directly over longer ranges; long-term history belongs in a Prometheus that scrapes it.
    #[serde(default = "defaults::retention")]
    pub retention: PromDuration,
    /// A series not written for this long is dropped (Prometheus's staleness horizon).
    #[serde(default = "defaults::stale_after")]
    pub series_stale_after: PromDuration,
    /// Hard cap on live series; new series past it are refused and counted in
    /// `vitals_store_series_dropped_total`.
    #[serde(default = "defaults::max_series")]
    pub max_series: usize,
}

impl Section for StorageConfig {}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: defaults::storage_path(),
            checkpoint_interval: defaults::checkpoint_interval(),
            retention: defaults::retention(),
            series_stale_after: defaults::stale_after(),
            max_series: defaults::max_series(),
        }
    }
}

mod defaults {
    use crate::config::PromDuration;
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn storage_path() -> PathBuf {
        PathBuf::from("./data")
    }
    pub fn checkpoint_interval() -> PromDuration {
        Duration::from_secs(10).into()
    }
    /// The window the shipped rules need (their longest range, 10m) plus the 5m lookback.
    pub fn retention() -> PromDuration {
        Duration::from_secs(900).into()
    }
    pub fn stale_after() -> PromDuration {
        Duration::from_secs(300).into()
    }
    pub fn max_series() -> usize {
        1_000_000
    }
}

impl StorageConfig {
    /// Validates the section; every problem, with paths relative to it.
    pub fn build(&self) -> Result<StoreConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.retention.get() < Duration::from_secs(300) {
            errors.push(FieldError::new(
                "retention",
                format!(
                    "{} is shorter than the 5m lookback every query needs; use at least 5m",
                    self.retention
                ),
            ));
        }
        if self.series_stale_after.get().is_zero() {
            errors.push(FieldError::new(
                "series_stale_after",
                "must be longer than 0s",
            ));
        }
        let ck = self.checkpoint_interval.get();
        if !ck.is_zero() && ck < Duration::from_secs(1) {
            errors.push(FieldError::new(
                "checkpoint_interval",
                format!("{} is too often to rewrite the store; use at least 1s, or 0s to turn checkpoints off", self.checkpoint_interval),
            ));
        }
        if self.max_series == 0 {
            errors.push(FieldError::new("max_series", "must be at least 1"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(StoreConfig {
            retention: self.retention.get(),
            stale_after: self.series_stale_after.get(),
            max_series: self.max_series,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_interval_is_off_at_zero_and_at_least_a_second_otherwise() {
        let with = |s: &str| StorageConfig {
            checkpoint_interval: s.parse().unwrap(),
            ..StorageConfig::default()
        };
        assert!(with("0s").build().is_ok());
        assert!(with("1s").build().is_ok());
        let errors = with("500ms").build().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "checkpoint_interval");
        assert_eq!(
            StorageConfig::default().checkpoint_interval.get(),
            Duration::from_secs(10)
        );
    }
}
