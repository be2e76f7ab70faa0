//! `log_configs`: one log line per notification (vitals' own). The embedded default
//! configuration's receiver, so alerts are visible before any integration is set up.

use serde::Deserialize;

use super::{GlobalDefaults, Notification, SendError, default_true};
use crate::config::FieldError;

/// One `log_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Whether resolved notifications are logged (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// The log level: `info` (default) or `warn`.
    #[serde(default)]
    pub level: Option<String>,
}

/// A built log integration.
#[derive(Debug)]
pub struct Log {
    pub(crate) send_resolved: bool,
    warn: bool,
}

impl LogConfig {
    /// Validates and builds.
    pub fn build(&self, _globals: &GlobalDefaults) -> Result<Log, Vec<FieldError>> {
        let warn = match self.level.as_deref() {
            None | Some("info") => false,
            Some("warn") => true,
            Some(other) => {
                return Err(vec![FieldError::new(
                    "level",
                    format!("{other:?} is not a level: expected info or warn"),
                )]);
            }
        };
        Ok(Log {
            send_resolved: self.send_resolved,
            warn,
        })
    }
}

/// The line logged for `n`: `[FIRING:2] alertname=HighErrorRate service=checkout`.
pub fn line(n: &Notification) -> String {
    let count = n.alerts.len() + n.truncated;
    let mut s = match n.status {
        super::Status::Firing => format!("[FIRING:{}]", n.firing().count()),
        super::Status::Resolved => "[RESOLVED]".to_string(),
    };
    for (k, v) in &n.group_labels {
        s.push_str(&format!(" {k}={v}"));
    }
    if let Some(summary) = n.common_annotations.get("summary") {
        s.push_str(&format!(": {summary}"));
    }
    if count > 1 {
        s.push_str(&format!(" ({count} alerts)"));
    }
    s
}

impl Log {
    /// Logs `n` (its one-line text in the `text` field); never fails.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let text = line(n);
        let status = n.status.as_str();
        if self.warn {
            tracing::warn!(receiver = %n.receiver, status, text, notification_id = %n.id, group_key = %n.group_key, "Alert notification.");
        } else {
            tracing::info!(receiver = %n.receiver, status, text, notification_id = %n.id, group_key = %n.group_key, "Alert notification.");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{notification, resolved};
    use super::*;

    #[tokio::test]
    async fn one_line_per_notification() {
        let n = notification(2);
        assert_eq!(
            line(&n),
            "[FIRING:2] alertname=HighErrorRate service=checkout: Error rate 12% (2 alerts)"
        );
        assert!(line(&resolved(1)).starts_with("[RESOLVED] alertname=HighErrorRate"));
        let l = LogConfig::default()
            .build(&GlobalDefaults::default())
            .unwrap();
        l.send(&n).await.unwrap();
        assert!(
            serde_yaml_ng::from_str::<LogConfig>("{level: debug}")
                .unwrap()
                .build(&GlobalDefaults::default())
                .is_err()
        );
    }
}
