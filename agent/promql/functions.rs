//! PromQL functions, following Prometheus's `promql/functions.go` (float samples only).

use foldhash::{HashMap, HashMapExt};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr, VectorSelector};

use super::PromqlError;
use super::eval::{Elem, Evaluator, RangeArg, Val};
use super::labels::{check_unique, drop_name, set};
use crate::civil::days_in_month;
use crate::store::{Labels, METRIC_NAME, Sample};

/// The functions this engine evaluates; any other is [`PromqlError::UnsupportedFunction`].
/// `histogram_avg/count/stddev/stdvar/sum` read native histograms only, which the store does
/// not hold, so over float samples they return nothing, as Prometheus does.
pub const SUPPORTED: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "double_exponential_smoothing",
    "end",
    "exp",
    "first_over_time",
    "floor",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_quantiles",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_of",
    "max_over_time",
    "min_of",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "range",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_by_label",
    "sort_by_label_desc",
    "sort_desc",
    "sqrt",
    "start",
    "stddev_over_time",
    "stdvar_over_time",
    "step",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "vector",
    "year",
];

/// Whether this engine evaluates the function `name`.
pub fn is_supported(name: &str) -> bool {
    SUPPORTED.binary_search(&name).is_ok()
}

/// Kahan–Neumaier summation, as Prometheus's `kahanSumInc`.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct KahanSum {
    sum: f64,
    c: f64,
}

pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

impl KahanSum {
    pub(crate) fn add(&mut self, v: f64) {
        (self.sum, self.c) = kahan_inc(v, self.sum, self.c);
    }
    /// The compensated sum; an infinite sum is returned as it is (the compensation would
    /// turn it into NaN).
    pub(crate) fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

/// The mean as Prometheus computes it for `avg` and `avg_over_time`: a Kahan sum divided by
/// the count, switching to an incremental mean once the sum would overflow.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct Mean {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl Mean {
    pub(crate) fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = v;
            return;
        }
        if !self.incremental {
            let (s, c) = kahan_inc(v, self.sum, self.c);
            if !s.is_infinite() {
                self.sum = s;
                self.c = c;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.c) = kahan_inc(v / self.count, q * self.mean, q * self.c);
    }

    pub(crate) fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
}

/// Go's `math.Max` (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min` (NaN wins).
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

/// The φ-quantile of `values` (Prometheus's `quantile`).
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as in Prometheus.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let at = |i: f64| values.get(i as usize).copied().unwrap_or(f64::NAN);
    at(lower) * (1.0 - weight) + at(upper) * weight
}

fn arg(c: &Call, i: usize) -> Result<&Expr, PromqlError> {
    c.args
        .args
        .get(i)
        .map(|b| &**b)
        .ok_or_else(|| PromqlError::InvalidArgument {
            func: c.func.name.to_owned(),
            message: format!("missing argument {} of {}()", i + 1, c.func.name),
        })
}

fn map_values(v: Vec<Elem>, f: impl Fn(f64) -> f64) -> Vec<Elem> {
    v.into_iter()
        .map(|el| Elem {
            labels: drop_name(&el.labels),
            v: f(el.v),
        })
        .collect()
}

/// The float function `name` maps each value with, if it is one.
fn simple_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

pub(crate) fn eval_call(
    ev: &Evaluator<'_>,
    c: &Call,
    e: &Expr,
    t: i64,
) -> Result<Val, PromqlError> {
    let name = c.func.name;
    if let Some(f) = simple_fn(name) {
        let v = ev.eval_vector(arg(c, 0)?, t)?;
        return checked(map_values(v, f), e);
    }
    if let Some(f) = date_fn(name) {
        let out = match c.args.args.first() {
            None => vec![Elem {
                labels: Labels::default(),
                v: f(Civil::from_unix(t.div_euclid(1000))),
            }],
            Some(a) => map_values(ev.eval_vector(a, t)?, |v| {
                // Go's `int64(f)` for the seconds; NaN and infinities have no date.
                if v.is_finite() {
                    f(Civil::from_unix(v as i64))
                } else {
                    f64::NAN
                }
            }),
        };
        return checked(out, e);
    }
    let secs = |ms: i64| ms as f64 / 1000.0;
    let out = match name {
        "time" => return Ok(Val::Scalar(secs(t))),
        "pi" => return Ok(Val::Scalar(std::f64::consts::PI)),
        "start" => return Ok(Val::Scalar(secs(ev.start))),
        "end" => return Ok(Val::Scalar(secs(ev.end))),
        "step" => return Ok(Val::Scalar(secs(ev.step))),
        "range" => return Ok(Val::Scalar(secs(ev.end - ev.start))),
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(arg(c, 0)?, t)?;
            let b = ev.eval_scalar(arg(c, 1)?, t)?;
            return Ok(Val::Scalar(if name == "min_of" {
                go_min(a, b)
            } else {
                go_max(a, b)
            }));
        }
        "vector" => {
            let s = ev.eval_scalar(arg(c, 0)?, t)?;
            return Ok(Val::Vector(vec![Elem {
                labels: Labels::default(),
                v: s,
            }]));
        }
        "scalar" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            return Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
        }
        "timestamp" => {
            let mut a = arg(c, 0)?;
            while let Expr::Paren(p) = a {
                a = &p.expr;
            }
            if let Expr::VectorSelector(vs) = a {
                ev.select_instant_with_ts(vs, t)?
                    .into_iter()
                    .map(|(el, ts)| Elem {
                        labels: drop_name(&el.labels),
                        v: secs(ts),
                    })
                    .collect()
            } else {
                let tv = secs(t);
                map_values(ev.eval_vector(a, t)?, |_| tv)
            }
        }
        "round" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let to_nearest = match c.args.args.get(1) {
                Some(a) => ev.eval_scalar(a, t)?,
                None => 1.0,
            };
            let inv = 1.0 / to_nearest;
            map_values(v, |x| (x * inv + 0.5).floor() / inv)
        }
        "clamp" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let min = ev.eval_scalar(arg(c, 1)?, t)?;
            let max = ev.eval_scalar(arg(c, 2)?, t)?;
            if max < min {
                Vec::new()
            } else {
                map_values(v, |x| go_max(min, go_min(max, x)))
            }
        }
        "clamp_min" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let min = ev.eval_scalar(arg(c, 1)?, t)?;
            map_values(v, |x| go_max(min, x))
        }
        "clamp_max" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let max = ev.eval_scalar(arg(c, 1)?, t)?;
            map_values(v, |x| go_min(max, x))
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(arg(c, 0)?, t)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) if desc => b.v.total_cmp(&a.v),
                (false, false) => a.v.total_cmp(&b.v),
            });
            v
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = ev.eval_vector(arg(c, 0)?, t)?;
            let mut names = Vec::new();
            for a in c.args.args.iter().skip(1) {
                names.push(ev.eval_string(a, t)?);
            }
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                let ord = sort_by_label_cmp(&a.labels, &b.labels, &names);
                if desc { ord.reverse() } else { ord }
            });
            v
        }
        "label_replace" => label_replace(ev, c, t)?,
        "label_join" => label_join(ev, c, t)?,
        "absent" => {
            let a = arg(c, 0)?;
            let v = ev.eval_vector(a, t)?;
            if v.is_empty() {
                vec![Elem {
                    labels: absent_labels(a),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(c, 0)?, t)?;
            let v = ev.eval_vector(arg(c, 1)?, t)?;
            classic_histograms(v)
                .into_iter()
                .map(|(labels, buckets)| Elem {
                    labels,
                    v: bucket_quantile(q, buckets),
                })
                .collect()
        }
        "histogram_quantiles" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let label = ev.eval_string(arg(c, 1)?, t)?;
            check_label_name(name, &label)?;
            let mut qs = Vec::new();
            for a in c.args.args.iter().skip(2) {
                qs.push(ev.eval_scalar(a, t)?);
            }
            let hists = classic_histograms(v);
            let mut out = Vec::with_capacity(hists.len() * qs.len());
            for q in qs {
                let q_str = format_openmetrics_float(q);
                for (labels, buckets) in &hists {
                    out.push(Elem {
                        labels: set(labels, &label, &q_str),
                        v: bucket_quantile(q, buckets.clone()),
                    });
                }
            }
            out
        }
        "histogram_fraction" => {
            let lower = ev.eval_scalar(arg(c, 0)?, t)?;
            let upper = ev.eval_scalar(arg(c, 1)?, t)?;
            let v = ev.eval_vector(arg(c, 2)?, t)?;
            classic_histograms(v)
                .into_iter()
                .map(|(labels, buckets)| Elem {
                    labels,
                    v: bucket_fraction(lower, upper, buckets),
                })
                .collect()
        }
        "histogram_avg" | "histogram_count" | "histogram_stddev" | "histogram_stdvar"
        | "histogram_sum" => {
            // Only native histogram samples are read; the store holds floats only.
            ev.eval_vector(arg(c, 0)?, t)?;
            Vec::new()
        }
        "absent_over_time" => {
            let a = arg(c, 0)?;
            let ra = ev.eval_range_arg(a, t)?;
            if ra.series.is_empty() {
                vec![Elem {
                    labels: absent_labels(a),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "quantile_over_time" => {
            let q = ev.eval_scalar(arg(c, 0)?, t)?;
            let ra = ev.eval_range_arg(arg(c, 1)?, t)?;
            over_range(&ra, true, |s| {
                Some(quantile(q, s.iter().map(|x| x.v).collect()))
            })
        }
        "predict_linear" => {
            let ra = ev.eval_range_arg(arg(c, 0)?, t)?;
            let dur = ev.eval_scalar(arg(c, 1)?, t)?;
            over_range(&ra, true, |s| {
                if s.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(s, t);
                Some(slope * dur + intercept)
            })
        }
        "double_exponential_smoothing" => {
            let ra = ev.eval_range_arg(arg(c, 0)?, t)?;
            let sf = ev.eval_scalar(arg(c, 1)?, t)?;
            let tf = ev.eval_scalar(arg(c, 2)?, t)?;
            // Prometheus checks the factors only when a series reaches the calculation.
            if !ra.series.is_empty() {
                if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
                    return Err(PromqlError::InvalidArgument {
                        func: name.to_owned(),
                        message: format!(
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                        ),
                    });
                }
                if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
                    return Err(PromqlError::InvalidArgument {
                        func: name.to_owned(),
                        message: format!(
                            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                        ),
                    });
                }
            }
            over_range(&ra, true, |s| double_exponential_smoothing(s, sf, tf))
        }
        _ => match range_fn(name) {
            Some(f) => {
                let ra = ev.eval_range_arg(arg(c, 0)?, t)?;
                let keep_name = matches!(name, "last_over_time" | "first_over_time");
                over_range(&ra, !keep_name, |s| f(s, &ra))
            }
            None => {
                return Err(PromqlError::UnsupportedFunction {
                    name: name.to_owned(),
                    expr: e.to_string(),
                });
            }
        },
    };
    checked(out, e)
}

fn checked(v: Vec<Elem>, e: &Expr) -> Result<Val, PromqlError> {
    check_unique(&v, e)?;
    Ok(Val::Vector(v))
}

type RangeFn = fn(&[Sample], &RangeArg) -> Option<f64>;

fn range_fn(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |s, ra| extrapolated_rate(s, ra, true, true),
        "increase" => |s, ra| extrapolated_rate(s, ra, true, false),
        "delta" => |s, ra| extrapolated_rate(s, ra, false, false),
        "irate" => |s, _| instant_value(s, true),
        "idelta" => |s, _| instant_value(s, false),
        "deriv" => |s, _| {
            if s.len() < 2 {
                return None;
            }
            Some(linear_regression(s, s[0].t).0)
        },
        "avg_over_time" => |s, _| {
            let mut m = Mean::default();
            s.iter().for_each(|x| m.add(x.v));
            Some(m.value())
        },
        "sum_over_time" => |s, _| {
            let mut k = KahanSum::default();
            s.iter().for_each(|x| k.add(x.v));
            Some(k.value())
        },
        "count_over_time" => |s, _| Some(s.len() as f64),
        "min_over_time" => |s, _| {
            s.iter()
                .map(|x| x.v)
                .reduce(|acc, v| if acc > v || acc.is_nan() { v } else { acc })
        },
        "max_over_time" => |s, _| {
            s.iter()
                .map(|x| x.v)
                .reduce(|acc, v| if acc < v || acc.is_nan() { v } else { acc })
        },
        "last_over_time" => |s, _| s.last().map(|x| x.v),
        "first_over_time" => |s, _| s.first().map(|x| x.v),
        "ts_of_first_over_time" => |s, _| s.first().map(|x| x.t as f64 / 1000.0),
        "ts_of_last_over_time" => |s, _| s.last().map(|x| x.t as f64 / 1000.0),
        "ts_of_max_over_time" => |s, _| ts_of_extreme(s, |cur, best| cur >= best),
        "ts_of_min_over_time" => |s, _| ts_of_extreme(s, |cur, best| cur <= best),
        "mad_over_time" => |s, _| {
            // A NaN sample makes the deviation NaN rather than being sorted away.
            if s.iter().any(|x| x.v.is_nan()) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, s.iter().map(|x| x.v).collect());
            Some(quantile(
                0.5,
                s.iter().map(|x| (x.v - median).abs()).collect(),
            ))
        },
        "present_over_time" => |_, _| Some(1.0),
        "stddev_over_time" => |s, _| Some(variance(s).sqrt()),
        "stdvar_over_time" => |s, _| Some(variance(s)),
        "changes" => |s, _| {
            let n = s
                .windows(2)
                .filter(|w| !(w[0].v == w[1].v || (w[0].v.is_nan() && w[1].v.is_nan())))
                .count();
            Some(n as f64)
        },
        "resets" => |s, _| Some(s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64),
        _ => return None,
    })
}

/// The time (s) of the last sample that `better` prefers over the best so far (a NaN best is
/// always replaced), for `ts_of_max_over_time` and `ts_of_min_over_time`.
fn ts_of_extreme(s: &[Sample], better: fn(f64, f64) -> bool) -> Option<f64> {
    let first = s.first()?;
    let (mut best, mut ts) = (first.v, first.t);
    for x in s {
        if better(x.v, best) || best.is_nan() {
            best = x.v;
            ts = x.t;
        }
    }
    Some(ts as f64 / 1000.0)
}

fn over_range(ra: &RangeArg, drop: bool, f: impl Fn(&[Sample]) -> Option<f64>) -> Vec<Elem> {
    ra.series
        .iter()
        .filter(|s| !s.samples().is_empty())
        .filter_map(|s| {
            f(s.samples()).map(|v| Elem {
                labels: if drop {
                    drop_name(s.labels())
                } else {
                    s.labels().clone()
                },
                v,
            })
        })
        .collect()
}

fn variance(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in s {
        count += 1.0;
        let delta = x.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (x.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Prometheus's `extrapolatedRate` for `rate`, `increase` and `delta`.
fn extrapolated_rate(s: &[Sample], ra: &RangeArg, is_counter: bool, is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let first = s[0];
    let last = s[s.len() - 1];
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for x in &s[1..] {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    let mut to_start = (first.t - ra.start) as f64 / 1000.0;
    let mut to_end = (ra.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (s.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first.v >= 0.0 {
            to_zero = sampled * (first.v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= ra.range_ms() as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus's `instantValue` for `irate` and `idelta`.
fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let last = s[s.len() - 1];
    let prev = s[s.len() - 2];
    let mut v = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares fit of the samples, x in seconds relative to `intercept_t`.
fn linear_regression(s: &[Sample], intercept_t: i64) -> (f64, f64) {
    let init_y = s[0].v;
    let const_y = s.iter().all(|x| x.v == init_y);
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (mut sx, mut sy, mut sxy, mut sx2) = (
        KahanSum::default(),
        KahanSum::default(),
        KahanSum::default(),
        KahanSum::default(),
    );
    let mut n = 0.0;
    for p in s {
        n += 1.0;
        let x = (p.t - intercept_t) as f64 / 1e3;
        sx.add(x);
        sy.add(p.v);
        sxy.add(x * p.v);
        sx2.add(x * x);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sx.value(), sy.value(), sxy.value(), sx2.value());
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// The labels `absent()` reports: the selector's equality matchers (except the name).
fn absent_labels(e: &Expr) -> Labels {
    let vs: &VectorSelector = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut out = Labels::default();
    let mut has: HashMap<&str, bool> = HashMap::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        let seen = has.get(m.name.as_str()).copied().unwrap_or(false);
        if matches!(m.op, PMatchOp::Equal) && !seen {
            out = set(&out, &m.name, &m.value);
            has.insert(&m.name, true);
        } else {
            out = set(&out, &m.name, "");
        }
    }
    out
}

fn label_regex(func: &str, re: &str) -> Result<regex::Regex, PromqlError> {
    regex::Regex::new(&format!("^(?s:{re})$")).map_err(|err| PromqlError::InvalidArgument {
        func: func.to_owned(),
        message: format!("invalid regular expression in {func}(): {re}: {err}"),
    })
}

fn check_label_name(func: &str, name: &str) -> Result<(), PromqlError> {
    if name.is_empty() {
        return Err(PromqlError::InvalidArgument {
            func: func.to_owned(),
            message: format!("invalid destination label name in {func}(): {name}"),
        });
    }
    Ok(())
}

fn label_replace(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Vec<Elem>, PromqlError> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    let dst = ev.eval_string(arg(c, 1)?, t)?;
    let repl = ev.eval_string(arg(c, 2)?, t)?;
    let src = ev.eval_string(arg(c, 3)?, t)?;
    let re = label_regex("label_replace", &ev.eval_string(arg(c, 4)?, t)?)?;
    check_label_name("label_replace", &dst)?;
    let mut out = Vec::with_capacity(v.len());
    for el in v {
        let value = el.labels.get(&src).unwrap_or("");
        let labels = match re.captures(value) {
            Some(caps) => {
                // At most `repl` with every `$n` a whole source value, which is itself
                // within the limit: the value is built, then counted.
                let mut expanded = String::new();
                caps.expand(&repl, &mut expanded);
                ev.add_label_value("label_replace", expanded.len())?;
                set(&el.labels, &dst, &expanded)
            }
            None => el.labels.clone(),
        };
        out.push(Elem { labels, v: el.v });
    }
    Ok(out)
}

fn label_join(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Vec<Elem>, PromqlError> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    let dst = ev.eval_string(arg(c, 1)?, t)?;
    let sep = ev.eval_string(arg(c, 2)?, t)?;
    let mut srcs = Vec::new();
    for a in c.args.args.iter().skip(3) {
        let src = ev.eval_string(a, t)?;
        if src.is_empty() {
            return Err(PromqlError::InvalidArgument {
                func: "label_join".to_owned(),
                message: "invalid source label name in label_join(): ".to_owned(),
            });
        }
        srcs.push(src);
    }
    check_label_name("label_join", &dst)?;
    let mut out = Vec::with_capacity(v.len());
    for el in v {
        let joined: Vec<&str> = srcs
            .iter()
            .map(|s| el.labels.get(s).unwrap_or(""))
            .collect();
        let len = joined.iter().map(|s| s.len()).sum::<usize>()
            + sep.len() * joined.len().saturating_sub(1);
        ev.add_label_value("label_join", len)?;
        out.push(Elem {
            labels: set(&el.labels, &dst, &joined.join(&sep)),
            v: el.v,
        });
    }
    Ok(out)
}

/// Classic histograms in `v`: bucket series (a parseable `le` label) grouped by their labels
/// without `le` and `__name__`, in order of first appearance, as Prometheus groups them for
/// `histogram_quantile`, `histogram_quantiles` and `histogram_fraction`.
fn classic_histograms(v: Vec<Elem>) -> Vec<(Labels, Vec<(f64, f64)>)> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for el in v {
        let Some(le) = el.labels.get("le").and_then(parse_go_float) else {
            continue;
        };
        // Grouped with the name (histograms of two names stay apart and then collide as
        // duplicate label sets, as in Prometheus), reported without it.
        let key = set(&el.labels, "le", "");
        match index.get(&key) {
            Some(&i) => groups[i].1.push((le, el.v)),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![(le, el.v)]));
            }
        }
    }
    for g in &mut groups {
        g.0 = drop_name(&g.0);
    }
    groups
}

/// A float as Go's `strconv.ParseFloat(s, 64)` reads it (`+Inf`, `inf`, `NaN`, …).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let neg = lower.starts_with('-');
    match body {
        "inf" | "infinity" => Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok(),
    }
}

/// A float as Prometheus's `labels.FormatOpenMetricsFloat` writes it: Go's shortest form,
/// with `.0` added to integers.
fn format_openmetrics_float(v: f64) -> String {
    let s = format_go_float(v);
    if v.is_finite() && !s.contains(['.', 'e']) {
        format!("{s}.0")
    } else {
        s
    }
}

/// A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it.
fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` has the same shortest digits as Go; Go's `'g'` with the shortest
    // precision uses the exponent form when the exponent is below -4 or at least 6.
    let sci = format!("{v:e}");
    let Some((mant, e)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = e.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    let (sign, digits) = match e.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', e),
    };
    format!("{mant}e{sign}{digits:0>2}")
}

/// Prometheus's `BucketFraction`: the fraction of observations between `lower` and `upper`
/// in classic buckets (upper bound, cumulative count), interpolating linearly.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    match buckets.last() {
        Some(&(ub, _)) if ub == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let buckets = coalesce(buckets);
    let count = buckets[buckets.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    // Positive-only buckets start at 0, others at -Inf.
    let mut lower_bound = if buckets[0].0 <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, &(upper_bound, bcount)) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].0;
        }
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                bcount
            } else {
                rank + (bcount - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bcount;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Merges sorted buckets that share an upper bound.
fn coalesce(buckets: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (ub, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += count,
            _ => merged.push((ub, count)),
        }
    }
    merged
}

/// Prometheus's `double_exponential_smoothing` over one series (at least two samples).
fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, s[0].v);
    let mut b = s[1].v - s[0].v;
    for (i, x) in s.iter().enumerate().skip(1) {
        let scaled = sf * x.v;
        // The trend at the previous point.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, scaled + y);
    }
    Some(s1)
}

/// Natural order of two strings as Prometheus's `sort_by_label` compares label values
/// (`natsort.Compare`): runs of digits compare as integers, other runs as strings.
fn natural_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                out.push(&s[start..i]);
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let last_a = i == ca.len() - 1;
        let last_b = i == cb.len() - 1;
        if let (Ok(xi), Ok(yi)) = (x.parse::<i64>(), y.parse::<i64>())
            && x.bytes().all(|c| c.is_ascii_digit())
            && y.bytes().all(|c| c.is_ascii_digit())
        {
            if xi != yi {
                return xi < yi;
            }
        } else if x != y {
            return x < y;
        }
        if last_a {
            return true;
        }
        if last_b {
            return false;
        }
    }
    false
}

/// `sort_by_label`'s order: the named labels in natural order, then the whole label set.
fn sort_by_label_cmp(a: &Labels, b: &Labels, names: &[String]) -> std::cmp::Ordering {
    for n in names {
        let (x, y) = (a.get(n).unwrap_or(""), b.get(n).unwrap_or(""));
        if x == y {
            continue;
        }
        return if natural_less(x, y) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        };
    }
    a.cmp(b)
}

/// The date functions read a broken-down UTC time.
type Civil = crate::civil::DateTime;

fn date_fn(name: &str) -> Option<fn(Civil) -> f64> {
    Some(match name {
        "year" => |c| c.year as f64,
        "month" => |c| f64::from(c.month),
        "day_of_month" => |c| f64::from(c.day),
        "day_of_year" => |c| f64::from(c.yday),
        "day_of_week" => |c| f64::from(c.weekday),
        "days_in_month" => |c| f64::from(days_in_month(c.year, c.month)),
        "hour" => |c| f64::from(c.hour),
        "minute" => |c| f64::from(c.minute),
        _ => return None,
    })
}

/// Prometheus's `BucketQuantile` over (upper bound, cumulative count) pairs.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    match buckets.last() {
        Some(&(ub, _)) if ub == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let mut buckets = coalesce(buckets);
    // Ensure monotonicity, ignoring tiny floating-point deltas.
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = buckets.len() - 1;
    let b = buckets[..n].partition_point(|x| x.1 < rank);
    if b == n {
        return buckets[n - 1].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Prometheus's `almost.Equal`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_go_time() {
        // 2006-01-02T22:04:05Z, a Monday.
        let c = Civil::from_unix(1_136_239_445);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2006, 1, 2, 22, 4)
        );
        assert_eq!((c.weekday, c.yday), (1, 2));
        // The last second of 2008 and the first of 2009.
        assert_eq!(Civil::from_unix(1_230_767_999).year, 2008);
        assert_eq!(Civil::from_unix(1_230_768_000).year, 2009);
        // 2016-02-29 is a leap day; 2016-12-31 is day 366.
        let leap = Civil::from_unix(1_456_704_000);
        assert_eq!((leap.month, leap.day), (2, 29));
        assert_eq!(days_in_month(2016, 2), 29);
        assert_eq!(days_in_month(2017, 2), 28);
        assert_eq!(Civil::from_unix(1_483_142_400).yday, 366);
        // Before the epoch: 1969-12-31T23:59:59Z, a Wednesday.
        let before = Civil::from_unix(-1);
        assert_eq!(
            (before.year, before.month, before.day, before.hour),
            (1969, 12, 31, 23)
        );
        assert_eq!(before.weekday, 3);
    }

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        assert!(natural_less("node2", "node10"));
        assert!(!natural_less("node10", "node2"));
        assert!(natural_less("a", "b"));
        assert!(natural_less("1.2.3", "1.10.0"));
        assert!(!natural_less("b", "a"));
        assert!(!natural_less("x", ""));
        let names = ["instance".to_owned()];
        let a = Labels::new([("instance", "10.0.0.9:80")]);
        let b = Labels::new([("instance", "10.0.0.10:80")]);
        assert_eq!(sort_by_label_cmp(&a, &b, &names), std::cmp::Ordering::Less);
    }

    #[test]
    fn floats_format_as_go_does() {
        assert_eq!(format_openmetrics_float(1.0), "1.0");
        assert_eq!(format_openmetrics_float(0.25), "0.25");
        assert_eq!(format_openmetrics_float(f64::NAN), "NaN");
        assert_eq!(format_openmetrics_float(f64::INFINITY), "+Inf");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1e6), "1e+06");
        assert_eq!(format_go_float(123456.0), "123456");
        assert_eq!(format_go_float(0.0001), "0.0001");
        assert_eq!(format_go_float(1.5e-7), "1.5e-07");
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert!(parse_go_float("nan").is_some_and(f64::is_nan));
        assert_eq!(parse_go_float("x"), None);
    }

    #[test]
    fn bucket_fraction_interpolates_cumulative_buckets() {
        let b = vec![(1.0, 2.0), (2.0, 6.0), (f64::INFINITY, 8.0)];
        // (0, 1] holds 2 of 8; half of (1, 2] holds another 2.
        assert!((bucket_fraction(0.0, 1.5, b.clone()) - 0.5).abs() < 1e-12);
        assert!((bucket_fraction(f64::NEG_INFINITY, 1.0, b.clone()) - 0.25).abs() < 1e-12);
        assert_eq!(bucket_fraction(3.0, 2.0, b.clone()), 0.0);
        assert!(bucket_fraction(f64::NAN, 1.0, b).is_nan());
        assert!(bucket_fraction(0.0, 1.0, vec![(1.0, 1.0)]).is_nan());
        assert!(bucket_fraction(0.0, 1.0, Vec::new()).is_nan());
    }
}
