//! Label-set helpers for evaluation: dropping the metric name, grouping keys, setting labels.

use foldhash::{HashSet, HashSetExt};
use std::sync::Arc;

use promql_parser::parser::Expr;

use super::PromqlError;
use super::eval::Elem;
use crate::store::{Label, Labels, METRIC_NAME};

/// The labels of `l` that `keep` accepts; filtering keeps the store's sorted order, so no
/// re-sort is needed.
fn filtered(l: &Labels, keep: impl Fn(&str) -> bool) -> Labels {
    Labels::from_sorted(
        l.as_slice()
            .iter()
            .filter(|x| keep(&x.name))
            .cloned()
            .collect(),
    )
}

/// `l` without `__name__`.
pub(crate) fn drop_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_none() {
        return l.clone();
    }
    filtered(l, |n| n != METRIC_NAME)
}

/// Only the labels named in `names`.
pub(crate) fn keep_only(l: &Labels, names: &[String]) -> Labels {
    filtered(l, |n| names.iter().any(|k| k == n))
}

/// All labels except those in `names` and `__name__`.
pub(crate) fn without(l: &Labels, names: &[String]) -> Labels {
    filtered(l, |n| n != METRIC_NAME && !names.iter().any(|k| k == n))
}

/// `l` with `name` set to `value`; an empty value removes the label.
pub(crate) fn set(l: &Labels, name: &str, value: &str) -> Labels {
    let slice = l.as_slice();
    let at = slice.partition_point(|x| &*x.name < name);
    let present = slice.get(at).is_some_and(|x| &*x.name == name);
    let mut out = Vec::with_capacity(slice.len() + 1);
    out.extend_from_slice(&slice[..at]);
    if !value.is_empty() {
        out.push(Label {
            name: Arc::from(name),
            value: Arc::from(value),
        });
    }
    out.extend_from_slice(&slice[if present { at + 1 } else { at }..]);
    Labels::from_sorted(out)
}

/// `l` as Go's `labels.Labels.String()` writes it: `{__name__="x", job="a"}`.
pub(crate) fn go_string(l: &Labels) -> String {
    let mut out = String::from("{");
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&x.name);
        out.push('=');
        out.push_str(&go_quote(&x.value));
    }
    out.push('}');
    out
}

/// A string as Go's `strconv.Quote` writes it: quoted, with backslash escapes for quotes,
/// backslashes and control characters.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Errors when two elements of `v` have the same labels (Prometheus checks this after every
/// function, operator and aggregation).
pub(crate) fn check_unique(v: &[Elem], expr: &Expr) -> Result<(), PromqlError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(v.len());
    for e in v {
        if !seen.insert(&e.labels) {
            return Err(PromqlError::DuplicateLabelset {
                expr: expr.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let l = Labels::new([("__name__", "up"), ("job", "a"), ("instance", "x")]);
        assert_eq!(
            drop_name(&l),
            Labels::new([("job", "a"), ("instance", "x")])
        );
        assert_eq!(
            keep_only(&l, &["job".to_owned(), "__name__".to_owned()]),
            Labels::new([("__name__", "up"), ("job", "a")])
        );
        assert_eq!(
            without(&l, &["job".to_owned()]),
            Labels::new([("instance", "x")])
        );
        assert_eq!(set(&l, "job", "b").get("job"), Some("b"));
        assert_eq!(set(&l, "job", "").get("job"), None);
        assert_eq!(
            set(&l, "job", ""),
            Labels::new([("__name__", "up"), ("instance", "x")])
        );
        assert_eq!(
            set(&l, "a", "1"),
            Labels::new([
                ("a", "1"),
                ("__name__", "up"),
                ("job", "a"),
                ("instance", "x")
            ])
        );
        assert_eq!(
            set(&l, "z", "1"),
            Labels::new([
                ("z", "1"),
                ("__name__", "up"),
                ("job", "a"),
                ("instance", "x")
            ])
        );
        assert_eq!(
            set(&Labels::default(), "q", "0.5"),
            Labels::new([("q", "0.5")])
        );
    }
}
