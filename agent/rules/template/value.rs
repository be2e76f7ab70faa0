//! Template values: what a pipeline evaluates to, and how Go's `fmt` prints each kind.
//!
//! The variants stand for the Go types Prometheus puts in front of a template: the alert data
//! struct, `map[string]string` label sets, `queryResult` / `*sample` from `query`, untyped
//! constants (`int`, `float64`, `string`, `bool`), `map[string]interface{}` from `args`, and
//! `*time.Time` from `toTime`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::rc::Rc;

use super::QuerySample;
use super::gofmt::{self, GoTime};
use crate::store::Labels;

#[derive(Clone, Debug)]
pub(crate) enum Value<'a> {
    /// A nil interface (missing value); printed by an action as `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// `map[string]string`: the alert's labels or external labels.
    Labels(&'a Labels),
    /// `map[string]string`: a query sample's labels.
    SampleLabels(Rc<QuerySample>),
    /// `map[string]interface{}` built by `args`, sorted by key.
    Map(Rc<Vec<(String, Value<'a>)>>),
    /// `queryResult`, the result of `query`.
    Vector(Rc<Vec<Rc<QuerySample>>>),
    /// `*sample`, one element of a `queryResult`.
    Sample(Rc<QuerySample>),
    /// `*time.Time` (UTC), from `toTime`.
    Time(GoTime),
    /// `*time.Duration` in nanoseconds, from `toDuration`.
    Duration(i64),
    /// A list of values (`[]interface{}`); only tests build one as dot.
    #[cfg_attr(not(test), allow(dead_code))]
    List(Rc<Vec<Value<'a>>>),
    /// The alert template data struct (`.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`).
    Root,
}

/// Everything [`Value::Root`] exposes, borrowed from the caller's template data.
pub(crate) struct RootData<'a> {
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub value: f64,
}

pub(crate) const ROOT_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }";

impl<'a> Value<'a> {
    pub fn str(s: impl Into<Cow<'a, str>>) -> Self {
        Value::Str(s.into())
    }

    /// Go's `%T` of the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Labels(_) | Value::SampleLabels(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::Vector(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "*time.Duration",
            Value::List(_) => "[]interface {}",
            Value::Root => ROOT_TYPE,
        }
    }

    /// The label set behind a `map[string]string` value.
    pub fn label_map(&self) -> Option<&Labels> {
        match self {
            Value::Labels(l) => Some(l),
            Value::SampleLabels(s) => Some(&s.labels),
            _ => None,
        }
    }

    /// Go's truth: false for false, zero numbers, nil, and empty strings, maps and slices.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Labels(l) => !l.is_empty(),
            Value::SampleLabels(s) => !s.labels.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Vector(v) => !v.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample(_) | Value::Time(_) | Value::Duration(_) | Value::Root => true,
        }
    }

    /// What an action `{{ x }}` prints: `fmt.Fprint` after text/template's `printableValue`
    /// (a nil interface prints `<no value>`, a pointer is printed as what it points to).
    pub fn write_action(&self, out: &mut String, root: &RootData<'_>) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Sample(s) => write_sample(out, s, false),
            other => other.write_v(out, root),
        }
    }

    /// `fmt`'s `%v` of the value.
    pub fn write_v(&self, out: &mut String, root: &RootData<'_>) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&gofmt::format_g(*f, None, false)),
            Value::Str(s) => out.push_str(s),
            Value::Labels(l) => write_labels(out, l),
            Value::SampleLabels(s) => write_labels(out, &s.labels),
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_v(out, root);
                }
                out.push(']');
            }
            Value::Vector(v) => {
                out.push('[');
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    write_sample(out, s, true);
                }
                out.push(']');
            }
            Value::Sample(s) => write_sample(out, s, true),
            Value::Time(t) => out.push_str(&t.go_string()),
            Value::Duration(d) => out.push_str(&gofmt::duration_string(*d)),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out, root);
                }
                out.push(']');
            }
            Value::Root => {
                out.push('{');
                write_labels(out, root.labels);
                out.push(' ');
                write_labels(out, root.external_labels);
                out.push(' ');
                out.push_str(root.external_url);
                out.push(' ');
                out.push_str(&gofmt::format_g(root.value, None, false));
                out.push('}');
            }
        }
    }

    pub fn to_v_string(&self, root: &RootData<'_>) -> String {
        let mut s = String::new();
        self.write_v(&mut s, root);
        s
    }
}

fn write_labels(out: &mut String, l: &Labels) {
    out.push_str("map[");
    for (i, label) in l.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&label.name);
        out.push(':');
        out.push_str(&label.value);
    }
    out.push(']');
}

fn write_sample(out: &mut String, s: &QuerySample, pointer: bool) {
    if pointer {
        out.push('&');
    }
    out.push('{');
    write_labels(out, &s.labels);
    out.push(' ');
    out.push_str(&gofmt::format_g(s.value, None, false));
    out.push('}');
}
