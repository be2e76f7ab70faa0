//! Annotation and label templates (interim: `{{ $labels.<name> }}` and `{{ $value }}` only;
//! the full Go text/template engine replaces this file).

use crate::store::Labels;

/// Why a template did not parse or render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template: {name}: {message}")]
    Parse { name: String, message: String },
}

/// Data a template sees.
pub struct TemplateData<'a> {
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub value: f64,
    #[allow(clippy::type_complexity)]
    pub query: Option<&'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>>,
}

/// One sample a `query` returns.
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Label(String),
    Value,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("{{") {
            parts.push(Part::Text(rest[..i].to_string()));
            let after = &rest[i + 2..];
            let Some(j) = after.find("}}") else {
                return Err(TemplateError::Parse {
                    name: name.into(),
                    message: "unclosed action".into(),
                });
            };
            let action = after[..j].trim();
            if action == "$value" {
                parts.push(Part::Value);
            } else if let Some(l) = action.strip_prefix("$labels.") {
                parts.push(Part::Label(l.to_string()));
            } else {
                return Err(TemplateError::Parse {
                    name: name.into(),
                    message: format!("unsupported action {action}"),
                });
            }
            rest = &after[j + 2..];
        }
        parts.push(Part::Text(rest.to_string()));
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    /// A template that renders `text` as is.
    pub fn literal(text: &str) -> Template {
        Template {
            source: text.to_string(),
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn render(&self, data: &TemplateData<'_>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Label(l) => out.push_str(data.labels.get(l).unwrap_or("")),
                Part::Value => out.push_str(&data.value.to_string()),
            }
        }
        Ok(out)
    }
}
