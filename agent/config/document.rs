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

/// Every serde error of deserialising `value` as `T`, at `path`. For a mapping each key is
/// checked on its own (serde stops at the first problem), so every bad field is reported,
/// and each error is narrowed to the deepest key or list item whose removal clears it (serde
/// does not say where inside a key's value it failed); what no single key explains (a
/// missing required field) is reported at `path`.
pub fn schema_errors_of<T: DeserializeOwned>(value: &Value, path: &str) -> Vec<FieldError> {
    let fails = |v: &Value| serde_yaml_ng::from_value::<T>(v.clone()).err();
    let Some(first) = fails(value) else {
        return Vec::new();
    };
    let Value::Mapping(map) = value else {
        return vec![FieldError::new(path, first.to_string())];
    };
    let mut out = Vec::new();
    let mut rest = map.clone();
    for (key, v) in map {
        let alone = Value::Mapping(serde_yaml_ng::Mapping::from_iter([(
            key.clone(),
            v.clone(),
        )]));
        let Some(e) = fails(&alone) else { continue };
        let message = e.to_string();
        // Without the other keys a required one is missing: not this key's fault.
        if message.starts_with("missing field") {
            continue;
        }
        let mut at = vec![Step::Key(key.clone())];
        narrow(&alone, &mut at, &|v| {
            fails(v).is_some_and(|e| !e.to_string().starts_with("missing field"))
        });
        out.push(FieldError::new(render(path, &at), message));
        rest.remove(key);
    }
    let rest = Value::Mapping(rest);
    if let Some(e) = fails(&rest) {
        // A required field missing deeper down (`server.tls` without `key_file`): the key
        // whose removal changes the error holds it.
        let mut at = Vec::new();
        narrow(&rest, &mut at, &|v| fails(v).is_some());
        out.push(FieldError::new(render(path, &at), e.to_string()));
    }
    if out.is_empty() {
        out.push(FieldError::new(path, first.to_string()));
    }
    out
}

/// One step of a path inside a YAML value.
#[derive(Clone)]
enum Step {
    Key(Value),
    Index(usize),
}

fn step_into<'a>(v: &'a mut Value, step: &Step) -> Option<&'a mut Value> {
    match (v, step) {
        (Value::Mapping(m), Step::Key(k)) => m.get_mut(k),
        (Value::Sequence(s), Step::Index(i)) => s.get_mut(*i),
        _ => None,
    }
}

/// Extends `at` (a path in `root` whose value `still_fails`) as deep as removing one key or
/// list item under it makes `root` pass: that key or item holds the error.
fn narrow(root: &Value, at: &mut Vec<Step>, still_fails: &dyn Fn(&Value) -> bool) {
    // Bounded by the YAML depth limit; each level tries each child once.
    loop {
        let mut probe = root.clone();
        let Some(node) = at.iter().try_fold(&mut probe, step_into) else {
            return;
        };
        let children: Vec<Step> = match node {
            Value::Mapping(m) => m.keys().cloned().map(Step::Key).collect(),
            Value::Sequence(s) => (0..s.len()).map(Step::Index).collect(),
            _ => return,
        };
        let culprit = children.into_iter().find(|child| {
            let mut without = root.clone();
            if let Some(node) = at.iter().try_fold(&mut without, step_into) {
                match (node, child) {
                    (Value::Mapping(m), Step::Key(k)) => {
                        m.remove(k);
                    }
                    (Value::Sequence(s), Step::Index(i)) => {
                        s.remove(*i);
                    }
                    _ => {}
                }
            }
            !still_fails(&without)
        });
        match culprit {
            Some(c) => at.push(c),
            None => return,
        }
    }
}

/// `path` followed by `steps` (`a.b[2].c`).
fn render(path: &str, steps: &[Step]) -> String {
    let mut out = path.to_string();
    for s in steps {
        match s {
            Step::Key(k) => {
                let k = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .map(|t| t.trim().to_string())
                        .unwrap_or_default(),
                };
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The schema errors [`Document::deserialize_lenient`] found, and what it left out.
#[derive(Debug, Default)]
pub struct SchemaErrors {
    /// Every schema error, paths from the root.
    pub errors: Vec<FieldError>,
    /// Paths left out of the value: validation errors under them are consequences of the
    /// schema errors, not news.
    pub pruned: Vec<String>,
}

impl SchemaErrors {
    /// Whether validation of `path` may have seen a default in place of a part left out: a
    /// part inside a list item (`probes.targets[1].timeout`) affects that item only; any
    /// other part (`probes.defaults.timeout`) its whole section.
    pub fn touches(&self, path: &str) -> bool {
        self.pruned.iter().any(|p| {
            let scope = match p.find(']') {
                Some(end) => &p[..=end],
                None => section_of(p),
            };
            path == scope
                || path
                    .strip_prefix(scope)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        })
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
            let sections = self.section_errors(sections);
            if sections.is_empty() {
                return ConfigErrors(vec![self.yaml_error(&e)]);
            }
            // Each section checked on its own places every error at its field; serde's own
            // error names one of them, sometimes at the wrong key.
            self.locate(sections)
        })
    }

    /// As [`Document::deserialize`], but a document with schema errors in some parts still
    /// gives the rest: the broken fields (or, when that is not enough, their whole
    /// sections) are left out and the remainder deserialised, so the caller can validate it
    /// and report schema and validation errors in one pass. `Err`: nothing usable (a YAML
    /// syntax error, or sections that cannot be left out).
    pub fn deserialize_lenient<T: DeserializeOwned + Default>(
        &self,
        sections: &[(&str, SectionCheck)],
    ) -> Result<(T, SchemaErrors), ConfigErrors> {
        if self.expanded.trim().is_empty() {
            return Ok((T::default(), SchemaErrors::default()));
        }
        let e = match serde_yaml_ng::from_str::<T>(&self.expanded) {
            Ok(v) => return Ok((v, SchemaErrors::default())),
            Err(e) => e,
        };
        let errors = self.section_errors(sections);
        let Ok(mut root) = serde_yaml_ng::from_str::<Value>(&self.expanded) else {
            return Err(ConfigErrors(vec![self.yaml_error(&e)]));
        };
        if errors.is_empty() {
            return Err(ConfigErrors(vec![self.yaml_error(&e)]));
        }
        let mut pruned: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
        for path in &pruned {
            remove_path(&mut root, path);
        }
        let value = match serde_yaml_ng::from_value::<T>(root.clone()) {
            Ok(v) => Some(v),
            Err(_) => {
                // A required field left out breaks its parent: leave out whole sections.
                pruned = pruned.iter().map(|p| section_of(p).to_string()).collect();
                pruned.dedup();
                for p in &pruned {
                    remove_path(&mut root, p);
                }
                serde_yaml_ng::from_value::<T>(root).ok()
            }
        };
        match value {
            Some(value) => Ok((value, SchemaErrors { errors, pruned })),
            None => Err(self.locate(errors)),
        }
    }

    /// serde's error for the whole text, at its position (the key there names the field).
    fn yaml_error(&self, e: &serde_yaml_ng::Error) -> ConfigError {
        let ConfigError {
            position,
            mut path,
            message,
            ..
        } = ConfigError::from_yaml(&self.origin, e);
        if let Some(field) =
            position.and_then(|(line, col)| self.positions.path_at(Pos { line, col }))
            && field.starts_with(&path)
        {
            path = field.to_string();
        }
        self.error(position, &path, message)
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
        // A section's check and a check of its list items may both find the same field.
        let mut seen = std::collections::HashSet::new();
        out.retain(|e| seen.insert(e.path.clone()));
        out
    }

    /// Validation errors (paths from the root) with their positions, in file order.
    pub fn locate(&self, errors: Vec<FieldError>) -> ConfigErrors {
        let mut errors: Vec<ConfigError> = errors
            .into_iter()
            .map(|e| {
                // An unknown field is shown at its key, anything else at its value.
                let key = e
                    .message
                    .starts_with("unknown field")
                    .then(|| self.positions.key(&e.path))
                    .flatten();
                let pos = key
                    .or_else(|| self.positions.value(&e.path))
                    .map(|p| (p.line, p.col));
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

/// The top-level key of `path` (`probes` of `probes.targets[1].url`).
fn section_of(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

/// Removes what `path` (`a.b[2].c`) names from `root`, if it is there; an element of a list
/// is left (removing it would renumber the ones after it), its key inside is removed.
fn remove_path(root: &mut Value, path: &str) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let last = parts.peek().is_none() && indexes.is_empty();
        let Value::Mapping(m) = cur else { return };
        if last {
            m.remove(key);
            return;
        }
        let Some(next) = m.get_mut(key) else { return };
        cur = next;
        for idx in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let (Ok(i), Value::Sequence(seq)) = (idx.parse::<usize>(), &mut *cur) else {
                return;
            };
            let Some(next) = seq.get_mut(i) else { return };
            cur = next;
        }
    }
}
