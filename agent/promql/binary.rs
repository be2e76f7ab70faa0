//! Binary operators: arithmetic, comparison (with and without `bool`), `and`/`or`/`unless`,
//! and vector matching (`on`/`ignoring`, `group_left`/`group_right`).

use foldhash::{HashMap, HashMapExt, HashSet};

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinaryExpr, Expr, LabelModifier, VectorMatchCardinality};

use super::PromqlError;
use super::eval::{Elem, Evaluator, Val, type_err};
use super::labels::{check_unique, drop_name, go_string, keep_only, set, without};
use crate::store::Labels;

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic operators drop the metric name; comparisons (without `bool`) keep it.
fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW | T_ATAN2)
}

/// `lhs op rhs` on floats: the value, and whether a comparison holds (always true for
/// arithmetic).
pub(crate) fn apply(op: TokenId, lhs: f64, rhs: f64) -> Option<(f64, bool)> {
    Some(match op {
        T_ADD => (lhs + rhs, true),
        T_SUB => (lhs - rhs, true),
        T_MUL => (lhs * rhs, true),
        T_DIV => (lhs / rhs, true),
        T_MOD => (lhs % rhs, true),
        T_POW => (lhs.powf(rhs), true),
        T_ATAN2 => (lhs.atan2(rhs), true),
        T_EQLC => (lhs, lhs == rhs),
        T_NEQ => (lhs, lhs != rhs),
        T_GTR => (lhs, lhs > rhs),
        T_LSS => (lhs, lhs < rhs),
        T_GTE => (lhs, lhs >= rhs),
        T_LTE => (lhs, lhs <= rhs),
        _ => return None,
    })
}

fn unsupported_op(e: &Expr) -> PromqlError {
    PromqlError::Unsupported {
        what: "binary operator".to_owned(),
        expr: e.to_string(),
    }
}

pub(crate) fn eval_binary(
    ev: &Evaluator<'_>,
    b: &BinaryExpr,
    e: &Expr,
    t: i64,
) -> Result<Val, PromqlError> {
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    if let Some(m) = &b.modifier
        && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
    {
        return Err(PromqlError::Unsupported {
            what: "fill() modifier".to_owned(),
            expr: e.to_string(),
        });
    }
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = apply(op, l, r).ok_or_else(|| unsupported_op(e))?;
            if is_comparison(op) {
                Ok(Val::Scalar(if keep { 1.0 } else { 0.0 }))
            } else {
                Ok(Val::Scalar(v))
            }
        }
        (Val::Vector(l), Val::Scalar(r)) => {
            vector_scalar(ev, op, l, r, false, return_bool, e).map(Val::Vector)
        }
        (Val::Scalar(l), Val::Vector(r)) => {
            vector_scalar(ev, op, r, l, true, return_bool, e).map(Val::Vector)
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let card = b
                .modifier
                .as_ref()
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne);
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            let out = match op {
                T_LAND => and(l, r, &matching),
                T_LOR => or(l, r, &matching),
                T_LUNLESS => unless(l, r, &matching),
                _ => vector_vector(ev, op, l, r, &card, &matching, return_bool, e)?,
            };
            check_unique(&out, e)?;
            Ok(Val::Vector(out))
        }
        (Val::Vector(_) | Val::Scalar(_), other) => {
            Err(type_err(&b.rhs, "scalar or instant vector", &other))
        }
        (other, _) => Err(type_err(&b.lhs, "scalar or instant vector", &other)),
    }
}

fn vector_scalar(
    ev: &Evaluator<'_>,
    op: TokenId,
    vec: Vec<Elem>,
    scalar: f64,
    swap: bool,
    return_bool: bool,
    e: &Expr,
) -> Result<Vec<Elem>, PromqlError> {
    let mut out = Vec::with_capacity(vec.len());
    for el in vec {
        ev.tick()?;
        let (l, r) = if swap { (scalar, el.v) } else { (el.v, scalar) };
        let (mut v, mut keep) = apply(op, l, r).ok_or_else(|| unsupported_op(e))?;
        if is_comparison(op) && swap {
            v = r;
        }
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool {
                drop_name(&el.labels)
            } else {
                el.labels
            };
            out.push(Elem { labels, v });
        }
    }
    check_unique(&out, e)?;
    Ok(out)
}

/// The match signature of a series: the labels `on(...)` names, or all but `ignoring(...)`'s
/// and the metric name.
fn signature(l: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(names)) => keep_only(l, &names.labels),
        Some(LabelModifier::Exclude(names)) => without(l, &names.labels),
        None => without(l, &[]),
    }
}

fn and(l: Vec<Elem>, r: Vec<Elem>, matching: &Option<LabelModifier>) -> Vec<Elem> {
    let sigs: HashSet<Labels> = r.iter().map(|x| signature(&x.labels, matching)).collect();
    l.into_iter()
        .filter(|x| sigs.contains(&signature(&x.labels, matching)))
        .collect()
}

fn or(l: Vec<Elem>, r: Vec<Elem>, matching: &Option<LabelModifier>) -> Vec<Elem> {
    let sigs: HashSet<Labels> = l.iter().map(|x| signature(&x.labels, matching)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|x| !sigs.contains(&signature(&x.labels, matching))),
    );
    out
}

fn unless(l: Vec<Elem>, r: Vec<Elem>, matching: &Option<LabelModifier>) -> Vec<Elem> {
    let sigs: HashSet<Labels> = r.iter().map(|x| signature(&x.labels, matching)).collect();
    l.into_iter()
        .filter(|x| !sigs.contains(&signature(&x.labels, matching)))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    ev: &Evaluator<'_>,
    op: TokenId,
    lhs: Vec<Elem>,
    rhs: Vec<Elem>,
    card: &VectorMatchCardinality,
    matching: &Option<LabelModifier>,
    return_bool: bool,
    e: &Expr,
) -> Result<Vec<Elem>, PromqlError> {
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let include: &[String] = match card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => &l.labels,
        _ => &[],
    };
    let one_to_one = matches!(
        card,
        VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany
    );

    let mut right: HashMap<Labels, &Elem> = HashMap::with_capacity(rhs.len());
    for r in &rhs {
        ev.tick()?;
        let sig = signature(&r.labels, matching);
        if let Some(prev) = right.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            // The two series in ascending label order, as Prometheus prints them.
            let (a, b) = if prev.labels <= r.labels {
                (&prev.labels, &r.labels)
            } else {
                (&r.labels, &prev.labels)
            };
            let (sig_s, a, b) = (go_string(&sig), go_string(a), go_string(b));
            let message = if one_to_one {
                format!(
                    "found duplicate series for the match group {sig_s} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
                )
            } else {
                format!(
                    "found duplicate series for the match group {sig_s} on the {side} side of the operation: {a} and {b}"
                )
            };
            return Err(PromqlError::Matching {
                message,
                expr: e.to_string(),
            });
        }
        right.insert(sig, r);
    }

    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for l in &lhs {
        ev.tick()?;
        let sig = signature(&l.labels, matching);
        let Some(r) = right.get(&sig) else {
            continue;
        };
        let (lv, rv) = if one_to_many { (r.v, l.v) } else { (l.v, r.v) };
        let (mut v, mut keep) = apply(op, lv, rv).ok_or_else(|| unsupported_op(e))?;
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        let mut metric = result_labels(&l.labels, &r.labels, op, matching, one_to_one, include);
        if return_bool {
            metric = drop_name(&metric);
        }
        // Matches are tracked before the comparison filters: a many-to-one match is an error
        // even when the comparison drops all but one (or all) of its series.
        let entry = matched.entry(sig);
        if one_to_one {
            if matches!(entry, std::collections::hash_map::Entry::Occupied(_)) {
                return Err(PromqlError::Matching {
                    message: "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".to_owned(),
                    expr: e.to_string(),
                });
            }
            entry.or_default();
        } else {
            let set = entry.or_default();
            if !set.insert(metric.clone()) {
                return Err(PromqlError::Matching {
                    message:
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .to_owned(),
                    expr: e.to_string(),
                });
            }
        }
        if keep {
            out.push(Elem { labels: metric, v });
        }
    }
    Ok(out)
}

fn result_labels(
    l: &Labels,
    r: &Labels,
    op: TokenId,
    matching: &Option<LabelModifier>,
    one_to_one: bool,
    include: &[String],
) -> Labels {
    let mut out = if drops_name(op) {
        drop_name(l)
    } else {
        l.clone()
    };
    if one_to_one {
        out = match matching {
            Some(LabelModifier::Include(names)) => keep_only(&out, &names.labels),
            Some(LabelModifier::Exclude(names)) => {
                let mut x = out;
                for n in &names.labels {
                    x = set(&x, n, "");
                }
                x
            }
            None => out,
        };
    }
    for name in include {
        out = set(&out, name, r.get(name).unwrap_or(""));
    }
    out
}
