//! Label sets: the identity of a series.
//!
//! A [`Labels`] value is sorted by label name, has unique names, and never holds an empty
//! value (Prometheus treats an empty label as an absent one). The metric name is the
//! `__name__` label.

use std::fmt;
use std::sync::Arc;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name, e.g. `instance`.
    pub name: Arc<str>,
    /// Label value; never empty inside a [`Labels`].
    pub value: Arc<str>,
}

/// A sorted, de-duplicated label set, `__name__` included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from pairs in any order. A later duplicate name replaces an
    /// earlier one; pairs with an empty value are dropped.
    pub fn new<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<Arc<str>>,
        V: Into<Arc<str>>,
    {
        // Sized from the iterator up front: label sets live as long as their series (the OTLP
        // cache keeps one per series), so growth slack would be paid for per series.
        let pairs = pairs.into_iter();
        let mut labels: Vec<Label> = Vec::with_capacity(pairs.size_hint().0);
        for (name, value) in pairs {
            let label = Label {
                name: name.into(),
                value: value.into(),
            };
            match labels.iter_mut().find(|l| l.name == label.name) {
                Some(existing) => *existing = label,
                None => labels.push(label),
            }
        }
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(labels)
    }

    /// Wraps labels that are already sorted by name, unique and non-empty (as the store keeps
    /// them), skipping the sort and de-duplication of [`Labels::new`].
    pub(crate) fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        debug_assert!(labels.iter().all(|l| !l.value.is_empty()));
        Labels(labels)
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.0[i].value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Label> {
        self.0.iter()
    }

    /// Number of labels, `__name__` included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice, in name order.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| &*l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, &*l.value)?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_without_empty_values() {
        let l = Labels::new([
            ("b", "2"),
            ("__name__", "up"),
            ("a", "1"),
            ("b", "3"),
            ("c", ""),
        ]);
        let names: Vec<&str> = l.iter().map(|l| &*l.name).collect();
        assert_eq!(names, ["__name__", "a", "b"]);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
        assert_eq!(l.metric_name(), Some("up"));
        assert_eq!(l.to_string(), r#"up{a="1", b="3"}"#);
    }
}
