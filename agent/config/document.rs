//! Loading one YAML document into a typed configuration: `${ENV}` expansion, deserialisation
//! that reports every broken section at once (serde stops at the first problem), and
//! positions attached to the errors validation finds afterwards.
//!
//! The caller (the daemon's root configuration) says which sections exist by listing each
//! one's [`Section`] check; this module knows no section itself.

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::position::{Pos, Positions};
use super::{ConfigError, ConfigErrors, FieldError, check_depth, env};

/// One top-level section's schema check: every error of `value` (found at `path`), with
/// paths from the document's root.
pub type SectionCheck = fn(value: &Value, path: &str) -> Vec<FieldError>;

/// A configuration section: a YAML mapping with its own schema. The default check reports
/// the first serde error of the whole section; a section with a list of independent entries
/// (probe targets) overrides it to check each entry on its own.
pub trait Section: DeserializeOwned {
    /// Every schema error of `value`, which stands at `path`.
    fn schema_errors(value: &Value, path: &str) -> Vec<FieldError> {
        schema_errors_of::<Self>(value, path)
    }
}

impl<T: Section> Section for Option<T> {
    fn schema_errors(value: &Value, path: &str) -> Vec<FieldError> {
        if value.is_null() {
            Vec::new()
        } else {
            T::schema_errors(value, path)
        }
    }
}

/// The first serde error of deserialising `value` as `T`, at `path` (an unknown field is
/// reported at its own path).
pub fn schema_errors_of<T: DeserializeOwned>(value: &Value, path: &str) -> Vec<FieldError> {
    match serde_yaml_ng::from_value::<T>(value.clone()) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let message = e.to_string();
            let path = match message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split_once('`'))
            {
                Some((field, _)) if path.is_empty() => field.to_string(),
                Some((field, _)) => format!("{path}.{field}"),
                None => path.to_string(),
            };
            vec![FieldError::new(path, message)]
        }
    }
}

/// An expanded configuration text with its positions, ready to deserialise.
pub struct Document {
    origin: String,
    expanded: String,
    positions: Positions,
}

impl Document {
    /// Expands `${VAR}` references in `text` (looked up with `env`); `origin` names the file
    /// in errors. Every expansion error is returned at once. A document nested deeper than
    /// [`MAX_YAML_DEPTH`](super::MAX_YAML_DEPTH) is refused.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Document, ConfigErrors> {
        let expanded = env::expand(text, env).map_err(|errs| {
            ConfigErrors(
                errs.into_iter()
                    .map(|e| ConfigError {
                        file: origin.to_string(),
                        position: Some((e.line, e.col)),
                        path: String::new(),
                        message: e.message,
                    })
                    .collect(),
            )
        })?;
        // Refused before anything parses the nesting (serde's time grows with its square).
        check_depth(&expanded).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: origin.to_string(),
                position: Some((e.line, e.col)),
                path: String::new(),
                message: e.to_string(),
            }])
        })?;
        Ok(Document {
            origin: origin.to_string(),
            positions: Positions::of(text),
            expanded,
        })
    }

    /// The text after `${VAR}` expansion.
    pub fn expanded(&self) -> &str {
        &self.expanded
    }

    /// Where the document came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Deserialises the whole document (an empty one gives `T::default()`). On failure every
    /// broken part is reported: the first serde error, then each other section's errors
    /// from `sections` (name, check); a top-level key not in `sections` is an error too.
    pub fn deserialize<T: DeserializeOwned + Default>(
        &self,
        sections: &[(&str, SectionCheck)],
    ) -> Result<T, ConfigErrors> {
        if self.expanded.trim().is_empty() {
            return Ok(T::default());
        }
        serde_yaml_ng::from_str(&self.expanded).map_err(|e| {
            let ConfigError {
                position,
                mut path,
                message,
                ..
            } = ConfigError::from_yaml(&self.origin, &e);
            // serde names the enclosing mapping; the key at the error's position is the field.
            if let Some(field) =
                position.and_then(|(line, col)| self.positions.path_at(Pos { line, col }))
                && field.starts_with(&path)
            {
                path = field.to_string();
            }
            let mut errors = vec![self.error(position, &path, message)];
            for e in self.section_errors(sections) {
                if e.path.starts_with(&path) || path.starts_with(&e.path) && !path.is_empty() {
                    continue;
                }
                let pos = self.positions.value(&e.path).map(|p| (p.line, p.col));
                errors.push(self.error(pos, &e.path, e.message));
            }
            errors.sort_by_key(|e| e.position);
            ConfigErrors(errors)
        })
    }

    /// Each top-level section checked on its own.
    fn section_errors(&self, sections: &[(&str, SectionCheck)]) -> Vec<FieldError> {
        let mut out = Vec::new();
        let Ok(Value::Mapping(root)) = serde_yaml_ng::from_str::<Value>(&self.expanded) else {
            return out;
        };
        for (key, value) in &root {
            let key = key.as_str().unwrap_or("?");
            match sections.iter().find(|(name, _)| *name == key) {
                Some((_, check)) => out.extend(check(value, key)),
                None => {
                    let names: Vec<String> =
                        sections.iter().map(|(n, _)| format!("`{n}`")).collect();
                    out.push(FieldError::new(
                        key,
                        format!(
                            "unknown field `{key}`, expected one of {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        out
    }

    /// Validation errors (paths from the root) with their positions, in file order.
    pub fn locate(&self, errors: Vec<FieldError>) -> ConfigErrors {
        let mut errors: Vec<ConfigError> = errors
            .into_iter()
            .map(|e| {
                let pos = self.positions.value(&e.path).map(|p| (p.line, p.col));
                self.error(pos, &e.path, e.message)
            })
            .collect();
        errors.sort_by_key(|e| e.position);
        ConfigErrors(errors)
    }

    fn error(&self, position: Option<(usize, usize)>, path: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.origin.clone(),
            position,
            path: path.to_string(),
            message,
        }
    }
}
