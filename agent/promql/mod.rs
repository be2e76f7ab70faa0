//! PromQL evaluation over the in-memory [`Store`]: the read side of the pipeline.
//!
//! Sources write samples into the store; the rule engine (every `evaluation_interval`) and the
//! Prometheus query API (`/api/v1/query`, `/api/v1/query_range`) read it through this module.
//! Parsing is done by the `promql-parser` crate; this module evaluates the parsed
//! [`Expr`](promql_parser::parser::Expr) with Prometheus 3 semantics:
//!
//! - instant selectors look back 5 minutes (left-open) for the newest sample, and a stale
//!   marker ends a series;
//! - range selectors are left-open, `(t - range, t]`;
//! - `offset`, `@` (including `start()`/`end()`) and subqueries;
//! - binary operators with vector matching, aggregations and the functions listed in
//!   [`functions::SUPPORTED`]. Any other function is an [`PromqlError::UnsupportedFunction`].
//!
//! A range query is evaluated as one instant evaluation per step, which is what Prometheus
//! specifies; as in Prometheus, each selector (outside subqueries) reads the store once for
//! the whole range and every step slices its window from that. Native histograms are not
//! supported: the store holds floats only.

mod aggregate;
mod binary;
mod check;
mod depth;
mod eval;
pub mod functions;
mod labels;

use std::collections::BTreeMap;

pub use check::check_supported;
pub use depth::{MAX_EXPR_DEPTH, check_depth};
pub use eval::selector_matcher_sets;

use crate::store::{Labels, Sample, Store, StoreError};

/// Prometheus's default lookback for instant selectors: 5 minutes.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Step of a subquery written without one (`x[5m:]`); Prometheus uses the global evaluation
/// interval, 1 minute by default.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;
/// Upper bound on the number of steps of one range query (Prometheus: 11,000 points).
pub const MAX_RANGE_STEPS: i64 = 11_000;
/// Expressions up to this deep (levels of the syntax tree) are evaluated on the caller's
/// thread; deeper ones on a thread of their own (see [`DEEP_EVAL_STACK_BYTES`]). An
/// unoptimised build needs about 40 KiB of stack per level of nested function calls, so 24
/// levels fit a 2 MiB stack with room to spare.
pub const INLINE_EVAL_DEPTH: usize = 24;
/// Stack of the thread that evaluates an expression deeper than [`INLINE_EVAL_DEPTH`]: room
/// for [`MAX_EXPR_DEPTH`] levels at 40 KiB each, three times over. Only the pages used are
/// ever committed.
pub const DEEP_EVAL_STACK_BYTES: usize = 64 << 20;

/// What a query failed on, and where.
#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query text does not parse.
    #[error("parse error in {query:?}: {message}")]
    Parse { query: String, message: String },
    /// The query nests more than [`MAX_EXPR_DEPTH`] levels (see [`check_depth`]); it is
    /// refused before parsing, since parsing and evaluating it could overflow the stack.
    #[error("query is nested too deeply (more than {limit} levels)")]
    TooDeep { limit: usize },
    /// The function exists in PromQL but this engine does not implement it.
    #[error("unsupported function {name}() in {expr}")]
    UnsupportedFunction { name: String, expr: String },
    /// Any other construct this engine does not implement (native histograms, `fill()`, …).
    #[error("unsupported expression {what} in {expr}")]
    Unsupported { what: String, expr: String },
    /// A label matcher (regex) is invalid.
    #[error("invalid label matcher in {selector}: {source}")]
    Matcher {
        selector: String,
        #[source]
        source: StoreError,
    },
    /// A function or aggregation got an argument it cannot use. The message is Prometheus's
    /// (which names the function where Prometheus does).
    #[error("{message}")]
    InvalidArgument { func: String, message: String },
    /// An operand has the wrong type (e.g. a range vector where an instant vector is needed).
    #[error("{expr}: expected {expected}, got {got}")]
    Type {
        expr: String,
        expected: &'static str,
        got: &'static str,
    },
    /// Two result series ended up with the same labels (e.g. `abs({__name__=~"a|b"})`);
    /// `expr` is the expression that produced them. The message is Prometheus's.
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset { expr: String },
    /// Vector matching of a binary operator (`expr`) failed. The message is Prometheus's.
    #[error("{message}")]
    Matching { message: String, expr: String },
    /// The range query's start, end or step are unusable.
    #[error("invalid range query: {message}")]
    BadRange { message: String },
    /// The query would hold more than [`QueryLimits::max_samples`] samples at once
    /// (Prometheus's `--query.max-samples`).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples { limit: usize },
    /// The thread that evaluates a deeply nested expression could not be started.
    #[error("cannot start a thread to evaluate a deeply nested query: {message}")]
    EvalThread { message: String },
    /// `func` would make a label value longer than [`QueryLimits::max_label_value_bytes`].
    #[error("{func}() would make a label value longer than {limit} bytes")]
    LabelValueTooLong { func: &'static str, limit: usize },
    /// The query would make more than [`QueryLimits::max_label_bytes`] bytes of label values
    /// in one step.
    #[error(
        "query processing would make more than {limit} bytes of label values in query execution"
    )]
    TooManyLabelBytes { limit: usize },
    /// The query ran past [`QueryLimits::deadline`]; `stage` says what it was doing.
    #[error("query timed out in {stage}")]
    Timeout { stage: &'static str },
}

/// Default of [`QueryLimits::max_label_value_bytes`]: 64 KiB.
pub const DEFAULT_MAX_LABEL_VALUE_BYTES: usize = 64 << 10;
/// Default of [`QueryLimits::max_label_bytes`]: 64 MiB.
pub const DEFAULT_MAX_LABEL_BYTES: usize = 64 << 20;
/// Calls of the evaluator's inner loops between two looks at the clock (see
/// [`QueryLimits::deadline`]).
pub(crate) const DEADLINE_CHECK_EVERY: u32 = 128;

/// Per-query resource limits (Prometheus's `--query.max-samples` and `--query.timeout`, and
/// two byte budgets Prometheus does not have).
///
/// Samples are counted as Prometheus counts them: every sample a selector or subquery loads
/// for the step being evaluated (one per series for an instant selector, every sample in the
/// window for a range selector or subquery), plus the points of a range query's result so
/// far. (A range query reads each selector's data once for the whole range; what counts is
/// each step's window of it.)
///
/// Label values a query makes (`label_replace`, `label_join`, `count_values`) are counted in
/// bytes: no one value may be longer than [`QueryLimits::max_label_value_bytes`], and one step
/// of the query may not make more than [`QueryLimits::max_label_bytes`] in all. Without
/// these, `label_replace` nested a few times, each level repeating `$1`, builds a label of
/// gigabytes from a 400-byte query.
///
/// The deadline is checked at every selector, every step of a range query or subquery, and
/// every [`DEADLINE_CHECK_EVERY`] nodes evaluated or elements processed inside binary
/// operations, aggregations and functions, so an evaluation stops soon after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Most samples one query may hold at once.
    pub max_samples: usize,
    /// When the query must have finished.
    pub deadline: Option<std::time::Instant>,
    /// Longest label value `label_replace` or `label_join` may make, in bytes
    /// ([`PromqlError::LabelValueTooLong`]).
    pub max_label_value_bytes: usize,
    /// Most bytes of label values one step of the query may make
    /// ([`PromqlError::TooManyLabelBytes`]).
    pub max_label_bytes: usize,
}

impl Default for QueryLimits {
    /// No sample limit and no deadline; the byte budgets at their defaults
    /// ([`DEFAULT_MAX_LABEL_VALUE_BYTES`], [`DEFAULT_MAX_LABEL_BYTES`]).
    fn default() -> Self {
        QueryLimits {
            max_samples: usize::MAX,
            deadline: None,
            max_label_value_bytes: DEFAULT_MAX_LABEL_VALUE_BYTES,
            max_label_bytes: DEFAULT_MAX_LABEL_BYTES,
        }
    }
}

/// The result of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar at a time (ms).
    Scalar(i64, f64),
    /// An instant vector.
    Vector(Vec<(Labels, f64)>),
    /// A range vector (an instant query of `x[5m]`, or any range query's result).
    Matrix(Vec<(Labels, Vec<Sample>)>),
    /// A string literal.
    String(String),
}

/// Evaluates PromQL against one store.
#[derive(Debug, Clone, Copy)]
pub struct Engine<'a> {
    store: &'a Store,
    lookback_ms: i64,
    subquery_step_ms: i64,
    limits: QueryLimits,
}

impl<'a> Engine<'a> {
    /// An engine with Prometheus's defaults (5-minute lookback, 1-minute subquery step).
    pub fn new(store: &'a Store) -> Self {
        Engine {
            store,
            lookback_ms: DEFAULT_LOOKBACK_MS,
            subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
            limits: QueryLimits::default(),
        }
    }

    /// Applies `limits` to every query this engine runs.
    pub fn with_limits(mut self, limits: QueryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the step of subqueries written without one (`x[5m:]`); Prometheus uses its global
    /// evaluation interval. Ignored unless positive.
    pub fn with_subquery_step_ms(mut self, ms: i64) -> Self {
        if ms > 0 {
            self.subquery_step_ms = ms;
        }
        self
    }

    /// Overrides the lookback of instant selectors (must be positive).
    pub fn with_lookback_ms(mut self, ms: i64) -> Self {
        if ms > 0 {
            self.lookback_ms = ms;
        }
        self
    }

    /// Parses and evaluates `query` at `t_ms`.
    pub fn instant(&self, query: &str, t_ms: i64) -> Result<Value, PromqlError> {
        let expr = parse(query)?;
        self.instant_expr(&expr, t_ms)
    }

    /// Evaluates a parsed expression at `t_ms`.
    pub fn instant_expr(
        &self,
        expr: &promql_parser::parser::Expr,
        t_ms: i64,
    ) -> Result<Value, PromqlError> {
        self.on_enough_stack(expr, || self.instant_inline(expr, t_ms))
    }

    fn instant_inline(
        &self,
        expr: &promql_parser::parser::Expr,
        t_ms: i64,
    ) -> Result<Value, PromqlError> {
        let ev = self.evaluator(t_ms, t_ms, 0);
        ev.check_deadline()?;
        Ok(match ev.eval(expr, t_ms)? {
            eval::Val::Scalar(v) => Value::Scalar(t_ms, v),
            eval::Val::Vector(v) => Value::Vector(v.into_iter().map(|e| (e.labels, e.v)).collect()),
            eval::Val::Matrix(m) => {
                Value::Matrix(m.into_iter().map(|s| (s.labels, s.samples)).collect())
            }
            eval::Val::Str(s) => Value::String(s),
        })
    }

    /// Parses and evaluates `query` at every `step_ms` from `start_ms` to `end_ms`
    /// (inclusive); the result is a [`Value::Matrix`] sorted by labels.
    pub fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, PromqlError> {
        let expr = parse(query)?;
        self.range_expr(&expr, start_ms, end_ms, step_ms)
    }

    /// Evaluates a parsed expression as a range query.
    pub fn range_expr(
        &self,
        expr: &promql_parser::parser::Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, PromqlError> {
        if step_ms <= 0 {
            return Err(PromqlError::BadRange {
                message: format!("step must be positive, got {step_ms}ms"),
            });
        }
        if end_ms < start_ms {
            return Err(PromqlError::BadRange {
                message: format!("end ({end_ms}) is before start ({start_ms})"),
            });
        }
        if (end_ms - start_ms) / step_ms >= MAX_RANGE_STEPS {
            return Err(PromqlError::BadRange {
                message: format!("more than {MAX_RANGE_STEPS} steps; use a larger step"),
            });
        }
        self.on_enough_stack(expr, || self.range_inline(expr, start_ms, end_ms, step_ms))
    }

    fn range_inline(
        &self,
        expr: &promql_parser::parser::Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, PromqlError> {
        let ev = self.evaluator(start_ms, end_ms, step_ms);
        ev.check_deadline()?;
        if end_ms > start_ms {
            ev.preload(expr)?;
        }
        let mut out: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        let mut t = start_ms;
        // Points of the result so far: held until the query ends.
        let mut held = 0usize;
        while t <= end_ms {
            ev.check_deadline()?;
            ev.reset_samples(held)?;
            ev.label_bytes.set(0);
            match ev.eval(expr, t)? {
                eval::Val::Scalar(v) => {
                    held += 1;
                    out.entry(Labels::default())
                        .or_default()
                        .push(Sample { t, v })
                }
                eval::Val::Vector(vec) => {
                    labels::check_unique(&vec, expr)?;
                    held = held.saturating_add(vec.len());
                    for e in vec {
                        out.entry(e.labels).or_default().push(Sample { t, v: e.v });
                    }
                }
                eval::Val::Matrix(_) | eval::Val::Str(_) => {
                    return Err(PromqlError::Type {
                        expr: expr.to_string(),
                        expected: "instant vector or scalar for a range query",
                        got: "range vector or string",
                    });
                }
            }
            t += step_ms;
        }
        ev.reset_samples(held)?;
        Ok(Value::Matrix(out.into_iter().collect()))
    }

    /// Runs `f` (an evaluation of `expr`) here when `expr` is shallow enough for any thread's
    /// stack, and otherwise on a thread of its own with a stack of [`DEEP_EVAL_STACK_BYTES`]:
    /// the evaluator recurses once per level of the tree, with frames of tens of KiB in
    /// unoptimised builds, so a query near [`MAX_EXPR_DEPTH`] would overflow the 2 MiB of a
    /// tokio blocking thread or a rule worker.
    fn on_enough_stack<T: Send>(
        &self,
        expr: &promql_parser::parser::Expr,
        f: impl FnOnce() -> Result<T, PromqlError> + Send,
    ) -> Result<T, PromqlError> {
        if depth::tree_depth(expr, INLINE_EVAL_DEPTH) <= INLINE_EVAL_DEPTH {
            return f();
        }
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name("vitals-deep-query".into())
                .stack_size(DEEP_EVAL_STACK_BYTES)
                .spawn_scoped(scope, f)
                .map_err(|e| PromqlError::EvalThread {
                    message: e.to_string(),
                })?;
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn evaluator(&self, start: i64, end: i64, step: i64) -> eval::Evaluator<'a> {
        eval::Evaluator {
            store: self.store,
            start,
            end,
            step,
            lookback_ms: self.lookback_ms,
            subquery_step_ms: self.subquery_step_ms,
            limits: self.limits,
            samples: std::cell::Cell::new(0),
            label_bytes: std::cell::Cell::new(0),
            ticks: std::cell::Cell::new(0),
            preloaded: std::cell::RefCell::new(std::collections::HashMap::new()),
        }
    }
}

thread_local! {
    /// Set while this thread runs the PromQL parser, whose panics [`parse`] catches.
    static IN_PARSER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics inside [`parse`]'s parser call
/// and passes every other panic to the hook that was there before.
fn quiet_parser_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_PARSER.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Parses a PromQL expression, refusing one nested more than [`MAX_EXPR_DEPTH`] levels
/// ([`PromqlError::TooDeep`]) before the parser sees it. This is the one way into the parser:
/// every query (API, rule files, rule unit tests, templates) comes through here, so the
/// recursion of the parser, the evaluator and the syntax tree's `Drop` stays bounded.
///
/// The parser panics on some inputs (a bare-number duration too large for a `Duration`,
/// `up[1e30]`, found by fuzzing): a panic is caught and answered as a parse error, so a
/// query or a rule file cannot take the daemon or `check config` down with it. Such a panic
/// is not printed (anyone who can reach the query API could fill stderr with them).
pub fn parse(query: &str) -> Result<promql_parser::parser::Expr, PromqlError> {
    check_depth(query)?;
    quiet_parser_panics();
    IN_PARSER.with(|p| p.set(true));
    let parsed = std::panic::catch_unwind(|| promql_parser::parser::parse(query));
    IN_PARSER.with(|p| p.set(false));
    let parse_error = |message: String| PromqlError::Parse {
        query: query.to_owned(),
        message,
    };
    match parsed {
        Ok(r) => r.map_err(parse_error),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the parser failed".to_string());
            Err(parse_error(format!("cannot parse: {why}")))
        }
    }
}

#[cfg(test)]
mod tests;
