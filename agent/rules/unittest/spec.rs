//! The unit-test file schema (`promtool test rules` format) and its reading: YAML into
//! [`TestFile`], with every schema error positioned `file:line:col: field.path: message`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::config::PromDuration;
use crate::config::position::Positions;

/// A unit-test file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule files (paths or globs, relative to the test file's directory).
    #[serde(default, deserialize_with = "nullable")]
    pub rule_files: Vec<String>,
    /// How often every group is evaluated; default (and when `0`) 1m.
    #[serde(default)]
    pub evaluation_interval: Option<PromDuration>,
    /// Groups listed here are evaluated first, in this order.
    #[serde(default, deserialize_with = "nullable")]
    pub group_eval_order: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub tests: Vec<TestGroup>,
    /// Floats compare equal when they differ in the last bit of the mantissa.
    #[serde(default)]
    pub fuzzy_compare: bool,
}

/// `tests[]`: input series and the checks run against them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// Spacing of input samples; default the evaluation interval.
    #[serde(default)]
    pub interval: Option<PromDuration>,
    #[serde(default, deserialize_with = "nullable")]
    pub input_series: Vec<InputSeries>,
    #[serde(default, deserialize_with = "nullable")]
    pub alert_rule_test: Vec<AlertTest>,
    #[serde(default, deserialize_with = "nullable")]
    pub promql_expr_test: Vec<ExprTest>,
    /// `$externalLabels` in templates.
    #[serde(default, deserialize_with = "string_map")]
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` in templates.
    #[serde(default, deserialize_with = "scalar_string")]
    pub external_url: String,
    #[serde(default, deserialize_with = "scalar_string")]
    pub name: String,
    /// Where the test clock starts: Unix seconds (`1609459200`, `1.5`) or RFC 3339
    /// (`2021-01-01T00:00:00Z`); default the Unix epoch. Samples and evaluations start here,
    /// and `eval_time`s count from here.
    #[serde(default, deserialize_with = "scalar_string")]
    pub start_timestamp: String,
}

/// Parses `start_timestamp` as promtool does: a float number of Unix seconds, else an
/// RFC 3339 timestamp; milliseconds since the epoch. Empty is 0.
pub fn parse_start_timestamp(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(secs) = s.parse::<f64>() {
        let ms = secs * 1000.0;
        if !ms.is_finite() || ms.abs() > 9.0e15 {
            return Err(err());
        }
        return Ok(ms.trunc() as i64);
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to milliseconds since the epoch.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = format!("{:0<3}", &s[start..i.min(start + 3)]);
        millis = frac.parse().ok()?;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let o = h * 60 + m;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = crate::civil::days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// `input_series[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    #[serde(default, deserialize_with = "scalar_string")]
    pub series: String,
    #[serde(default, deserialize_with = "scalar_string")]
    pub values: String,
}

/// `alert_rule_test[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    #[serde(default)]
    pub eval_time: PromDuration,
    #[serde(default, deserialize_with = "scalar_string")]
    pub alertname: String,
    #[serde(default, deserialize_with = "nullable")]
    pub exp_alerts: Vec<ExpAlert>,
}

/// `exp_alerts[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpAlert {
    #[serde(default, deserialize_with = "string_map")]
    pub exp_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub exp_annotations: BTreeMap<String, String>,
}

/// `promql_expr_test[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExprTest {
    #[serde(default, deserialize_with = "scalar_string")]
    pub expr: String,
    #[serde(default)]
    pub eval_time: PromDuration,
    #[serde(default, deserialize_with = "nullable")]
    pub exp_samples: Vec<ExpSample>,
}

/// `exp_samples[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpSample {
    #[serde(default, deserialize_with = "scalar_string")]
    pub labels: String,
    #[serde(default)]
    pub value: f64,
    /// A native histogram in series notation; not supported (the store holds floats).
    #[serde(default, deserialize_with = "scalar_string")]
    pub histogram: String,
}

/// A problem in a test file, positioned when possible (`file:line:col: path: message`).
pub use crate::config::ConfigError as SpecError;

/// A parsed test file and where its fields stand, for later positioned errors.
pub struct ParsedFile {
    pub spec: TestFile,
    positions: Positions,
    file: String,
}

impl ParsedFile {
    /// An error at `path`, positioned at that field (or its nearest ancestor).
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.clone(),
            position: self.positions.value(path).map(|p| (p.line, p.col)),
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// Reads the YAML text of a test file; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<ParsedFile, SpecError> {
    crate::config::check_depth(text).map_err(|e| SpecError {
        file: file.to_string(),
        position: Some((e.line, e.col)),
        path: String::new(),
        message: e.to_string(),
    })?;
    let positions = Positions::of(text);
    let spec: TestFile = if text.trim().is_empty() {
        TestFile::default()
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| SpecError::from_yaml(file, &e))?
    };
    Ok(ParsedFile {
        spec,
        positions,
        file: file.to_string(),
    })
}

/// `null` (a key with nothing after it) reads as the empty value, as Go's YAML does.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A scalar of any YAML type read as text (`code: 500` is the label value "500"), as Go's
/// YAML decodes scalars into strings; `null` is empty.
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?
        .map(|s| s.0)
        .unwrap_or_default())
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m = Option::<BTreeMap<String, Option<Scalar>>>::deserialize(d)?.unwrap_or_default();
    Ok(m.into_iter()
        .map(|(k, v)| (k, v.map(|s| s.0).unwrap_or_default()))
        .collect())
}

struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_promtool_format() {
        let p = parse(
            "rule_files: [a.yml]\nevaluation_interval: 30s\ngroup_eval_order: [g1]\ntests:\n  - interval: 1m\n    name: t\n    external_labels: {region: eu}\n    external_url: http://x\n    input_series:\n      - series: 'up{job=\"a\"}'\n        values: '1 0'\n    alert_rule_test:\n      - eval_time: 2m\n        alertname: A\n        exp_alerts:\n          - exp_labels: {code: 500}\n    promql_expr_test:\n      - expr: up\n        eval_time: 1m\n        exp_samples:\n          - labels: 'up{job=\"a\"}'\n            value: 0\n",
            "t.yml",
        )
        .unwrap();
        let s = &p.spec;
        assert_eq!(s.rule_files, ["a.yml"]);
        assert_eq!(s.evaluation_interval.map(|d| d.get().as_secs()), Some(30));
        let t = &s.tests[0];
        assert_eq!(t.name, "t");
        assert_eq!(t.external_labels["region"], "eu");
        assert_eq!(t.alert_rule_test[0].exp_alerts[0].exp_labels["code"], "500");
        assert_eq!(t.promql_expr_test[0].exp_samples[0].value, 0.0);
    }

    #[test]
    fn start_timestamps_as_promtool_reads_them() {
        assert_eq!(parse_start_timestamp(""), Ok(0));
        assert_eq!(parse_start_timestamp("1609459200"), Ok(1_609_459_200_000));
        assert_eq!(parse_start_timestamp("1.5"), Ok(1500));
        assert_eq!(
            parse_start_timestamp("2021-01-01T00:00:00Z"),
            Ok(1_609_459_200_000)
        );
        assert_eq!(parse_start_timestamp("1970-01-01T00:00:01.25Z"), Ok(1250));
        assert_eq!(
            parse_start_timestamp("2021-01-01T02:00:00+02:00"),
            Ok(1_609_459_200_000)
        );
        assert_eq!(parse_start_timestamp("1969-12-31T23:59:59Z"), Ok(-1000));
        assert_eq!(
            parse_start_timestamp("2024-02-29T12:00:00Z"),
            Ok(1_709_208_000_000)
        );
        for bad in [
            "yesterday",
            "2021-01-01",
            "2021-13-01T00:00:00Z",
            "2021-01-01T00:00:00",
            "1e300",
        ] {
            assert!(parse_start_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_lists_are_empty() {
        let p = parse(
            "rule_files:\ntests:\n  - input_series:\n    alert_rule_test:\n      - alertname: A\n        exp_alerts:\n",
            "t.yml",
        )
        .unwrap();
        assert!(p.spec.rule_files.is_empty());
        assert!(p.spec.tests[0].alert_rule_test[0].exp_alerts.is_empty());
    }

    #[test]
    fn schema_errors_name_file_position_and_field() {
        let e = parse("tests:\n  - interval: 1m\n    inputs: []\n", "t.yml")
            .err()
            .unwrap();
        assert_eq!(e.position.map(|p| p.0), Some(3), "{e}");
        assert!(e.to_string().starts_with("t.yml:3:"), "{e}");
        assert!(e.to_string().contains("unknown field `inputs`"), "{e}");
        let e = parse("evaluation_interval: 1 minute\n", "t.yml")
            .err()
            .unwrap();
        assert!(e.to_string().contains("not a duration"), "{e}");
        let p = parse("tests:\n  - input_series:\n      - series: 'x'\n", "t.yml").unwrap();
        let e = p.error_at("tests[0].input_series[0].series", "bad");
        assert_eq!(
            e.to_string(),
            "t.yml:3:17: tests[0].input_series[0].series: bad"
        );
    }

    #[test]
    fn deeply_nested_test_files_are_refused() {
        let mut text = String::from("tests:\n");
        for i in 1..100 {
            text.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
        }
        let e = parse(&text, "t.yml").err().expect("refused").to_string();
        assert_eq!(
            e,
            "t.yml:65:129: YAML is nested too deeply (more than 64 levels)"
        );
    }
}
