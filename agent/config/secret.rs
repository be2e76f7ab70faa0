//! Secrets in the configuration: values that are never printed, and `*_file` keys that read
//! them from files (Kubernetes secrets mounted as files, Docker secrets).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FieldError;

/// A secret string: never printed by `Debug`, never part of an error. Two secrets compare by
/// value (a reload sees a changed token) without either being shown.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

/// Reads a secret from `path`, dropping one trailing newline. The error never quotes the
/// file's content.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Secret::new(
            s.strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&s),
        )),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Resolves a `KEY` / `KEY_file` pair: when `file` is set, reads the secret from it into
/// `secret`. Setting both is an error at `KEY_file`; `key` is the field's name (`api_token`).
pub fn resolve_secret_file(
    key: &str,
    secret: &mut Secret,
    file: Option<&PathBuf>,
    errors: &mut Vec<FieldError>,
) {
    let Some(file) = file else { return };
    let at = format!("{key}_file");
    if !secret.is_empty() {
        errors.push(FieldError::new(
            &at,
            format!("set either {key} or {key}_file, not both"),
        ));
    }
    match read_secret_file(file) {
        Ok(s) => *secret = s,
        Err(message) => errors.push(FieldError::new(at, message)),
    }
}
