//! Aggregations: `sum avg min max count group stddev stdvar topk bottomk limitk limit_ratio
//! quantile count_values`, with `by`/`without`.

use foldhash::{HashMap, HashMapExt};

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::PromqlError;
use super::eval::{Elem, Evaluator, Val};
use super::functions::{KahanSum, Mean, format_float, quantile};
use super::labels::{keep_only, set, without};
use crate::store::{Labels, METRIC_NAME};

/// The aggregation operators this engine evaluates (all of Prometheus 3's).
pub(crate) fn is_supported_aggregation(op: u16) -> bool {
    matches!(
        op,
        T_SUM
            | T_AVG
            | T_MIN
            | T_MAX
            | T_COUNT
            | T_GROUP
            | T_STDDEV
            | T_STDVAR
            | T_TOPK
            | T_BOTTOMK
            | T_LIMITK
            | T_LIMIT_RATIO
            | T_QUANTILE
            | T_COUNT_VALUES
    )
}

fn group_key(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        None => Labels::default(),
        Some(LabelModifier::Include(names)) => keep_only(l, &names.labels),
        Some(LabelModifier::Exclude(names)) => without(l, &names.labels),
    }
}

/// Whether label `name` is part of the grouping key under `m`.
fn in_key(name: &str, m: &Option<LabelModifier>) -> bool {
    match m {
        None => false,
        Some(LabelModifier::Include(names)) => names.labels.iter().any(|k| k == name),
        Some(LabelModifier::Exclude(names)) => {
            name != METRIC_NAME && !names.labels.iter().any(|k| k == name)
        }
    }
}

/// Hash of the grouping key of `l`, computed without building it.
fn key_hash(l: &Labels, m: &Option<LabelModifier>) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static STATE: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x5eed);
    let mut h = STATE.build_hasher();
    for x in l.iter().filter(|x| in_key(&x.name, m)) {
        x.name.hash(&mut h);
        x.value.hash(&mut h);
    }
    h.finish()
}

/// Whether the grouping key of `l` is `key`.
fn key_eq(l: &Labels, key: &Labels, m: &Option<LabelModifier>) -> bool {
    let mut ks = key.iter();
    for x in l.iter().filter(|x| in_key(&x.name, m)) {
        match ks.next() {
            Some(k) if k.name == x.name && k.value == x.value => {}
            _ => return false,
        }
    }
    ks.next().is_none()
}

/// Groups `input` by key in order of first appearance. The key of each element is hashed in
/// place; only a new group builds its key label set.
fn groups(input: Vec<Elem>, m: &Option<LabelModifier>) -> Vec<(Labels, Vec<Elem>)> {
    if m.is_none() {
        return if input.is_empty() {
            Vec::new()
        } else {
            vec![(Labels::default(), input)]
        };
    }
    // Hash → indices of the groups with that hash (more than one only on a collision).
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut out: Vec<(Labels, Vec<Elem>)> = Vec::new();
    for el in input {
        let h = key_hash(&el.labels, m);
        let slot = index.entry(h).or_default();
        match slot
            .iter()
            .copied()
            .find(|&i| key_eq(&el.labels, &out[i].0, m))
        {
            Some(i) => out[i].1.push(el),
            None => {
                slot.push(out.len());
                out.push((group_key(&el.labels, m), vec![el]));
            }
        }
    }
    out
}

pub(crate) fn eval_aggregate(
    ev: &Evaluator<'_>,
    a: &AggregateExpr,
    e: &Expr,
    t: i64,
) -> Result<Val, PromqlError> {
    let op = a.op.id();
    let name = a.op.to_string();
    let param = a.param.as_deref();
    let input = ev.eval_vector(&a.expr, t)?;
    let missing = || PromqlError::InvalidArgument {
        func: a.op.to_string(),
        message: "missing parameter".to_owned(),
    };
    let out = match op {
        T_LIMIT_RATIO => {
            let r = ev.eval_scalar(param.ok_or_else(missing)?, t)?;
            if r.is_nan() {
                return Err(PromqlError::InvalidArgument {
                    func: name,
                    message: "Ratio value is NaN".to_owned(),
                });
            }
            let r = r.clamp(-1.0, 1.0);
            input
                .into_iter()
                .filter(|el| {
                    let offset = labels_hash(&el.labels) as f64 / u64::MAX as f64;
                    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
                })
                .collect()
        }
        T_TOPK | T_BOTTOMK | T_LIMITK => {
            let k = ev.eval_scalar(param.ok_or_else(missing)?, t)?;
            if k.is_nan() {
                return Err(PromqlError::InvalidArgument {
                    func: name,
                    message: "Parameter value is NaN".to_owned(),
                });
            }
            if k >= 9.223_372_036_854_776e18 {
                return Err(PromqlError::InvalidArgument {
                    func: name,
                    message: format!(
                        "Scalar value {} overflows int64",
                        super::functions::format_float(k)
                    ),
                });
            }
            let k = k as i64;
            if k < 1 {
                return Ok(Val::Vector(Vec::new()));
            }
            let k = usize::try_from(k).unwrap_or(usize::MAX);
            let mut out = Vec::new();
            for (_, mut members) in groups(input, &a.modifier) {
                ev.tick()?;
                if op == T_LIMITK {
                    // The first k series of each group, in input order.
                    members.truncate(k);
                    out.extend(members);
                    continue;
                }
                // NaN always sorts last; the sort is stable, so ties keep input order.
                members.sort_by(|x, y| match (x.v.is_nan(), y.v.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    (false, false) => {
                        if op == T_TOPK {
                            y.v.total_cmp(&x.v)
                        } else {
                            x.v.total_cmp(&y.v)
                        }
                    }
                });
                members.truncate(k);
                out.extend(members);
            }
            out
        }
        T_COUNT_VALUES => {
            let label = ev.eval_string(param.ok_or_else(missing)?, t)?;
            if label.is_empty() {
                return Err(PromqlError::InvalidArgument {
                    func: name,
                    message: format!("invalid label name {label:?}"),
                });
            }
            let mut index: HashMap<Labels, usize> = HashMap::new();
            let mut out: Vec<Elem> = Vec::new();
            for el in input {
                ev.tick()?;
                let key = set(
                    &group_key(&el.labels, &a.modifier),
                    &label,
                    &format_float(el.v),
                );
                match index.get(&key) {
                    Some(&i) => out[i].v += 1.0,
                    None => {
                        index.insert(key.clone(), out.len());
                        out.push(Elem {
                            labels: key,
                            v: 1.0,
                        });
                    }
                }
            }
            out
        }
        T_QUANTILE => {
            let q = ev.eval_scalar(param.ok_or_else(missing)?, t)?;
            groups(input, &a.modifier)
                .into_iter()
                .map(|(labels, members)| {
                    let vals: Vec<f64> = members.iter().map(|m| m.v).collect();
                    Elem {
                        labels,
                        v: quantile(q, vals),
                    }
                })
                .collect()
        }
        T_SUM | T_AVG | T_MIN | T_MAX | T_COUNT | T_GROUP | T_STDDEV | T_STDVAR => {
            groups(input, &a.modifier)
                .into_iter()
                .map(|(labels, members)| Elem {
                    labels,
                    v: simple(op, &members),
                })
                .collect()
        }
        _ => {
            return Err(PromqlError::Unsupported {
                what: format!("aggregation {name}"),
                expr: e.to_string(),
            });
        }
    };
    Ok(Val::Vector(out))
}

/// Prometheus's `labels.Labels.Hash`: xxHash64 of every name and value, each followed by
/// the byte 0xff.
pub(crate) fn labels_hash(l: &Labels) -> u64 {
    let mut buf = Vec::with_capacity(l.iter().map(|x| x.name.len() + x.value.len() + 2).sum());
    for x in l.iter() {
        buf.extend_from_slice(x.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(x.value.as_bytes());
        buf.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

fn simple(op: u16, members: &[Elem]) -> f64 {
    let vals = members.iter().map(|m| m.v);
    match op {
        T_SUM => {
            let mut s = KahanSum::default();
            vals.for_each(|v| s.add(v));
            s.value()
        }
        T_AVG => {
            let mut m = Mean::default();
            vals.for_each(|v| m.add(v));
            m.value()
        }
        T_COUNT => members.len() as f64,
        T_GROUP => 1.0,
        T_MIN => vals
            .reduce(|acc, v| if acc > v || acc.is_nan() { v } else { acc })
            .unwrap_or(f64::NAN),
        T_MAX => vals
            .reduce(|acc, v| if acc < v || acc.is_nan() { v } else { acc })
            .unwrap_or(f64::NAN),
        T_STDDEV | T_STDVAR => {
            // Welford from an empty state, as Prometheus: one Inf or NaN makes the result NaN.
            let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
            for v in vals {
                count += 1.0;
                let delta = v - mean;
                mean += delta / count;
                m2 += delta * (v - mean);
            }
            let var = m2 / count;
            if op == T_STDDEV { var.sqrt() } else { var }
        }
        _ => f64::NAN,
    }
}
