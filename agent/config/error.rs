//! Configuration errors: each names the file, the line and column, the field path and what
//! was expected. Loading gathers every error it can before giving up.

use std::fmt;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<embedded default>`).
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field path, e.g. `probes.targets[2].url`; empty for whole-file errors.
    pub path: String,
    /// What is wrong and what was expected. Never contains a secret value.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl ConfigError {
    /// A YAML deserialisation error in `file`: its position moved out of the message, and the
    /// field path serde puts at the start of it (`a.b[0]: ...`) split off.
    pub fn from_yaml(file: &str, e: &serde_yaml_ng::Error) -> ConfigError {
        let position = e.location().map(|l| (l.line(), l.column()));
        let message = e.to_string();
        // serde_yaml_ng appends " at line L column C"; the position is shown up front.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        let (path, message) = match message.split_once(": ") {
            Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
            _ => (String::new(), message),
        };
        ConfigError {
            file: file.to_string(),
            position,
            path,
            message,
        }
    }
}

/// Every problem found in one configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A problem found by a component's validation, before a position is attached: the path
/// is relative to the component's own config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path below the component, e.g. `conditions[1]`; empty for the component itself.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl FieldError {
    /// An error at `path` (relative to the component being validated).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error, seen from `prefix` one level up.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => prefix.to_string(),
            (false, false) if self.path.starts_with('[') => format!("{prefix}{}", self.path),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        self
    }
}
