//! Alert templates: the `labels` and `annotations` values of Prometheus alerting rules,
//! rendered exactly as Prometheus renders them. The rule engine parses each value once when a
//! rule file loads ([`Template::parse`]) and renders it for every alert at every evaluation
//! ([`Template::render`]).
//!
//! Prometheus (`rules/alerting.go`, `template/template.go`) prepends
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! to the text and runs it with Go's `text/template` under `missingkey=zero`, with
//! Prometheus's function map. This module does the same with its own interpreter:
//! `lex` → `parse` → `exec`, Go's `fmt` output in `gofmt` and `printf`, the function table
//! in `funcs`, values in `value`.
//!
//! # Why not a crate
//! `gtmpl` (last release 0.7.1, August 2021) is unmaintained and lacks `html`/`js` and a
//! faithful `printf`. `gotmpl` (0.6, active) is a good Go port, but its `missingkey=zero`
//! prints `<no value>` for an absent label where Prometheus prints nothing (its values are
//! untyped, so a `map[string]string`'s zero value cannot exist), its functions must be
//! `'static` closures registered before parsing (so `query` cannot reach a per-render engine),
//! and its execution errors carry no position. Byte-for-byte agreement with promtool's
//! expected annotations needs all three, so the interpreter is ours.
//!
//! # Deliberate limits (each is an explicit error, never silent output)
//! Complex and hexadecimal-float literals, `\x`/octal escapes of non-ASCII bytes, `call`,
//! `now` (it needs the evaluation time, which [`TemplateData`] does not carry), `tmpl` (HTML
//! mode only), methods on `*time.Time` other than `Format`, `String`, `Unix`, `UnixMilli`,
//! `UTC`, `Year`, and methods on `*time.Duration` other than `String`, `Hours`, `Minutes`,
//! `Seconds`, `Milliseconds`, `Microseconds`, `Nanoseconds` fail at parse or execution with a
//! message naming the construct. Control structures and parentheses nest at most 100 levels
//! in a template's text, and `{{template}}` calls and control bodies at most 300 levels while
//! rendering (Go's limits are higher; a render runs on a worker thread's fixed stack).
//!
//! # Known differences that are not errors
//! - Printing a `queryResult` (or a sample inside one) shows `&{labels value}` where Go prints
//!   pointer addresses, which no test can expect anyway.
//! - `match` / `reReplaceAll` use the `regex` crate: RE2 syntax as in Go, but `\d`, `\w`,
//!   `\s`, `\b` are Unicode-aware (Go: ASCII) and `\Q...\E` is a compile error.
//! - `toUpper` / `toLower` / `title` use Rust's case tables rune by rune; they agree with Go's
//!   except in rare Unicode corners.
//! - Parse errors give `line:column` (1-based, in the text as written), where Go gives only
//!   the line.
//!
//! `{{ $value }}` prints as Go's `%v` does, which is `strconv.FormatFloat(v, 'g', -1, 64)`:
//! shortest round-trip digits, in exponent form when the decimal exponent is below -4 or at
//! least 6 (`123456`, `1.234567e+06`, `1e+21`, `0.0001`, `1e-05`). The threshold of 21 belongs
//! to Go's JSON encoder, not to `fmt`.

#![forbid(unsafe_code)]

mod exec;
mod funcs;
pub(crate) mod gofmt;
mod lex;
mod parse;
mod printf;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;

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
    #[allow(clippy::type_complexity)]
    pub query: Option<&'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>>,
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
    /// No `{{` at all: rendering is a copy.
    Plain(String),
    Parsed {
        source: String,
        trees: parse::Trees,
    },
}

/// A parsed alert template.
pub struct Template {
    name: String,
    /// The text as written (without the prefix).
    text: String,
    body: Body,
    /// Compiled `match` / `reReplaceAll` patterns, shared across renders.
    regexes: Mutex<HashMap<String, Arc<Regex>>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// 1-based line and Go's 0-based byte column of `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

impl Template {
    /// Parses `text`; `name` appears in errors (e.g. "__alert_HighErrorRate").
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Self::parse_with_prefix(name, text, PREFIX)
    }

    /// Parses `prefix` + `text`; Prometheus's own expander tests run without the prefix.
    fn parse_with_prefix(name: &str, text: &str, prefix: &str) -> Result<Template, TemplateError> {
        let regexes = Mutex::new(HashMap::new());
        if !text.contains("{{") {
            return Ok(Template {
                name: name.to_string(),
                text: text.to_string(),
                body: Body::Plain(text.to_string()),
                regexes,
            });
        }
        let source = format!("{prefix}{text}");
        let parse_err = |pos: usize, message: String| {
            let (line, col) = line_col(&source, pos);
            let column = if line == 1 {
                col.saturating_sub(prefix.len())
            } else {
                col
            } + 1;
            TemplateError::Parse {
                name: name.to_string(),
                line,
                column,
                message,
            }
        };
        let toks = lex::lex(&source).map_err(|e| parse_err(e.pos, e.msg))?;
        let trees = parse::parse(name, toks).map_err(|e| parse_err(e.pos, e.msg))?;
        Ok(Template {
            name: name.to_string(),
            text: text.to_string(),
            body: Body::Parsed { source, trees },
            regexes,
        })
    }

    /// A template that renders `text` as it is (a recording rule's label value).
    pub fn literal(text: &str) -> Template {
        Template {
            name: String::new(),
            text: text.to_string(),
            body: Body::Plain(text.to_string()),
            regexes: Mutex::new(HashMap::new()),
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
    fn render_dot(
        &self,
        data: &TemplateData<'_>,
        dot: Option<value::Value<'_>>,
    ) -> Result<String, TemplateError> {
        let (source, trees) = match &self.body {
            Body::Plain(s) => return Ok(s.clone()),
            Body::Parsed { source, trees } => (source, trees),
        };
        let root = value::RootData {
            labels: data.labels,
            external_labels: data.external_labels,
            external_url: data.external_url,
            value: data.value,
        };
        let dot = dot.unwrap_or(value::Value::Root);
        exec::execute(
            trees,
            &self.name,
            root,
            data.query,
            &self.regexes,
            dot,
            source.len(),
        )
        .map_err(|e| {
            let (line, column) = line_col(source, e.pos);
            TemplateError::Exec {
                name: self.name.clone(),
                template: e.template,
                line,
                column,
                context: e.context,
                message: e.msg,
            }
        })
    }
}
