//! Alerting: the decision core between `rules` (which fires alerts) and `notify` (which
//! sends them), on Alertmanager's model. It decides *what* is sent *to whom* and *when*:
//! routing (`route`), grouping and group timing (`dispatch`), inhibition (`inhibit`),
//! silences (`silence`) and time intervals (`time_interval`), configured by the `alerting:`
//! section (`config`), which takes an `alertmanager.yml`'s content unchanged.
//!
//! Everything here is pure logic: no I/O, no clock (every function that needs the time takes
//! it; only `Silence`'s serde `Serialize` states its status at the wall-clock time), no tasks. The stage that feeds it alerts, persists its state and calls `notify` is
//! built on top of it.

pub mod config;
pub mod dispatch;
pub mod forward;
pub mod inhibit;
mod internal_events;
pub mod labelset;
pub mod load;
pub mod matchers;
pub mod outbox;
pub mod route;
pub mod silence;
pub mod stage;
pub mod time_interval;

pub use load::load;
pub use stage::{AlertingHandle, AlertingStage, AlertingStageSpec};

/// A label set: names to values, sorted by name (compact: see [`labelset`]).
pub type Labels = labelset::LabelSet;

/// Alertmanager's `model.Fingerprint` of a label set: FNV-1a 64 over the label names and
/// values in name order, each followed by the separator byte `0xff`.
pub type Fingerprint = u64;

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

/// The fingerprint of `labels`, equal to Alertmanager's `LabelSet.Fingerprint()` (shown by it
/// as 16 hex digits, see [`fingerprint_hex`]).
pub fn fingerprint(labels: &Labels) -> Fingerprint {
    let mut h = FNV_OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    h
}

/// A fingerprint as Alertmanager prints it (`%016x`).
pub fn fingerprint_hex(fp: Fingerprint) -> String {
    format!("{fp:016x}")
}

/// A label set as Go's `model.LabelSet.String()` prints it: `{a="1", b="2"}`, values quoted
/// as Go's `%q` does.
pub fn labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&crate::gotemplate::gofmt::quote(value));
    }
    out.push('}');
    out
}

/// One alert as alerting sees it (Alertmanager's `types.Alert`, less what the API adds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alert {
    /// The identifying labels.
    pub labels: Labels,
    /// Non-identifying information (summary, description, runbook_url, ...).
    pub annotations: Labels,
    /// When the alert started firing, in Unix milliseconds.
    pub starts_at_ms: i64,
    /// When the alert ends or ended, in Unix milliseconds; 0 when unknown (still firing).
    pub ends_at_ms: i64,
    /// Link to the alert's source (the rule's expression in the UI).
    pub generator_url: String,
    /// The end was not sent but set to `resolve_timeout` after the last update
    /// (Alertmanager's `Timeout`): an explicit end from another update wins over it.
    pub timeout: bool,
}

impl Alert {
    /// The fingerprint of the alert's labels.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.labels)
    }

    /// Alertmanager's `Alert.Merge`: this alert (the one held) updated by `newer`, an
    /// update of the same labels: the earliest start is kept; of two ends, a later explicit
    /// one wins over a timeout, and of two resolutions the later one.
    pub fn merged(&self, newer: &Alert, now_ms: i64) -> Alert {
        let mut res = newer.clone();
        if self.starts_at_ms < newer.starts_at_ms {
            res.starts_at_ms = self.starts_at_ms;
        }
        if newer.resolved(now_ms) {
            if self.resolved(now_ms) && self.ends_at_ms > newer.ends_at_ms {
                res.ends_at_ms = self.ends_at_ms;
            }
        } else if self.ends_at_ms > newer.ends_at_ms && !self.timeout {
            res.ends_at_ms = self.ends_at_ms;
            res.timeout = false;
        }
        res
    }

    /// Whether two versions of an alert describe one firing period (Alertmanager's memory
    /// provider merges only those; otherwise the newer replaces the older).
    pub fn overlaps(&self, newer: &Alert) -> bool {
        let (old_end, new_end) = (
            if self.ends_at_ms == 0 {
                i64::MAX
            } else {
                self.ends_at_ms
            },
            if newer.ends_at_ms == 0 {
                i64::MAX
            } else {
                newer.ends_at_ms
            },
        );
        (new_end > self.starts_at_ms && new_end <= old_end)
            || (newer.starts_at_ms >= self.starts_at_ms && newer.starts_at_ms < old_end)
    }

    /// Whether the alert is resolved at `now_ms`: it has an end and that end is not after
    /// `now_ms` (Alertmanager's `ResolvedAt`).
    pub fn resolved(&self, now_ms: i64) -> bool {
        self.ends_at_ms != 0 && self.ends_at_ms <= now_ms
    }
}

#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prometheus_common() {
        // Values from prometheus/common model/signature_test.go (TestLabelsToSignature /
        // fingerprint tests): the empty set hashes to the FNV offset basis.
        assert_eq!(fingerprint(&Labels::new()), 14_695_981_039_346_656_037);
        // model.LabelSet{"name":"garland, briggs","fear":"love is not enough"}.Fingerprint()
        let l = labels(&[("name", "garland, briggs"), ("fear", "love is not enough")]);
        assert_eq!(fingerprint(&l), 5_799_056_148_416_392_346);
    }

    #[test]
    fn resolved_by_end_time() {
        let mut a = Alert {
            starts_at_ms: 10,
            ..Alert::default()
        };
        assert!(!a.resolved(100));
        a.ends_at_ms = 50;
        assert!(a.resolved(50));
        assert!(!a.resolved(49));
    }

    #[test]
    fn merge_keeps_the_first_start_and_an_explicit_end_over_a_timeout() {
        let at = |s, e, timeout| Alert {
            starts_at_ms: s,
            ends_at_ms: e,
            timeout,
            ..Alert::default()
        };
        // Re-posted without an end (a timeout) after one with a later explicit end.
        let old = at(100, 10_000, false);
        let new = at(200, 5_000, true);
        assert!(old.overlaps(&new));
        let m = old.merged(&new, 300);
        assert_eq!(
            (m.starts_at_ms, m.ends_at_ms, m.timeout),
            (100, 10_000, false)
        );
        // A later timeout does not beat nothing: the newer end stands when later.
        let m = at(100, 1_000, true).merged(&at(150, 2_000, true), 300);
        assert_eq!((m.starts_at_ms, m.ends_at_ms), (100, 2_000));
        // An explicit resolution wins.
        let m = at(100, 10_000, false).merged(&at(100, 250, false), 300);
        assert_eq!(m.ends_at_ms, 250);
        // A new firing period after the old one ended is not merged.
        assert!(!at(100, 200, false).overlaps(&at(500, 900, false)));
    }

    #[test]
    fn labels_print_like_go() {
        let l = labels(&[("b", "x\"y"), ("a", "1")]);
        assert_eq!(labels_string(&l), r#"{a="1", b="x\"y"}"#);
        assert_eq!(fingerprint_hex(1), "0000000000000001");
    }
}
