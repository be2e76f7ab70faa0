//! Store-level tests: unit tests for the append rules (series cap, out-of-order), matchers,
//! `latest`, gc and label queries, and property tests comparing the store with a naive model.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn store(max_series: usize) -> Store {
    Store::new(
        StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(600),
            max_series,
        },
        &prometheus::Registry::new(),
    )
    .unwrap()
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

fn m(name: &str, op: MatchOp, v: &str) -> LabelMatcher {
    LabelMatcher::new(name, op, v).unwrap()
}

#[test]
fn registers_metrics_and_refuses_double_registration() {
    let reg = prometheus::Registry::new();
    let s = Store::new(
        StoreConfig {
            retention: Duration::from_secs(60),
            stale_after: Duration::from_secs(60),
            max_series: 1,
        },
        &reg,
    )
    .unwrap();
    s.append(&l(&[("__name__", "up")]), 1, 1.0).unwrap();
    assert_eq!(
        s.append(&l(&[("__name__", "down")]), 1, 1.0),
        Err(AppendError::SeriesLimit)
    );
    let names: Vec<String> = reg.gather().iter().map(|f| f.name().to_owned()).collect();
    for want in [
        "vitals_store_series",
        "vitals_store_series_dropped_total",
        "vitals_store_samples_appended_total",
        "vitals_store_out_of_order_samples_total",
        "vitals_store_chunk_bytes",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let dropped = reg
        .gather()
        .into_iter()
        .find(|f| f.name() == "vitals_store_series_dropped_total")
        .unwrap();
    assert_eq!(dropped.get_metric()[0].get_counter().get_value(), 1.0);
    let again = Store::new(s.config().clone(), &reg);
    assert!(matches!(again, Err(StoreError::Metrics(_))));
}

#[test]
fn series_cap() {
    let s = store(2);
    s.append(&l(&[("__name__", "a")]), 1, 1.0).unwrap();
    s.append(&l(&[("__name__", "b")]), 1, 1.0).unwrap();
    assert_eq!(
        s.append(&l(&[("__name__", "c")]), 1, 1.0),
        Err(AppendError::SeriesLimit)
    );
    // Existing series still take samples.
    s.append(&l(&[("__name__", "a")]), 2, 1.0).unwrap();
    assert_eq!(s.stats().series, 2);
    // After gc drops one, a new series fits again.
    s.gc(2 + 600_000 + 1);
    s.append(&l(&[("__name__", "c")]), 700_000, 1.0).unwrap();
}

#[test]
fn out_of_order() {
    let s = store(10);
    let up = l(&[("__name__", "up")]);
    s.append(&up, 100, 1.0).unwrap();
    assert_eq!(s.append(&up, 99, 1.0), Err(AppendError::OutOfOrder));
    assert_eq!(s.append(&up, 100, 2.0), Err(AppendError::OutOfOrder));
    // Exact duplicate: accepted, ignored.
    s.append(&up, 100, 1.0).unwrap();
    s.append(&up, 101, 2.0).unwrap();
    let got = s.select(&[m("__name__", MatchOp::Equal, "up")], 0, 1000);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].samples,
        [Sample { t: 100, v: 1.0 }, Sample { t: 101, v: 2.0 }]
    );
    let st = s.stats();
    assert_eq!((st.series, st.samples), (1, 2));
}

#[test]
fn stale_marker_for_unknown_series_is_ignored() {
    let s = store(10);
    s.append(&l(&[("__name__", "x")]), 1, stale_marker())
        .unwrap();
    assert_eq!(s.stats().series, 0);
}

#[test]
fn latest_skips_stale_and_old_series() {
    let s = store(100);
    let now = 10_000_000;
    s.append(&l(&[("__name__", "b"), ("job", "1")]), now - 1000, 2.0)
        .unwrap();
    s.append(&l(&[("__name__", "a")]), now - 1000, 1.0).unwrap();
    let ended = l(&[("__name__", "c")]);
    s.append(&ended, now - 2000, 1.0).unwrap();
    s.append(&ended, now - 1000, stale_marker()).unwrap();
    s.append(&l(&[("__name__", "old")]), now - 5 * 60_000, 1.0)
        .unwrap();
    s.append(
        &l(&[("__name__", "b"), ("job", "0")]),
        now - 5 * 60_000 + 1,
        3.0,
    )
    .unwrap();
    let got: Vec<(String, Sample)> = s
        .latest(now)
        .into_iter()
        .map(|(l, s)| (l.to_string(), s))
        .collect();
    assert_eq!(
        got,
        [
            (
                "a{}".to_owned(),
                Sample {
                    t: now - 1000,
                    v: 1.0
                }
            ),
            (
                r#"b{job="0"}"#.to_owned(),
                Sample {
                    t: now - 5 * 60_000 + 1,
                    v: 3.0
                }
            ),
            (
                r#"b{job="1"}"#.to_owned(),
                Sample {
                    t: now - 1000,
                    v: 2.0
                }
            ),
        ]
    );
}

#[test]
fn select_matchers() {
    let s = store(100);
    for (i, le) in ["0.1", "1", "+Inf"].iter().enumerate() {
        s.append(
            &l(&[("__name__", "h_bucket"), ("job", "api"), ("le", le)]),
            10,
            i as f64,
        )
        .unwrap();
    }
    s.append(
        &l(&[("__name__", "h_bucket"), ("job", "web"), ("le", "1")]),
        10,
        9.0,
    )
    .unwrap();
    s.append(&l(&[("__name__", "up"), ("job", "api")]), 10, 1.0)
        .unwrap();
    s.append(&l(&[("__name__", "up")]), 10, 1.0).unwrap();
    let names = |ms: &[LabelMatcher]| -> Vec<String> {
        s.select(ms, 0, 100)
            .into_iter()
            .map(|x| x.labels.to_string())
            .collect()
    };
    assert_eq!(
        names(&[
            m("__name__", MatchOp::Equal, "h_bucket"),
            m("job", MatchOp::Equal, "api")
        ]),
        [
            r#"h_bucket{job="api", le="+Inf"}"#,
            r#"h_bucket{job="api", le="0.1"}"#,
            r#"h_bucket{job="api", le="1"}"#
        ]
    );
    assert_eq!(
        names(&[
            m("le", MatchOp::Regex, "1|0\\.1"),
            m("job", MatchOp::NotEqual, "api")
        ]),
        [r#"h_bucket{job="web", le="1"}"#]
    );
    // A missing label matches as "".
    assert_eq!(names(&[m("job", MatchOp::Equal, "")]), ["up{}"]);
    assert_eq!(
        names(&[
            m("__name__", MatchOp::Equal, "up"),
            m("job", MatchOp::Regex, "")
        ]),
        ["up{}"]
    );
    assert_eq!(
        names(&[
            m("__name__", MatchOp::Equal, "up"),
            m("job", MatchOp::NotRegex, "")
        ]),
        [r#"up{job="api"}"#]
    );
    assert_eq!(names(&[m("job", MatchOp::NotRegex, ".*")]).len(), 0);
    assert_eq!(names(&[m("job", MatchOp::Regex, ".*")]).len(), 6);
    assert_eq!(names(&[m("__name__", MatchOp::Equal, "nope")]).len(), 0);
    assert_eq!(names(&[]).len(), 6);
    // Range is inclusive; series with nothing in range are omitted.
    assert_eq!(s.select(&[], 10, 10).len(), 6);
    assert_eq!(s.select(&[], 11, 100).len(), 0);
    assert_eq!(s.label_names(), ["__name__", "job", "le"]);
    assert_eq!(s.label_values("le"), ["+Inf", "0.1", "1"]);
    assert_eq!(s.label_values("job"), ["api", "web"]);
    assert!(s.label_values("nope").is_empty());
}

#[test]
fn gc_drops_old_chunks_and_stale_series() {
    let cfg = StoreConfig {
        retention: Duration::from_secs(3600),
        stale_after: Duration::from_secs(7200),
        max_series: 100,
    };
    let s = Store::new(cfg, &prometheus::Registry::new()).unwrap();
    let a = l(&[("__name__", "a"), ("x", "1")]);
    let b = l(&[("__name__", "b"), ("x", "2")]);
    // 300 samples at 15 s in chunks of `c` (the last one possibly the head).
    let c = i64::from(chunk::CHUNK_SAMPLES);
    let chunks = 300_usize.div_ceil(c as usize);
    for i in 0..300 {
        s.append(&a, i * 15_000, i as f64).unwrap();
    }
    s.append(&b, 0, 1.0).unwrap();
    let last = 299 * 15_000;
    // Retention 1h: the first chunk ends at (c-1)*15s; it goes once that is < now - 1h.
    // b's only sample (t=0) is older than that already: its head chunk goes, b stays
    // (now - 2h < 0).
    assert_eq!(
        s.gc((c - 1) * 15_000 + 3_600_000),
        GcStats {
            series_dropped: 0,
            chunks_dropped: 1
        }
    );
    let now = (c - 1) * 15_000 + 3_600_000 + 1;
    assert_eq!(
        s.gc(now),
        GcStats {
            series_dropped: 0,
            chunks_dropped: 1
        }
    );
    let got = s.select(&[], 0, i64::MAX);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples.len(), 300 - c as usize);
    assert_eq!(
        got[0].samples[0],
        Sample {
            t: c * 15_000,
            v: c as f64
        }
    );
    // b has no samples but is not stale yet: it keeps its newest timestamp for ordering.
    assert_eq!(s.stats().series, 2);
    assert_eq!(s.append(&b, 0, 2.0), Err(AppendError::OutOfOrder));
    assert!(s.latest(1000).is_empty() || s.latest(1000).iter().all(|(l, _)| l != &b));
    // All of a's chunks are now older than retention; b is stale.
    assert_eq!(
        s.gc(last + 3_600_001),
        GcStats {
            series_dropped: 1,
            chunks_dropped: chunks - 1
        }
    );
    assert_eq!(s.label_values("x"), ["1"]);
    assert_eq!(
        s.stats(),
        StoreStats {
            series: 1,
            samples: 0,
            chunk_bytes: 0
        }
    );
    assert_eq!(
        s.gc(last + 7_200_001),
        GcStats {
            series_dropped: 1,
            chunks_dropped: 0
        }
    );
    assert_eq!(s.stats(), StoreStats::default());
    assert!(s.label_names().is_empty());
}

#[test]
fn metadata() {
    let s = store(1);
    let meta = MetricMeta {
        kind: MetricType::Counter,
        help: "h".into(),
        unit: String::new(),
    };
    s.set_metadata("b_total", meta.clone());
    s.set_metadata("a", MetricMeta::default());
    assert_eq!(s.metadata("b_total"), Some(meta));
    assert_eq!(s.metadata("c"), None);
    let names: Vec<String> = s.all_metadata().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "b_total"]);
}

#[test]
fn concurrent_appends_and_selects() {
    let s = std::sync::Arc::new(store(100_000));
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..2000i64 {
                    let labels = l(&[
                        ("__name__", "c"),
                        ("w", &w.to_string()),
                        ("i", &(i % 100).to_string()),
                    ]);
                    s.append(&labels, i, i as f64).unwrap();
                    if i % 100 == 0 {
                        s.select(&[m("w", MatchOp::Equal, &w.to_string())], 0, i);
                        s.gc(i);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.stats().series, 400);
    assert_eq!(
        s.select(&[m("w", MatchOp::Equal, "3")], 0, 10_000).len(),
        100
    );
}

// ---- model-based property tests ----

/// The naive model: every series with all its samples.
#[derive(Default)]
struct Model {
    series: BTreeMap<Labels, Vec<Sample>>,
    max_series: usize,
}

impl Model {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let full = self.series.len() >= self.max_series;
        match self.series.get_mut(labels) {
            Some(samples) => {
                let last = samples.last().copied();
                match last {
                    Some(last)
                        if t < last.t || (t == last.t && v.to_bits() != last.v.to_bits()) =>
                    {
                        Err(AppendError::OutOfOrder)
                    }
                    Some(last) if t == last.t => Ok(()),
                    _ => {
                        samples.push(Sample { t, v });
                        Ok(())
                    }
                }
            }
            None if is_stale_marker(v) => Ok(()),
            None if full => Err(AppendError::SeriesLimit),
            None => {
                self.series.insert(labels.clone(), vec![Sample { t, v }]);
                Ok(())
            }
        }
    }

    fn select(&self, ms: &[LabelMatcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        self.series
            .iter()
            .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(m.name()).unwrap_or(""))))
            .map(|(l, s)| SeriesSamples {
                labels: l.clone(),
                samples: s
                    .iter()
                    .copied()
                    .filter(|s| s.t >= mint && s.t <= maxt)
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    }
}

fn labels_strategy() -> impl Strategy<Value = Labels> {
    (0..3usize, 0..3usize, 0..4usize).prop_map(|(n, j, i)| {
        let names = ["up", "req_total", "mem"];
        let jobs = ["", "api", "web"];
        let insts = ["", "a", "b", "c"];
        l(&[
            ("__name__", names[n]),
            ("job", jobs[j]),
            ("instance", insts[i]),
        ])
    })
}

fn matcher_strategy() -> impl Strategy<Value = LabelMatcher> {
    let names = prop_oneof![
        Just("__name__"),
        Just("job"),
        Just("instance"),
        Just("nope")
    ];
    let ops = prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::Regex),
        Just(MatchOp::NotRegex)
    ];
    let values = prop_oneof![
        Just(""),
        Just("up"),
        Just("api"),
        Just("a"),
        Just("b"),
        Just(".*"),
        Just(".+"),
        Just("a|b"),
        Just("req.*"),
        Just("web|"),
    ];
    (names, ops, values).prop_map(|(n, o, v)| m(n, o, v))
}

#[derive(Clone, Debug)]
struct Op {
    labels: Labels,
    dt: i64,
    v: f64,
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    let value = prop_oneof![
        (0i64..100).prop_map(|i| i as f64),
        (0i64..2_000_000_000).prop_map(|n| n as f64 / 1e9),
        any::<f64>(),
        Just(stale_marker()),
    ];
    proptest::collection::vec(
        (
            labels_strategy(),
            prop_oneof![4 => 1i64..20_000, 1 => -5_000i64..=0],
            value,
        )
            .prop_map(|(labels, dt, v)| Op { labels, dt, v }),
        0..400,
    )
}

fn same(a: &[SeriesSamples], b: &[SeriesSamples]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.labels == y.labels
                && x.samples.len() == y.samples.len()
                && x.samples
                    .iter()
                    .zip(&y.samples)
                    .all(|(p, q)| p.t == q.t && p.v.to_bits() == q.v.to_bits())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn store_matches_model(
        ops in ops_strategy(),
        max_series in 1usize..40,
        queries in proptest::collection::vec(
            (proptest::collection::vec(matcher_strategy(), 0..3), 0i64..2_000_000, 0i64..2_000_000),
            1..8),
    ) {
        let s = store(max_series);
        let mut model = Model { max_series, ..Model::default() };
        let mut t = 0i64;
        for op in &ops {
            t += op.dt;
            prop_assert_eq!(s.append(&op.labels, t, op.v), model.append(&op.labels, t, op.v));
        }
        for (ms, a, b) in &queries {
            let (mint, maxt) = (*a.min(b), *a.max(b));
            let got = s.select(ms, mint, maxt);
            let want = model.select(ms, mint, maxt);
            prop_assert!(same(&got, &want), "{:?}\ngot  {:?}\nwant {:?}", ms, got, want);
        }
        let st = s.stats();
        prop_assert_eq!(st.series, model.series.len());
        prop_assert_eq!(st.samples, model.series.values().map(Vec::len).sum::<usize>());
        let mut names: Vec<String> = model.series.keys().flat_map(|l| l.iter().map(|l| l.name.to_string())).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(s.label_names(), names);
    }

    #[test]
    fn gc_matches_model(
        series in proptest::collection::vec((labels_strategy(), 1usize..400, 1i64..30_000), 1..12),
        now in 0i64..20_000_000,
    ) {
        let cfg = StoreConfig {
            retention: Duration::from_secs(1800),
            stale_after: Duration::from_secs(3600),
            max_series: 1000,
        };
        let s = Store::new(cfg, &prometheus::Registry::new()).unwrap();
        let mut model: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for (labels, n, step) in &series {
            if model.contains_key(labels) { continue; }
            let samples: Vec<Sample> = (0..*n as i64).map(|i| Sample { t: i * step, v: i as f64 }).collect();
            for x in &samples {
                s.append(labels, x.t, x.v).unwrap();
            }
            model.insert(labels.clone(), samples);
        }
        let stats = s.gc(now);
        // Model: series with newest sample < now - stale_after go; of the rest, each chunk of
        // CHUNK_SAMPLES samples (and the head) goes when its newest sample < now - retention.
        let (chunk_cut, series_cut) = (now - 1_800_000, now - 3_600_000);
        let mut want = GcStats::default();
        let mut kept = Vec::new();
        for (labels, samples) in &model {
            let chunks: Vec<&[Sample]> = samples.chunks(usize::from(chunk::CHUNK_SAMPLES)).collect();
            if samples.last().is_none_or(|x| x.t < series_cut) {
                want.series_dropped += 1;
                want.chunks_dropped += chunks.len();
                continue;
            }
            let mut left = Vec::new();
            for c in chunks {
                if c.last().is_some_and(|x| x.t < chunk_cut) {
                    want.chunks_dropped += 1;
                } else {
                    left.extend_from_slice(c);
                }
            }
            if !left.is_empty() {
                kept.push(SeriesSamples { labels: labels.clone(), samples: left });
            }
        }
        prop_assert_eq!(stats, want);
        let got = s.select(&[], i64::MIN, i64::MAX);
        prop_assert!(same(&got, &kept), "got {:?}\nwant {:?}", got, kept);
        prop_assert_eq!(s.stats().series, model.len() - want.series_dropped);
    }
}

#[test]
fn cached_refs_write_the_right_series_and_survive_slot_reuse() {
    let store = store(100);
    let a = Labels::new([("__name__", "a")]);
    let b = Labels::new([("__name__", "b")]);
    let mut ra = None;
    store.append_cached(&a, &mut ra, 1_000, 1.0).expect("a");
    assert!(ra.is_some());
    store
        .append_cached(&a, &mut ra, 2_000, 2.0)
        .expect("a again");
    // `a` goes stale and is dropped; `b` takes its slot.
    store.gc(2_000 + 601_000);
    let mut rb = None;
    store.append_cached(&b, &mut rb, 700_000, 7.0).expect("b");
    // The old reference to `a` must not write into `b`.
    store
        .append_cached(&a, &mut ra, 700_001, 3.0)
        .expect("a recreated");
    let sel = |name: &str| {
        store.select(
            &[LabelMatcher::new("__name__", MatchOp::Equal, name).expect("m")],
            0,
            i64::MAX,
        )
    };
    let b_samples: Vec<f64> = sel("b")[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(b_samples, [7.0]);
    let a_samples: Vec<f64> = sel("a")[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(a_samples, [3.0]);
}

#[test]
fn a_data_point_is_written_under_one_shard_with_cached_refs() {
    let store = store(100);
    let series: Vec<Labels> = ["0.5", "1", "+Inf"]
        .iter()
        .map(|le| l(&[("__name__", "h_bucket"), ("job", "a"), ("le", le)]))
        .collect();
    let mut refs = vec![None; 3];
    store
        .append_cached_many(
            |i| series.get(i).cloned(),
            &mut refs,
            1_000,
            &[1.0, 2.0, 3.0],
        )
        .unwrap();
    // The buckets of one point share a shard (the shard key ignores __name__ and le).
    let shards: Vec<_> = refs
        .iter()
        .map(|r| format!("{r:?}").split(',').next().map(str::to_owned))
        .collect();
    assert!(shards.windows(2).all(|w| w[0] == w[1]), "{shards:?}");
    store
        .append_cached_many(
            |i| series.get(i).cloned(),
            &mut refs,
            2_000,
            &[2.0, 3.0, 4.0],
        )
        .unwrap();
    // An out-of-order value is refused; the others in the batch are still written.
    let err = store.append_cached_many(
        |i| series.get(i).cloned(),
        &mut refs,
        3_000,
        &[5.0, 6.0, 7.0],
    );
    assert!(err.is_ok());
    let err = store.append_cached_many(
        |i| series.get(i).cloned(),
        &mut refs,
        3_000,
        &[5.0, 9.0, 7.0],
    );
    assert_eq!(err, Err(AppendError::OutOfOrder));
    let got = store.select(&[m("__name__", MatchOp::Equal, "h_bucket")], 0, i64::MAX);
    let values: Vec<Vec<f64>> = got
        .iter()
        .map(|s| s.samples.iter().map(|x| x.v).collect())
        .collect();
    // Sorted by labels: le="+Inf" < "0.5" < "1".
    assert_eq!(
        values,
        [
            vec![3.0, 4.0, 7.0],
            vec![1.0, 2.0, 5.0],
            vec![2.0, 3.0, 6.0]
        ]
    );
}

#[test]
fn samples_too_far_in_the_future_are_refused_before_they_block_a_series() {
    let s = store(2);
    let up = l(&[("__name__", "up")]);
    let now = crate::store::now_ms();
    let year_ahead = now + 365 * 24 * 3600 * 1000;
    // Through every entry point, and for a new series none is created.
    assert_eq!(
        s.append(&up, year_ahead, 1.0),
        Err(AppendError::TooFarInFuture)
    );
    let mut cached = None;
    assert_eq!(
        s.append_cached(&up, &mut cached, year_ahead, 1.0),
        Err(AppendError::TooFarInFuture)
    );
    let mut refs = [None];
    assert_eq!(
        s.append_cached_many(|_| Some(up.clone()), &mut refs, year_ahead, &[1.0]),
        Err(AppendError::TooFarInFuture)
    );
    assert_eq!(s.stats().series, 0);
    // The current sample still lands, and so does one within the allowed skew.
    s.append(&up, now, 1.0).unwrap();
    s.append(&up, now + crate::store::MAX_FUTURE_MS - 60_000, 2.0)
        .unwrap();
    assert_eq!(
        s.append(&up, now + crate::store::MAX_FUTURE_MS + 60_000, 3.0),
        Err(AppendError::TooFarInFuture)
    );
    assert_eq!(
        s.append(&l(&[("__name__", "b")]), year_ahead, 1.0),
        Err(AppendError::TooFarInFuture)
    );
    assert_eq!(s.stats().series, 1);
}

/// The cached future limit admits what the clock admits and nothing past it.
#[test]
fn the_future_limit_follows_the_clock() {
    let s = store(100);
    let now = now_ms();
    let a = l(&[("__name__", "a")]);
    assert_eq!(s.append(&a, now, 1.0), Ok(()));
    assert_eq!(s.append(&a, now + MAX_FUTURE_MS - 60_000, 1.0), Ok(()));
    let b = l(&[("__name__", "b")]);
    assert_eq!(
        s.append(&b, now + MAX_FUTURE_MS + 60_000, 1.0),
        Err(AppendError::TooFarInFuture)
    );
    assert_eq!(s.append(&b, now + 1, 1.0), Ok(()));
}
