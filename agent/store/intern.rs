//! The label-pair interner: every distinct `name="value"` pair held by a live series gets a
//! `u32` id, so a series stores its label set as a few ids instead of string pairs, and the
//! postings lists are keyed by pair id. Pairs are reference-counted by the series using them
//! and freed (id recycled) when the last such series is dropped.

use std::collections::HashMap;
use std::sync::Arc;

/// A label pair and how many series hold it.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) name: Arc<str>,
    pub(crate) value: Arc<str>,
    refs: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Interner {
    /// name → value → pair id.
    names: HashMap<Arc<str>, HashMap<Arc<str>, u32>>,
    pairs: Vec<Option<Pair>>,
    free: Vec<u32>,
    /// Bumped whenever an id is freed (and may be reused): readers that resolved ids earlier
    /// must resolve again.
    generation: u64,
}

impl Interner {
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// One past the largest pair id in use (ids are dense from 0).
    pub(crate) fn id_bound(&self) -> usize {
        self.pairs.len()
    }

    pub(crate) fn pair(&self, id: u32) -> Option<&Pair> {
        self.pairs.get(id as usize).and_then(Option::as_ref)
    }

    /// True when pair `id` is exactly `name="value"`.
    pub(crate) fn is(&self, id: u32, name: &str, value: &str) -> bool {
        self.pair(id)
            .is_some_and(|p| &*p.name == name && &*p.value == value)
    }

    pub(crate) fn lookup(&self, name: &str, value: &str) -> Option<u32> {
        self.names.get(name)?.get(value).copied()
    }

    /// All pairs with label `name`, as (value, id).
    pub(crate) fn values_of(&self, name: &str) -> impl Iterator<Item = (&str, u32)> {
        self.names
            .get(name)
            .into_iter()
            .flat_map(|m| m.iter().map(|(v, &id)| (&**v, id)))
    }

    /// Takes a reference on the pair, creating it if needed. `None` only when the id space
    /// (2^32 pairs) is exhausted.
    pub(crate) fn intern(&mut self, name: &Arc<str>, value: &Arc<str>) -> Option<u32> {
        let entry = self.names.entry(Arc::clone(name));
        let name_key = Arc::clone(entry.key());
        let values = entry.or_default();
        if let Some(&id) = values.get(&**value) {
            if let Some(Some(p)) = self.pairs.get_mut(id as usize) {
                p.refs = p.refs.saturating_add(1);
            }
            return Some(id);
        }
        let pair = Pair {
            name: name_key,
            value: Arc::clone(value),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.pairs.get_mut(id as usize) {
                    *slot = Some(pair);
                }
                id
            }
            None => {
                let id = u32::try_from(self.pairs.len()).ok()?;
                self.pairs.push(Some(pair));
                id
            }
        };
        values.insert(Arc::clone(value), id);
        Some(id)
    }

    /// Drops one reference; frees the pair when none are left.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(slot) = self.pairs.get_mut(id as usize) else {
            return;
        };
        let Some(p) = slot else { return };
        p.refs = p.refs.saturating_sub(1);
        if p.refs > 0 {
            return;
        }
        if let Some(p) = slot.take() {
            if let Some(values) = self.names.get_mut(&*p.name) {
                values.remove(&*p.value);
                if values.is_empty() {
                    self.names.remove(&*p.name);
                }
            }
            self.free.push(id);
            self.generation += 1;
        }
    }

    /// Names of all live labels, sorted.
    pub(crate) fn label_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.names.keys().map(|n| n.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// Values of label `name` held by live series, sorted.
    pub(crate) fn label_values(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self.values_of(name).map(|(v, _)| v.to_owned()).collect();
        v.sort_unstable();
        v
    }

    /// Number of live pairs (for tests).
    #[cfg(test)]
    pub(crate) fn live_pairs(&self) -> usize {
        self.pairs.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcounts_and_reuse() {
        let mut i = Interner::default();
        let (job, a, b) = (Arc::from("job"), Arc::from("a"), Arc::from("b"));
        let ja = i.intern(&job, &a).unwrap();
        assert_eq!(i.intern(&job, &a), Some(ja));
        let jb = i.intern(&job, &b).unwrap();
        assert_ne!(ja, jb);
        assert_eq!(i.label_values("job"), ["a", "b"]);
        i.release(ja);
        assert_eq!(i.lookup("job", "a"), Some(ja));
        let g = i.generation();
        i.release(ja);
        assert_eq!(i.lookup("job", "a"), None);
        assert!(i.generation() > g);
        assert_eq!(i.label_names(), ["job"]);
        i.release(jb);
        assert!(i.label_names().is_empty());
        assert_eq!(i.live_pairs(), 0);
        let again = i.intern(&job, &b).unwrap();
        assert!(again == ja || again == jb);
        assert!(i.is(again, "job", "b"));
    }
}
