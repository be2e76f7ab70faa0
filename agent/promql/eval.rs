//! The tree-walking evaluator: one expression at one evaluation time.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use super::{DEADLINE_CHECK_EVERY, PromqlError, QueryLimits, aggregate, binary, functions};
use crate::store::{LabelMatcher, Labels, METRIC_NAME, MatchOp, Sample, Store, is_stale_marker};

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Elem {
    pub labels: Labels,
    pub v: f64,
}

/// One series of a range vector.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// An evaluated (sub)expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Scalar(f64),
    Vector(Vec<Elem>),
    Matrix(Vec<Series>),
    Str(String),
}

impl Val {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::Str(_) => "string",
        }
    }
}

/// One series of a range-vector argument: owned, or a window of a range query's preloaded
/// selection (borrowed, not copied, at every step).
pub(crate) enum RangeSeries {
    Owned(Series),
    View {
        all: Rc<Vec<Series>>,
        i: usize,
        lo: usize,
        hi: usize,
    },
}

impl RangeSeries {
    pub(crate) fn labels(&self) -> &Labels {
        match self {
            RangeSeries::Owned(s) => &s.labels,
            RangeSeries::View { all, i, .. } => &all[*i].labels,
        }
    }

    pub(crate) fn samples(&self) -> &[Sample] {
        match self {
            RangeSeries::Owned(s) => &s.samples,
            RangeSeries::View { all, i, lo, hi } => &all[*i].samples[*lo..*hi],
        }
    }

    fn into_series(self) -> Series {
        match self {
            RangeSeries::Owned(s) => s,
            RangeSeries::View { .. } => Series {
                labels: self.labels().clone(),
                samples: self.samples().to_vec(),
            },
        }
    }
}

/// A range-vector argument of a function, with the window it was selected for.
pub(crate) struct RangeArg {
    pub series: Vec<RangeSeries>,
    /// Exclusive start of the window (ms).
    pub start: i64,
    /// Inclusive end of the window (ms).
    pub end: i64,
}

impl RangeArg {
    pub(crate) fn range_ms(&self) -> i64 {
        self.end - self.start
    }
}

pub(crate) struct Evaluator<'a> {
    pub store: &'a Store,
    /// Start and end of the query (what `@ start()` and `@ end()` mean).
    pub start: i64,
    pub end: i64,
    /// Step of a range query (0 for an instant query): what `step()` returns.
    pub step: i64,
    pub lookback_ms: i64,
    pub subquery_step_ms: i64,
    pub limits: QueryLimits,
    /// Samples held for the current step of the query (see [`QueryLimits`]).
    pub samples: Cell<usize>,
    /// Bytes of label values made in the current step of the query (see [`QueryLimits`]).
    pub label_bytes: Cell<usize>,
    /// Calls of [`Evaluator::tick`] so far.
    pub ticks: Cell<u32>,
    /// Selections made once for a whole range query (see [`Evaluator::preload`]), keyed by
    /// the address of their selector in the query's syntax tree.
    pub preloaded: RefCell<HashMap<usize, Preloaded>>,
}

/// The series of one selector over the window every step of a range query reads.
pub(crate) struct Preloaded {
    mint: i64,
    maxt: i64,
    series: Rc<Vec<Series>>,
    /// Per series, where the previous step's window started and ended: steps move forward,
    /// so the next window is found by advancing from there, not by searching again.
    cursors: Vec<(Cell<usize>, Cell<usize>)>,
}

impl Preloaded {
    /// Index of the first sample of `s` with `t > bound` (`strict`) or `t >= bound`, starting
    /// the scan at `from` when that is not past it (binary search otherwise).
    fn seek(s: &[Sample], from: usize, bound: i64, strict: bool) -> usize {
        let before = |x: &Sample| if strict { x.t <= bound } else { x.t < bound };
        if from > s.len() || (from > 0 && !before(&s[from - 1])) {
            return s.partition_point(before);
        }
        let mut i = from;
        while i < s.len() && before(&s[i]) {
            i += 1;
        }
        i
    }

    /// The samples of series `i` in `mint..=maxt`, as an index range.
    fn window(&self, i: usize, mint: i64, maxt: i64) -> (usize, usize) {
        let (s, (lo_c, hi_c)) = (&self.series[i].samples, &self.cursors[i]);
        let lo = Self::seek(s, lo_c.get(), mint, false);
        let hi = Self::seek(s, hi_c.get().max(lo), maxt, true);
        lo_c.set(lo);
        hi_c.set(hi);
        (lo, hi)
    }

    /// Every series with samples in `mint..=maxt`, sliced to that window.
    fn slice(&self, mint: i64, maxt: i64) -> Vec<Series> {
        let mut out = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            let (lo, hi) = self.window(i, mint, maxt);
            if lo < hi {
                out.push(Series {
                    labels: s.labels.clone(),
                    samples: s.samples[lo..hi].to_vec(),
                });
            }
        }
        out
    }

    /// What a range selector reads in `mint..=maxt`: windows of the preloaded series,
    /// copied (without stale markers) only where a window holds one.
    fn range_views(&self, mint: i64, maxt: i64) -> Vec<RangeSeries> {
        let mut out = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            let (lo, hi) = self.window(i, mint, maxt);
            let window = &s.samples[lo..hi];
            if window.iter().any(|x| is_stale_marker(x.v)) {
                let samples: Vec<Sample> = window
                    .iter()
                    .filter(|x| !is_stale_marker(x.v))
                    .copied()
                    .collect();
                if !samples.is_empty() {
                    out.push(RangeSeries::Owned(Series {
                        labels: s.labels.clone(),
                        samples,
                    }));
                }
            } else if lo < hi {
                out.push(RangeSeries::View {
                    all: Rc::clone(&self.series),
                    i,
                    lo,
                    hi,
                });
            }
        }
        out
    }
}

fn selector_key(vs: &VectorSelector) -> usize {
    std::ptr::from_ref(vs) as usize
}

/// What Prometheus names the stage a timed-out query was in.
const EVAL_STAGE: &str = "expression evaluation";

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(e) => -duration_ms(&e.duration()),
    }
}

impl Evaluator<'_> {
    /// Errors once the query's deadline has passed.
    pub(crate) fn check_deadline(&self) -> Result<(), PromqlError> {
        match self.limits.deadline {
            Some(d) if std::time::Instant::now() >= d => {
                Err(PromqlError::Timeout { stage: EVAL_STAGE })
            }
            _ => Ok(()),
        }
    }

    /// Called once per node evaluated and per element in the inner loops: checks the
    /// deadline every [`DEADLINE_CHECK_EVERY`] calls.
    pub(crate) fn tick(&self) -> Result<(), PromqlError> {
        let n = self.ticks.get().wrapping_add(1);
        self.ticks.set(n);
        if n.is_multiple_of(DEADLINE_CHECK_EVERY) {
            self.check_deadline()
        } else {
            Ok(())
        }
    }

    /// Counts a label value of `len` bytes that `func` made, erroring past either byte
    /// budget of [`QueryLimits`].
    pub(crate) fn add_label_value(
        &self,
        func: &'static str,
        len: usize,
    ) -> Result<(), PromqlError> {
        if len > self.limits.max_label_value_bytes {
            return Err(PromqlError::LabelValueTooLong {
                func,
                limit: self.limits.max_label_value_bytes,
            });
        }
        let total = self.label_bytes.get().saturating_add(len);
        self.label_bytes.set(total);
        if total > self.limits.max_label_bytes {
            return Err(PromqlError::TooManyLabelBytes {
                limit: self.limits.max_label_bytes,
            });
        }
        self.tick()
    }

    /// Counts `n` more samples held, erroring past the limit.
    pub(crate) fn add_samples(&self, n: usize) -> Result<(), PromqlError> {
        self.reset_samples(self.samples.get().saturating_add(n))
    }

    /// Sets the samples held (at the start of a step: what earlier steps still hold).
    pub(crate) fn reset_samples(&self, n: usize) -> Result<(), PromqlError> {
        self.samples.set(n);
        if n > self.limits.max_samples {
            return Err(PromqlError::TooManySamples {
                limit: self.limits.max_samples,
            });
        }
        Ok(())
    }

    /// The time a selector with `@` and `offset` reads at, for evaluation time `t`.
    fn selector_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base.saturating_sub(offset_ms(offset))
    }

    pub(crate) fn eval(&self, e: &Expr, t: i64) -> Result<Val, PromqlError> {
        self.tick()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(v) => {
                    let out: Vec<Elem> = v
                        .into_iter()
                        .map(|el| Elem {
                            labels: super::labels::drop_name(&el.labels),
                            v: -el.v,
                        })
                        .collect();
                    super::labels::check_unique(&out, e)?;
                    Ok(Val::Vector(out))
                }
                other => Err(type_err(e, "scalar or instant vector", &other)),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.select_instant(vs, t)?)),
            Expr::MatrixSelector(ms) => {
                let end = self.selector_time(&ms.vs.at, &ms.vs.offset, t);
                let start = end.saturating_sub(duration_ms(&ms.range));
                Ok(Val::Matrix(self.select_range(&ms.vs, start, end)?))
            }
            Expr::Subquery(sq) => Ok(Val::Matrix(
                self.eval_subquery(sq, t)?
                    .series
                    .into_iter()
                    .map(RangeSeries::into_series)
                    .collect(),
            )),
            Expr::Binary(b) => binary::eval_binary(self, b, e, t),
            Expr::Aggregate(a) => aggregate::eval_aggregate(self, a, e, t),
            Expr::Call(c) => functions::eval_call(self, c, e, t),
            Expr::Extension(_) => Err(PromqlError::Unsupported {
                what: "extension expression".to_owned(),
                expr: e.to_string(),
            }),
        }
    }

    /// Evaluates `e`, which must be an instant vector.
    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> Result<Vec<Elem>, PromqlError> {
        match self.eval(e, t)? {
            Val::Vector(v) => Ok(v),
            other => Err(type_err(e, "instant vector", &other)),
        }
    }

    /// Evaluates `e`, which must be a scalar.
    pub(crate) fn eval_scalar(&self, e: &Expr, t: i64) -> Result<f64, PromqlError> {
        match self.eval(e, t)? {
            Val::Scalar(v) => Ok(v),
            other => Err(type_err(e, "scalar", &other)),
        }
    }

    /// Evaluates `e`, which must be a string.
    pub(crate) fn eval_string(&self, e: &Expr, t: i64) -> Result<String, PromqlError> {
        match self.eval(e, t)? {
            Val::Str(s) => Ok(s),
            other => Err(type_err(e, "string", &other)),
        }
    }

    /// Evaluates a range-vector argument (a matrix selector or a subquery, possibly in
    /// parentheses) together with its window.
    pub(crate) fn eval_range_arg(&self, e: &Expr, t: i64) -> Result<RangeArg, PromqlError> {
        match e {
            Expr::Paren(p) => self.eval_range_arg(&p.expr, t),
            Expr::MatrixSelector(ms) => {
                let end = self.selector_time(&ms.vs.at, &ms.vs.offset, t);
                let start = end.saturating_sub(duration_ms(&ms.range));
                Ok(RangeArg {
                    series: self.select_range_arg(&ms.vs, start, end)?,
                    start,
                    end,
                })
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, t),
            other => {
                let got = self.eval(other, t)?;
                Err(type_err(e, "range vector", &got))
            }
        }
    }

    /// Series matching `vs` with their samples in `mint..=maxt`, merged over `or` alternatives.
    fn select(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, PromqlError> {
        self.check_deadline()?;
        if let Some(p) = self.preloaded.borrow().get(&selector_key(vs))
            && p.mint <= mint
            && maxt <= p.maxt
        {
            return Ok(p.slice(mint, maxt));
        }
        self.select_store(vs, mint, maxt)
    }

    /// [`Evaluator::select`] from the store.
    fn select_store(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, PromqlError> {
        let sets = selector_matcher_sets(vs)?;
        if sets.len() == 1 {
            return Ok(self
                .store
                .select(&sets[0], mint, maxt)
                .into_iter()
                .map(|s| Series {
                    labels: s.labels,
                    samples: s.samples,
                })
                .collect());
        }
        let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for set in &sets {
            for s in self.store.select(set, mint, maxt) {
                merged.entry(s.labels).or_insert(s.samples);
            }
        }
        Ok(merged
            .into_iter()
            .map(|(labels, samples)| Series { labels, samples })
            .collect())
    }

    /// The instant vector `vs` at evaluation time `t`: the newest sample in the lookback
    /// window `(ts - lookback, ts]` of every matching series, unless it is a stale marker.
    /// Each element also carries the sample's timestamp (for `timestamp()`).
    pub(crate) fn select_instant_with_ts(
        &self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<(Elem, i64)>, PromqlError> {
        let ts = self.selector_time(&vs.at, &vs.offset, t);
        let mint = ts.saturating_sub(self.lookback_ms).saturating_add(1);
        let mut out = Vec::new();
        for s in self.select(vs, mint, ts)? {
            if let Some(last) = s.samples.last()
                && !is_stale_marker(last.v)
            {
                out.push((
                    Elem {
                        labels: s.labels,
                        v: last.v,
                    },
                    last.t,
                ));
            }
        }
        self.add_samples(out.len())?;
        Ok(out)
    }

    fn select_instant(&self, vs: &VectorSelector, t: i64) -> Result<Vec<Elem>, PromqlError> {
        Ok(self
            .select_instant_with_ts(vs, t)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// Samples of `vs` in `(start, end]`, stale markers removed; series left empty dropped.
    fn select_range(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, PromqlError> {
        let mut out = self.select(vs, start.saturating_add(1), end)?;
        for s in &mut out {
            s.samples.retain(|x| !is_stale_marker(x.v));
        }
        out.retain(|s| !s.samples.is_empty());
        self.add_samples(out.iter().map(|s| s.samples.len()).sum())?;
        Ok(out)
    }

    /// [`Evaluator::select_range`] for a function argument: windows of a preloaded selection
    /// are lent, not copied.
    fn select_range_arg(
        &self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<RangeSeries>, PromqlError> {
        let (mint, maxt) = (start.saturating_add(1), end);
        let views = match self.preloaded.borrow().get(&selector_key(vs)) {
            Some(p) if p.mint <= mint && maxt <= p.maxt => Some(p.range_views(mint, maxt)),
            _ => None,
        };
        let Some(out) = views else {
            return Ok(self
                .select_range(vs, start, end)?
                .into_iter()
                .map(RangeSeries::Owned)
                .collect());
        };
        self.check_deadline()?;
        self.add_samples(out.iter().map(|s| s.samples().len()).sum())?;
        Ok(out)
    }

    /// Selects, once for a whole range query, what every selector outside a subquery reads
    /// at any step from `self.start` to `self.end`, so each step slices its window out of
    /// memory instead of decoding it from the store again (as Prometheus does). Selectors
    /// inside subqueries are evaluated at their own times and read the store directly.
    pub(crate) fn preload(&self, e: &Expr) -> Result<(), PromqlError> {
        match e {
            Expr::VectorSelector(vs) => {
                let first = self.selector_time(&vs.at, &vs.offset, self.start);
                let last = self.selector_time(&vs.at, &vs.offset, self.end);
                let mint = first.saturating_sub(self.lookback_ms).saturating_add(1);
                self.preload_selector(vs, mint, last)?;
            }
            Expr::MatrixSelector(ms) => {
                let first = self.selector_time(&ms.vs.at, &ms.vs.offset, self.start);
                let last = self.selector_time(&ms.vs.at, &ms.vs.offset, self.end);
                let mint = first
                    .saturating_sub(duration_ms(&ms.range))
                    .saturating_add(1);
                self.preload_selector(&ms.vs, mint, last)?;
            }
            Expr::Paren(p) => self.preload(&p.expr)?,
            Expr::Unary(u) => self.preload(&u.expr)?,
            Expr::Binary(b) => {
                self.preload(&b.lhs)?;
                self.preload(&b.rhs)?;
            }
            Expr::Aggregate(a) => {
                self.preload(&a.expr)?;
                if let Some(p) = &a.param {
                    self.preload(p)?;
                }
            }
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.preload(a)?;
                }
            }
            Expr::Subquery(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::Extension(_) => {}
        }
        Ok(())
    }

    fn preload_selector(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<(), PromqlError> {
        let series = self.select_store(vs, mint, maxt)?;
        let cursors = series
            .iter()
            .map(|_| (Cell::new(0), Cell::new(0)))
            .collect();
        self.preloaded.borrow_mut().insert(
            selector_key(vs),
            Preloaded {
                mint,
                maxt,
                series: Rc::new(series),
                cursors,
            },
        );
        Ok(())
    }

    /// Evaluates a subquery: the inner expression at every multiple of the step in
    /// `(end - range, end]`.
    fn eval_subquery(&self, sq: &SubqueryExpr, t: i64) -> Result<RangeArg, PromqlError> {
        let end = self.selector_time(&sq.at, &sq.offset, t);
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.subquery_step_ms);
        let start = end.saturating_sub(range);
        // Go's integer division truncates toward zero, as Rust's does.
        let mut ts = step * (start / step);
        if ts <= start {
            ts += step;
        }
        let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        // What the enclosing evaluation holds, and the subquery's points so far: each inner
        // step's working set is released after it, its output is kept.
        let base = self.samples.get();
        let mut held = 0usize;
        while ts <= end {
            self.check_deadline()?;
            self.reset_samples(base.saturating_add(held))?;
            match self.eval(&sq.expr, ts)? {
                Val::Vector(v) => {
                    held = held.saturating_add(v.len());
                    for el in v {
                        merged
                            .entry(el.labels)
                            .or_default()
                            .push(Sample { t: ts, v: el.v });
                    }
                }
                Val::Scalar(v) => {
                    held += 1;
                    merged
                        .entry(Labels::default())
                        .or_default()
                        .push(Sample { t: ts, v })
                }
                other => return Err(type_err(&sq.expr, "instant vector", &other)),
            }
            ts += step;
        }
        self.reset_samples(base.saturating_add(held))?;
        Ok(RangeArg {
            series: merged
                .into_iter()
                .map(|(labels, samples)| RangeSeries::Owned(Series { labels, samples }))
                .collect(),
            start,
            end,
        })
    }
}

/// The store matchers of a vector selector: one set, or one per `or` alternative (each with
/// the shared matchers and the metric name).
pub fn selector_matcher_sets(vs: &VectorSelector) -> Result<Vec<Vec<LabelMatcher>>, PromqlError> {
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<LabelMatcher>, PromqlError> {
        let mut out = Vec::with_capacity(ms.len() + 1);
        if let Some(name) = &vs.name {
            out.push(store_matcher(vs, METRIC_NAME, MatchOp::Equal, name)?);
        }
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            out.push(store_matcher(vs, &m.name, op, &m.value)?);
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        Ok(vec![convert(&vs.matchers.matchers)?])
    } else {
        vs.matchers
            .or_matchers
            .iter()
            .map(|set| {
                let mut all = vs.matchers.matchers.clone();
                all.extend(set.iter().cloned());
                convert(&all)
            })
            .collect()
    }
}

fn store_matcher(
    vs: &VectorSelector,
    name: &str,
    op: MatchOp,
    value: &str,
) -> Result<LabelMatcher, PromqlError> {
    LabelMatcher::new(name, op, value).map_err(|source| PromqlError::Matcher {
        selector: vs.to_string(),
        source,
    })
}

pub(crate) fn type_err(e: &Expr, expected: &'static str, got: &Val) -> PromqlError {
    PromqlError::Type {
        expr: e.to_string(),
        expected,
        got: got.type_name(),
    }
}
