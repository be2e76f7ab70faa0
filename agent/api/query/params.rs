//! Request parameters of the query API, read and checked as Prometheus reads them.
//!
//! Parameters come from the URL query and, for a POST with
//! `Content-Type: application/x-www-form-urlencoded`, from the body (body values first, as Go's
//! `Request.FormValue` has it); a name may repeat (`match[]`). Times are RFC 3339 or Unix
//! seconds with a fraction; durations are seconds with a fraction or Prometheus notation
//! (`1m30s`). Every error names the parameter, in Prometheus's words.

use promql_parser::parser::{Expr, VectorSelector};

use super::error::QueryError;
use crate::civil::days_from_civil;
use crate::config::PromDuration;
use crate::store::LabelMatcher;

/// Prometheus's `MinTime` (ms): the default start of `/series`, `/labels`, …
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus's `MaxTime` (ms): the default end.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;
/// How Go formats `MinTime` and `MaxTime`; clients send them back verbatim.
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// The decoded parameters of one request, in order (body first).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes the URL query and, when `form_body` is given, the form body before it.
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Result<Params, QueryError> {
        let mut pairs = Vec::new();
        if let Some(body) = form_body {
            let text = std::str::from_utf8(body).map_err(|_| {
                QueryError::bad_data("error parsing form values: the body is not UTF-8")
            })?;
            decode_into(text, &mut pairs)
                .map_err(|e| QueryError::bad_data(format!("error parsing form values: {e}")))?;
        }
        if let Some(q) = query {
            decode_into(q, &mut pairs)
                .map_err(|e| QueryError::bad_data(format!("error parsing form values: {e}")))?;
        }
        Ok(Params(pairs))
    }

    /// The first value of `name`, or `""` (Go's `FormValue`).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Time parameter `name` (ms); `default` when absent. Errors as `parseTimeParam` does.
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, QueryError> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(default);
        }
        parse_time(v).map_err(|e| {
            QueryError::invalid_param(name, format!("Invalid time value for '{name}': {e}"))
        })
    }

    /// Required time parameter `name` (ms), errors as `parseTime` does.
    pub fn time(&self, name: &str) -> Result<i64, QueryError> {
        parse_time(self.get(name)).map_err(|e| QueryError::invalid_param(name, e))
    }

    /// `limit`-style parameter: 0 (no limit) when absent.
    pub fn limit(&self, name: &str) -> Result<usize, QueryError> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(0);
        }
        let n: i64 = v.parse().map_err(|_| {
            QueryError::invalid_param(name, format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
        })?;
        if n < 0 {
            return Err(QueryError::invalid_param(
                name,
                "limit must be non-negative",
            ));
        }
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// Why a form did not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("invalid URL escape {0:?}")]
    Escape(String),
    #[error("a parameter is not UTF-8 after decoding")]
    Utf8,
}

fn decode_into(text: &str, out: &mut Vec<(String, String)>) -> Result<(), FormError> {
    for part in text.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding of one key or value.
pub fn percent_decode(s: &str) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
                match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let end = (i + 3).min(bytes.len());
                        let shown = String::from_utf8_lossy(&bytes[i..end]).into_owned();
                        return Err(FormError::Escape(shown));
                    }
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::Utf8)
}

/// A timestamp: Unix seconds (a float, rounded to ms) or RFC 3339. Errors in Prometheus's
/// words: `cannot parse "abc" to a valid timestamp`.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(bad());
        }
        let secs = f.trunc();
        let ms = ((f - secs) * 1000.0).round();
        let total = secs * 1000.0 + ms;
        if total < MIN_TIME_MS as f64 || total > MAX_TIME_MS as f64 {
            return Err(bad());
        }
        return Ok(total as i64);
    }
    match s {
        MIN_TIME_TEXT => return Ok(MIN_TIME_MS),
        MAX_TIME_TEXT => return Ok(MAX_TIME_MS),
        _ => {}
    }
    parse_rfc3339(s).ok_or_else(bad)
}

/// `2006-01-02T15:04:05.999999999Z07:00` (Go's `time.RFC3339Nano` as a parse layout) to ms.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > days_in_month[(month - 1) as usize] {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(i, digits)? * 10i64.pow(9 - digits as u32);
        i += digits;
    }
    let offset_s = match b.get(i)? {
        b'Z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(secs * 1000 + nanos / 1_000_000)
}

/// A duration in ns: seconds with a fraction (`15`, `0.5`, `-1`) or Prometheus notation
/// (`1m30s`). Errors as Prometheus words them.
pub fn parse_duration_ns(s: &str) -> Result<i128, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ns = f * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ns as i128);
    }
    match s.parse::<PromDuration>() {
        Ok(d) if d.get().as_nanos() <= i64::MAX as u128 => Ok(d.get().as_nanos() as i128),
        _ => Err(format!("cannot parse {s:?} to a valid duration")),
    }
}

/// `match[]` selectors to store matchers: one list per alternative (a selector with `or`
/// gives several), each list to be and-ed.
pub fn parse_matchers(selectors: &[&str]) -> Result<Vec<Vec<LabelMatcher>>, String> {
    let mut sets = Vec::new();
    for sel in selectors {
        let expr = crate::promql::parse(sel).map_err(|e| match e {
            // The parser refuses `{a=~".*"}` itself; say it as Prometheus's API says it.
            crate::promql::PromqlError::Parse { message, .. }
                if message.contains("at least one non-empty matcher") =>
            {
                "match[] must contain at least one non-empty matcher".to_owned()
            }
            crate::promql::PromqlError::Parse { message, .. } => message,
            other => other.to_string(),
        })?;
        let Expr::VectorSelector(vs) = &expr else {
            return Err(format!(
                "{sel:?} is not a series selector (expected e.g. up{{job=\"api\"}})"
            ));
        };
        if vs.at.is_some() || vs.offset.is_some() {
            return Err(format!(
                "{sel:?}: a series selector takes no offset or @ modifier"
            ));
        }
        let alternatives = selector_sets(vs)?;
        for set in &alternatives {
            if set.iter().all(|m| m.matches("")) {
                return Err("match[] must contain at least one non-empty matcher".into());
            }
        }
        sets.extend(alternatives);
    }
    Ok(sets)
}

/// The selector's matcher sets (the engine's conversion); a bad matcher's error as the store
/// words it.
fn selector_sets(vs: &VectorSelector) -> Result<Vec<Vec<LabelMatcher>>, String> {
    crate::promql::selector_matcher_sets(vs).map_err(|e| match e {
        crate::promql::PromqlError::Matcher { source, .. } => source.to_string(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn times_as_prometheus_parses_them() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(parse_time("1543578564.705"), Ok(1_543_578_564_705));
        assert_eq!(parse_time("123.1234"), Ok(123_123));
        assert_eq!(parse_time("-1.5"), Ok(-1_500));
        assert_eq!(parse_time("1e3"), Ok(1_000_000));
        assert_eq!(
            parse_time("2015-06-03T13:21:58.555Z"),
            Ok(1_433_337_718_555)
        );
        assert_eq!(
            parse_time("2015-06-03T14:21:58.555+01:00"),
            Ok(1_433_337_718_555)
        );
        assert_eq!(parse_time("2015-06-03T13:21:58Z"), Ok(1_433_337_718_000));
        assert_eq!(
            parse_time("2015-06-03T13:21:58.555999999Z"),
            Ok(1_433_337_718_555)
        );
        assert_eq!(parse_time(MIN_TIME_TEXT), Ok(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_TEXT), Ok(MAX_TIME_MS));
    }

    #[test]
    fn bad_times_name_the_input() {
        for bad in [
            "",
            "abc",
            "30s",
            "NaN",
            "inf",
            "1e300",
            "2015-13-03T13:21:58Z",
            "2015-02-29T00:00:00Z",
            "2015-06-03 13:21:58Z",
            "2015-06-03T13:21:58",
            "2015-06-03T13:21:58.Z",
        ] {
            assert_eq!(
                parse_time(bad),
                Err(format!("cannot parse {bad:?} to a valid timestamp")),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_as_prometheus_parses_them() {
        assert_eq!(parse_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("-1"), Ok(-1_000_000_000));
        assert_eq!(parse_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration_ns("500ms"), Ok(500_000_000));
        assert_eq!(
            parse_duration_ns("1x"),
            Err("cannot parse \"1x\" to a valid duration".into())
        );
        assert_eq!(
            parse_duration_ns("1e300"),
            Err("cannot parse \"1e300\" to a valid duration. It overflows int64".into())
        );
    }

    #[test]
    fn forms_decode_repeated_and_escaped_names() {
        let p = Params::parse(
            Some("match%5B%5D=up&match[]=%7Bjob%3D%22a+b%22%7D&x"),
            Some(b"query=1%2B1&match[]=first"),
        )
        .unwrap_or_default();
        assert_eq!(p.get("query"), "1+1");
        assert_eq!(p.all("match[]"), ["first", "up", "{job=\"a b\"}"]);
        assert_eq!(p.get("x"), "");
        assert_eq!(p.get("absent"), "");
        let err = Params::parse(Some("q=%zz"), None).map(|_| ()).unwrap_err();
        assert_eq!(
            err.message,
            "error parsing form values: invalid URL escape \"%zz\""
        );
    }

    #[test]
    fn limits() {
        let p = Params::parse(Some("a=5&b=-1&c=x"), None).unwrap_or_default();
        assert_eq!(p.limit("a").ok(), Some(5));
        assert_eq!(p.limit("none").ok(), Some(0));
        assert_eq!(
            p.limit("b").map_err(|e| e.message).unwrap_err(),
            "invalid parameter \"b\": limit must be non-negative"
        );
        assert_eq!(
            p.limit("c").map_err(|e| e.message).unwrap_err(),
            "invalid parameter \"c\": strconv.Atoi: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn time_param_errors_in_prometheus_words() {
        let p = Params::parse(Some("time=abc&start=x"), None).unwrap_or_default();
        assert_eq!(
            p.time_or("time", 0).map_err(|e| e.message).unwrap_err(),
            "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"abc\" to a valid timestamp"
        );
        assert_eq!(
            p.time("start").map_err(|e| e.message).unwrap_err(),
            "invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"
        );
        assert_eq!(p.time_or("end", 42).ok(), Some(42));
    }

    #[test]
    fn matchers_need_one_that_rejects_the_empty_value() {
        assert_eq!(parse_matchers(&["up"]).map(|s| s.len()), Ok(1));
        assert_eq!(
            parse_matchers(&[r#"{job=~".*"}"#]).map(|s| s.len()),
            Err("match[] must contain at least one non-empty matcher".into())
        );
        assert!(parse_matchers(&["rate(up[5m])"]).is_err());
        assert!(parse_matchers(&["{"]).is_err());
        let sets = parse_matchers(&[r#"up{job="a"}"#, "down"]).unwrap_or_default();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].len(), 2);
    }

    proptest! {
        #[test]
        fn seconds_with_millis_parse_exactly(ms in -4_000_000_000_000i64..4_000_000_000_000) {
            let text = format!("{}{}.{:03}", if ms < 0 { "-" } else { "" }, ms.unsigned_abs() / 1000, ms.unsigned_abs() % 1000);
            prop_assert_eq!(parse_time(&text), Ok(ms));
        }

        #[test]
        fn rfc3339_agrees_with_the_formatter(ms in -60_000_000_000_000i64..250_000_000_000_000) {
            let text = super::super::json::rfc3339(Some(ms));
            prop_assert_eq!(parse_time(&text), Ok(ms));
        }

        #[test]
        fn percent_encoding_round_trips(text in any::<String>()) {
            let mut enc = String::new();
            for b in text.bytes() {
                if b.is_ascii_alphanumeric() { enc.push(char::from(b)); } else { enc.push_str(&format!("%{b:02X}")); }
            }
            prop_assert_eq!(percent_decode(&enc), Ok(text));
        }

        #[test]
        fn arbitrary_input_never_panics(text in ".{0,40}") {
            let _ = parse_time(&text);
            let _ = parse_duration_ns(&text);
            let _ = Params::parse(Some(&text), Some(text.as_bytes()));
        }
    }
}
