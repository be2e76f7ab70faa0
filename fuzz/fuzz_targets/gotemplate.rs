//! Go templates (`gotemplate`): the first byte picks how the rest (UTF-8) is used.
//! - 0: a receiver's templated field, as `notify::FieldTemplates` builds it: the default
//!   templates (`notify::DEFAULT_TEMPLATES`) parsed with
//!   `gotemplate::alertmanager::Templates::parse_files`, the input added with
//!   `Templates::add` as `vitals.field.text` and executed with a notification's data.
//! - 1: a template file from `templates:` parsed after the defaults (it may redefine them),
//!   then the default subject, text and HTML bodies executed.
//! - 2: an alerting rule's annotation: `rules::template::Template::parse` and `render` with
//!   the alert's labels, external labels and URL, a value, and a `query` function.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vitals::gotemplate::alertmanager::{AlertData, NotificationData, Templates, quote_meta};
use vitals::notify::DEFAULT_TEMPLATES;
use vitals::rules::template::{QuerySample, Template, TemplateData};
use vitals::store::Labels;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn notification() -> NotificationData {
    let firing = AlertData {
        status: "firing".into(),
        labels: map(&[
            ("alertname", "HighErrorRate"),
            ("service", "api"),
            ("severity", "critical"),
        ]),
        annotations: map(&[
            ("summary", "5xx above 5%"),
            ("description", "api: 7.5% <b>errors</b>"),
        ]),
        starts_at: 1_700_000_000_000,
        ends_at: None,
        generator_url: "http://vitals:9470/graph?g0.expr=x".into(),
        fingerprint: "0123456789abcdef".into(),
    };
    let resolved = AlertData {
        status: "resolved".into(),
        labels: map(&[
            ("alertname", "HighErrorRate"),
            ("service", "web"),
            ("severity", "warning"),
        ]),
        annotations: map(&[("summary", "recovered")]),
        starts_at: 1_699_999_000_000,
        ends_at: Some(1_700_000_100_000),
        generator_url: String::new(),
        fingerprint: "fedcba9876543210".into(),
    };
    NotificationData {
        receiver: quote_meta("team-api (pager)"),
        status: "firing".into(),
        alerts: vec![firing, resolved],
        group_labels: map(&[("alertname", "HighErrorRate")]),
        common_labels: map(&[("alertname", "HighErrorRate")]),
        common_annotations: BTreeMap::new(),
        external_url: "http://vitals.example:9470".into(),
    }
}

const DEFAULT_NAMES: &[&str] = &[
    "__subject",
    "slack.default.text",
    "pagerduty.default.instances",
    "email.default.html",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match mode % 3 {
        0 => {
            let Ok(mut set) = Templates::parse_files([("default.tmpl", DEFAULT_TEMPLATES)]) else {
                panic!("the default templates must parse");
            };
            if let Err(e) = set.add("vitals.field.text", text) {
                let _ = e.to_string();
                return;
            }
            if let Err(e) = set.execute("vitals.field.text", &notification()) {
                let _ = e.to_string();
            }
        }
        1 => {
            let set = match Templates::parse_files([
                ("default.tmpl", DEFAULT_TEMPLATES),
                ("custom.tmpl", text),
            ]) {
                Ok(set) => set,
                Err(e) => {
                    let _ = e.to_string();
                    return;
                }
            };
            let data = notification();
            for name in DEFAULT_NAMES {
                if set.defines(name)
                    && let Err(e) = set.execute(name, &data)
                {
                    let _ = e.to_string();
                }
            }
        }
        _ => {
            let t = match Template::parse("__alert_Fuzz", text) {
                Ok(t) => t,
                Err(e) => {
                    let _ = e.to_string();
                    return;
                }
            };
            let labels = Labels::new([("alertname", "Fuzz"), ("instance", "a:1"), ("job", "api")]);
            let external_labels = Labels::new([("cluster", "eu-1")]);
            let query = |q: &str| -> Result<Vec<QuerySample>, String> {
                if q.is_empty() {
                    return Err("empty query".into());
                }
                Ok(vec![
                    QuerySample {
                        labels: Labels::new([("__name__", "up"), ("job", "api")]),
                        value: 1.0,
                    },
                    QuerySample {
                        labels: Labels::new([("__name__", "up"), ("job", "web")]),
                        value: 0.25,
                    },
                ])
            };
            let data = TemplateData {
                labels: &labels,
                external_labels: &external_labels,
                external_url: "http://vitals.example:9470",
                value: 0.075,
                query: Some(&query),
            };
            if let Err(e) = t.render(&data) {
                let _ = e.to_string();
            }
        }
    }
});
