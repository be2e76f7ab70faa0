//! PromQL: the input (UTF-8) parsed with `promql::parse` (the one way into the parser, with
//! its depth check) and evaluated by `promql::Engine` as the query API's `evaluate` builds it
//! (`Engine::new(store).with_limits(QueryLimits { max_samples, deadline, .. })`): as an
//! instant query, and when its type allows, as a range query of 21 steps, over a store with
//! a handful of series. Limits: 50,000 samples, 1 s per query.
#![no_main]

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use promql_parser::parser::value::ValueType;
use vitals::promql::{self, Engine, QueryLimits};
use vitals::store::Store;

fn store() -> &'static Arc<Store> {
    static S: OnceLock<Arc<Store>> = OnceLock::new();
    S.get_or_init(common::small_store)
}

fn limits() -> QueryLimits {
    QueryLimits {
        max_samples: 50_000,
        deadline: Some(Instant::now() + Duration::from_secs(1)),
        ..QueryLimits::default()
    }
}

fuzz_target!(|data: &[u8]| {
    common::tolerate_caught_parser_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let expr = match promql::parse(text) {
        Ok(e) => e,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let t = common::T0 + 100_000;
    let engine = Engine::new(store()).with_limits(limits());
    if let Err(e) = engine.instant_expr(&expr, t) {
        let _ = e.to_string();
    }
    if matches!(expr.value_type(), ValueType::Vector | ValueType::Scalar) {
        let engine = Engine::new(store()).with_limits(limits());
        if let Err(e) = engine.range_expr(&expr, common::T0 - 60_000, common::T0 + 240_000, 15_000)
        {
            let _ = e.to_string();
        }
    }
});
