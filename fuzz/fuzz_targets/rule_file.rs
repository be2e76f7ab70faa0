//! Prometheus rule files: `rules::file::parse_text` (YAML, groups, PromQL parsing and the
//! supported-construct check, label and annotation templates, durations), the function
//! `load_files` calls on each file's text. A file that loads is then built into groups
//! (`rules::group::Group::new`, as the manager applies specs) and each group is evaluated
//! twice over a small store (one minute apart, so `for` clauses advance), with the rule
//! engine's query limits (sample limit and deadline) as the manager sets them.
#![no_main]

mod common;

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vitals::promql::QueryLimits;
use vitals::rules::file::{LoadOptions, parse_text};
use vitals::rules::group::{EvalContext, Group};
use vitals::store::Labels;

fuzz_target!(|data: &[u8]| {
    common::tolerate_caught_parser_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let specs = match parse_text(text, "rules.yml", &LoadOptions::default()) {
        Ok(specs) => specs,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let store = common::small_store();
    let external_labels = Labels::new([("cluster", "fuzz")]);
    let ctx = EvalContext {
        store: &store,
        external_labels: &external_labels,
        external_url: "http://vitals.example:9470",
        limits: QueryLimits {
            max_samples: 50_000,
            deadline: Some(Instant::now() + Duration::from_secs(1)),
            ..QueryLimits::default()
        },
        subquery_step_ms: 15_000,
    };
    for spec in specs {
        let _ = (spec.key(), spec.fingerprint());
        let mut group = Group::new(spec);
        for ts in [common::T0 + 90_000, common::T0 + 150_000] {
            let report = group.eval(&ctx, ts);
            for f in report.failures {
                let _ = f.error.to_string();
            }
        }
        let _ = group.status();
        let _ = group.persist();
    }
});
