//! [`LabelSet`]: a label set (names to values, sorted by name) stored as one sorted vector.
//! Alerts hold two of them (labels and annotations) and vitals may hold tens of thousands of
//! alerts: a `BTreeMap` spends a 544-byte node on a set of four labels, this a 4 × 48-byte
//! vector. Its methods are the `BTreeMap` ones alerting uses, with the same meaning.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Label names to values, sorted by name, each name once.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSet(Vec<(String, String)>);

impl LabelSet {
    /// An empty set.
    pub fn new() -> Self {
        LabelSet(Vec::new())
    }

    fn find<Q: Ord + ?Sized>(&self, name: &Q) -> Result<usize, usize>
    where
        String: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(name))
    }

    /// The value of `name`.
    pub fn get<Q: Ord + ?Sized>(&self, name: &Q) -> Option<&String>
    where
        String: Borrow<Q>,
    {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Whether `name` is set.
    pub fn contains_key<Q: Ord + ?Sized>(&self, name: &Q) -> bool
    where
        String: Borrow<Q>,
    {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`, returning the value it replaced.
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        match self.find(name.as_str()) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, name: &Q) -> Option<String>
    where
        String: Borrow<Q>,
    {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    /// The pairs, by name.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &String)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values, by name.
    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The set as a `BTreeMap` (for template data and JSON).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, String)> for LabelSet {
    /// Later pairs win over earlier ones with the same name, as in a `BTreeMap`.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut v: Vec<(String, String)> = iter.into_iter().collect();
        // Stable: of equal names, the last one is kept.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(v.len());
        for (k, val) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = val,
                _ => out.push((k, val)),
            }
        }
        out.shrink_to_fit();
        LabelSet(out)
    }
}

impl From<BTreeMap<String, String>> for LabelSet {
    fn from(m: BTreeMap<String, String>) -> Self {
        LabelSet(m.into_iter().collect())
    }
}

impl From<&LabelSet> for BTreeMap<String, String> {
    fn from(l: &LabelSet) -> Self {
        l.to_map()
    }
}

impl<'a> IntoIterator for &'a LabelSet {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl IntoIterator for LabelSet {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<(String, String)> for LabelSet {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl std::ops::Index<&str> for LabelSet {
    type Output = String;
    /// The value of a name that is set; panics otherwise (as `BTreeMap`'s index).
    fn index(&self, name: &str) -> &String {
        match self.get(name) {
            Some(v) => v,
            None => panic!("label {name:?} is not set"),
        }
    }
}

impl Serialize for LabelSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for LabelSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(LabelSet::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Behaves as a `BTreeMap` under inserts, removes and collects.
        #[test]
        fn same_as_a_btreemap(ops in proptest::collection::vec((0u8..3, "[a-c]{1,2}", "[x-z]{0,2}"), 0..40)) {
            let mut m = BTreeMap::new();
            let mut l = LabelSet::new();
            for (op, k, v) in &ops {
                match op {
                    0 | 1 => prop_assert_eq!(m.insert(k.clone(), v.clone()), l.insert(k.clone(), v.clone())),
                    _ => prop_assert_eq!(m.remove(k.as_str()), l.remove(k.as_str())),
                }
            }
            prop_assert_eq!(l.to_map(), m.clone());
            let collected: LabelSet = ops.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect();
            let expected: BTreeMap<String, String> = ops.iter().map(|(_, k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(collected.to_map(), expected);
            prop_assert_eq!(serde_json::to_string(&l).unwrap(), serde_json::to_string(&m).unwrap());
        }
    }
}
