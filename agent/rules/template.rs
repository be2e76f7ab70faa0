//! Alert templates: the `labels` and `annotations` values of Prometheus alerting rules,
//! rendered exactly as Prometheus renders them. The rule engine parses each value once when a
//! rule file loads ([`Template::parse`]) and renders it for every alert at every evaluation
//! ([`Template::render`]).
//!
//! Prometheus (`rules/alerting.go`, `template/template.go`) prepends
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! to the text and runs it with Go's `text/template` under `missingkey=zero`, with
//! Prometheus's function map. This module is the rule adapter over the `gotemplate` engine:
//! the prefix, the root data struct ([`TemplateData`]), Prometheus's function map (the
//! engine's shared functions it has, plus its own `query`, `first`, `label`, `value`,
//! `strvalue`, `sortByLabel`, `pathPrefix`, `externalURL`), the `queryResult` / `*sample`
//! types `query` returns, and Prometheus's error wrapping. The engine's limits and known
//! differences from Go apply (see `gotemplate`); `now` is not available, as the data does not
//! carry the evaluation time.

#![forbid(unsafe_code)]

#[cfg(test)]
mod tests;

use std::any::Any;
use std::borrow::Cow;
use std::rc::Rc;
use std::sync::LazyLock;

use crate::gotemplate::{self, Data, FuncMap, Kind, Object, Param, Shared, Value};
use crate::store::Labels;

/// The definitions Prometheus puts in front of every alert template.
const PREFIX: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// One sample of a `query` result: `.Labels` and `.Value` in templates.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

/// The `query` callback's type.
pub(crate) type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<QuerySample>, String> + 'a;

/// What a template renders with.
pub struct TemplateData<'a> {
    /// The alert's labels (`__name__` excluded by the caller).
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub value: f64,
    /// Runs a PromQL instant query for the `query` function; None: `query` fails with a
    /// clear error.
    pub query: Option<&'a QueryFn<'a>>,
}

/// A template that failed to parse or to render, in Prometheus's words. A parse error reads
/// like Prometheus's rule-file check (`template: NAME:LINE:COL: ...`; a caller adds
/// `annotation "summary": ` in front); a render error reads like its expander
/// (`error executing template NAME: ...`), so a caller reproducing Prometheus writes the
/// annotation as `<error expanding template: {err}>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A syntax error; `line` and `column` (1-based) point into the text given to
    /// [`Template::parse`].
    #[error("template: {name}:{line}:{column}: {message}")]
    Parse {
        name: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A failure while rendering, in Go's words: `line` and `column` are Go's (the column is a
    /// 0-based byte offset and, on line 1, counts Prometheus's prepended definitions, exactly
    /// as Prometheus reports it); `context` is the failing node's source.
    #[error(
        "error executing template {name}: template: {name}:{line}:{column}: executing \"{template}\" at <{context}>: {message}"
    )]
    Exec {
        name: String,
        template: String,
        line: usize,
        column: usize,
        context: String,
        message: String,
    },
}

enum Body {
    /// No `{{` at all, or a recording rule's label value: rendering is a copy.
    Plain(String),
    Parsed(gotemplate::Template),
}

/// A parsed alert template.
pub struct Template {
    name: String,
    /// The text as written (without the prefix).
    text: String,
    body: Body,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Prometheus's function map (`template/template.go`): the engine's shared functions it has,
/// and its own, which [`RuleData::call`] implements.
static FUNCS: LazyLock<FuncMap> = LazyLock::new(|| {
    const SAMPLE: Param = Param::Object(SAMPLE_TYPE);
    const VECTOR: Param = Param::Object(VECTOR_TYPE);
    FuncMap::new()
        .with_shared(&[
            Shared::Args,
            Shared::ReReplaceAll,
            Shared::SafeHtml,
            Shared::Match,
            Shared::Title,
            Shared::ToUpper,
            Shared::ToLower,
            Shared::GraphLink,
            Shared::TableLink,
            Shared::StripPort,
            Shared::StripDomain,
            Shared::Humanize,
            Shared::Humanize1024,
            Shared::HumanizeDuration,
            Shared::HumanizePercentage,
            Shared::HumanizeTimestamp,
            Shared::ToTime,
            Shared::ToDuration,
            Shared::ParseDuration,
        ])
        .with_custom("query", RuleFunc::Query as u16, &[Param::Str], None)
        .with_custom("first", RuleFunc::First as u16, &[VECTOR], None)
        .with_custom("label", RuleFunc::Label as u16, &[Param::Str, SAMPLE], None)
        .with_custom("value", RuleFunc::Value as u16, &[SAMPLE], None)
        .with_custom("strvalue", RuleFunc::Strvalue as u16, &[SAMPLE], None)
        .with_custom(
            "sortByLabel",
            RuleFunc::SortByLabel as u16,
            &[Param::Str, VECTOR],
            None,
        )
        .with_custom("pathPrefix", RuleFunc::PathPrefix as u16, &[], None)
        .with_custom("externalURL", RuleFunc::ExternalUrl as u16, &[], None)
});

/// Prometheus's own template functions, by their [`FuncMap::with_custom`] id.
#[derive(Clone, Copy)]
#[repr(u16)]
enum RuleFunc {
    Query,
    First,
    Label,
    Value,
    Strvalue,
    SortByLabel,
    PathPrefix,
    ExternalUrl,
}

impl RuleFunc {
    const ALL: [RuleFunc; 8] = [
        RuleFunc::Query,
        RuleFunc::First,
        RuleFunc::Label,
        RuleFunc::Value,
        RuleFunc::Strvalue,
        RuleFunc::SortByLabel,
        RuleFunc::PathPrefix,
        RuleFunc::ExternalUrl,
    ];
}

const ROOT_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }";
const SAMPLE_TYPE: &str = "*template.sample";
const VECTOR_TYPE: &str = "template.queryResult";

/// The alert template data struct (`.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`).
struct Root<'a> {
    labels: &'a Labels,
    external_labels: &'a Labels,
    external_url: &'a str,
    value: f64,
}

impl<'a> Object<'a> for Root<'a> {
    fn type_name(&self) -> &str {
        ROOT_TYPE
    }

    fn kind(&self) -> Kind {
        Kind::Struct
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        Ok(Some(match name {
            "Labels" => Value::Labels(self.labels),
            "ExternalLabels" => Value::Labels(self.external_labels),
            "ExternalURL" => Value::Str(Cow::Borrowed(self.external_url)),
            "Value" => Value::Float(self.value),
            _ => return Ok(None),
        }))
    }

    fn fields(&self) -> Vec<(&'static str, Value<'a>)> {
        vec![
            ("Labels", Value::Labels(self.labels)),
            ("ExternalLabels", Value::Labels(self.external_labels)),
            ("ExternalURL", Value::Str(Cow::Borrowed(self.external_url))),
            ("Value", Value::Float(self.value)),
        ]
    }
}

/// `*sample`, one element of a `queryResult`.
struct Sample(Rc<QuerySample>);

impl<'a> Object<'a> for Sample {
    fn type_name(&self) -> &str {
        SAMPLE_TYPE
    }

    fn kind(&self) -> Kind {
        Kind::PtrStruct
    }

    fn field(&self, name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        Ok(Some(match name {
            "Labels" => Value::OwnedLabels(Rc::new(self.0.labels.clone())),
            "Value" => Value::Float(self.0.value),
            _ => return Ok(None),
        }))
    }

    fn fields(&self) -> Vec<(&'static str, Value<'a>)> {
        vec![
            ("Labels", Value::OwnedLabels(Rc::new(self.0.labels.clone()))),
            ("Value", Value::Float(self.0.value)),
        ]
    }

    fn identity(&self) -> Option<*const ()> {
        Some(Rc::as_ptr(&self.0).cast())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// `queryResult`, the result of `query`: a slice of samples.
struct QueryResult(Rc<Vec<Rc<QuerySample>>>);

impl<'a> Object<'a> for QueryResult {
    fn type_name(&self) -> &str {
        VECTOR_TYPE
    }

    fn kind(&self) -> Kind {
        Kind::List
    }

    fn field(&self, _name: &str, _args: &[Value<'a>]) -> Result<Option<Value<'a>>, String> {
        Ok(None)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn item(&self, i: usize) -> (Value<'a>, Value<'a>) {
        let elem = self
            .0
            .get(i)
            .map_or(Value::Nil, |s| Value::object(Sample(s.clone())));
        (Value::Int(i as i64), elem)
    }

    fn slice(&self, lo: usize, hi: usize) -> Value<'a> {
        Value::object(QueryResult(Rc::new(self.0[lo..hi].to_vec())))
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

fn sample<'v>(v: &'v Value<'_>) -> Option<&'v Rc<QuerySample>> {
    let s = v.as_object()?.as_any()?.downcast_ref::<Sample>()?;
    Some(&s.0)
}

fn query_result<'v>(v: &'v Value<'_>) -> Option<&'v Rc<Vec<Rc<QuerySample>>>> {
    let q = v.as_object()?.as_any()?.downcast_ref::<QueryResult>()?;
    Some(&q.0)
}

fn s<'v>(v: &'v Value<'_>) -> &'v str {
    v.as_str().unwrap_or("")
}

/// The path of a URL (`url.URL.Path`), without query or fragment.
fn url_path(u: &str) -> &str {
    let after_scheme = u.find("://").map_or(u, |i| &u[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// One render's data: the alert and the `query` callback.
struct RuleData<'a> {
    data: &'a TemplateData<'a>,
}

impl<'a> Data<'a> for RuleData<'a> {
    fn root(&self) -> Value<'a> {
        Value::object(Root {
            labels: self.data.labels,
            external_labels: self.data.external_labels,
            external_url: self.data.external_url,
            value: self.data.value,
        })
    }

    fn call(&self, id: u16, _name: &str, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        let Some(&f) = RuleFunc::ALL.get(usize::from(id)) else {
            return Err(format!("unknown function id {id}"));
        };
        let a = &args;
        Ok(match f {
            RuleFunc::Query => {
                let q = self
                    .data
                    .query
                    .ok_or("no query engine is available to this template")?;
                let v = q(s(&a[0]))?;
                Value::object(QueryResult(Rc::new(v.into_iter().map(Rc::new).collect())))
            }
            RuleFunc::First => match query_result(&a[0]) {
                Some(v) => match v.first() {
                    Some(smp) => Value::object(Sample(smp.clone())),
                    None => return Err("first() called on vector with no elements".into()),
                },
                None => Value::Nil,
            },
            RuleFunc::Label => {
                let smp = sample(&a[1]).ok_or("nil sample")?;
                Value::str(smp.labels.get(s(&a[0])).unwrap_or("").to_string())
            }
            RuleFunc::Value => Value::Float(sample(&a[0]).ok_or("nil sample")?.value),
            RuleFunc::Strvalue => {
                let smp = sample(&a[0]).ok_or("nil sample")?;
                Value::str(smp.labels.get("__value__").unwrap_or("").to_string())
            }
            RuleFunc::SortByLabel => {
                let Some(v) = query_result(&a[1]) else {
                    return Ok(Value::Nil);
                };
                let by = s(&a[0]);
                let mut sorted: Vec<Rc<QuerySample>> = v.as_ref().clone();
                sorted.sort_by(|x, y| {
                    x.labels
                        .get(by)
                        .unwrap_or("")
                        .cmp(y.labels.get(by).unwrap_or(""))
                });
                Value::object(QueryResult(Rc::new(sorted)))
            }
            RuleFunc::PathPrefix => Value::str(url_path(self.data.external_url).to_string()),
            RuleFunc::ExternalUrl => Value::Str(Cow::Borrowed(self.data.external_url)),
        })
    }
}

impl TemplateError {
    fn from_engine(name: &str, e: gotemplate::Error) -> TemplateError {
        match e {
            gotemplate::Error::Parse {
                name,
                line,
                column,
                message,
            } => TemplateError::Parse {
                name,
                line,
                column,
                message,
            },
            gotemplate::Error::Exec {
                template,
                line,
                column,
                context,
                message,
                ..
            } => TemplateError::Exec {
                name: name.to_string(),
                template,
                line,
                column,
                context,
                message,
            },
            other @ gotemplate::Error::NotDefined { .. } => TemplateError::Exec {
                name: name.to_string(),
                template: name.to_string(),
                line: 1,
                column: 0,
                context: String::new(),
                message: other.to_string(),
            },
        }
    }
}

impl Template {
    /// Parses `text`; `name` appears in errors (e.g. "__alert_HighErrorRate").
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Self::parse_with_prefix(name, text, PREFIX)
    }

    /// Parses `prefix` + `text`; Prometheus's own expander tests run without the prefix.
    fn parse_with_prefix(name: &str, text: &str, prefix: &str) -> Result<Template, TemplateError> {
        if !text.contains("{{") {
            return Ok(Template {
                name: name.to_string(),
                text: text.to_string(),
                body: Body::Plain(text.to_string()),
            });
        }
        let t = gotemplate::Template::parse_with_prefix(name, prefix, text, &FUNCS)
            .map_err(|e| TemplateError::from_engine(name, e))?;
        Ok(Template {
            name: name.to_string(),
            text: text.to_string(),
            body: Body::Parsed(t),
        })
    }

    /// A template that renders `text` as it is (a recording rule's label value).
    pub fn literal(text: &str) -> Template {
        Template {
            name: String::new(),
            text: text.to_string(),
            body: Body::Plain(text.to_string()),
        }
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.text
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders with Prometheus's `$labels`/`$externalLabels`/`$externalURL`/`$value` defined.
    pub fn render(&self, data: &TemplateData<'_>) -> Result<String, TemplateError> {
        self.render_dot(data, None)
    }

    /// Renders with dot (and `$`) set to `dot` instead of the alert data; tests use it to run
    /// Prometheus's golden cases, which range over plain lists.
    fn render_dot<'a>(
        &'a self,
        data: &'a TemplateData<'a>,
        dot: Option<Value<'a>>,
    ) -> Result<String, TemplateError> {
        let t = match &self.body {
            Body::Plain(s) => return Ok(s.clone()),
            Body::Parsed(t) => t,
        };
        let rd = RuleData { data };
        let dot = dot.unwrap_or_else(|| rd.root());
        t.execute(&self.name, &rd, dot)
            .map_err(|e| TemplateError::from_engine(&self.name, e))
    }
}
