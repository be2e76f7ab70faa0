//! The series notation of rule unit tests, as Prometheus's PromQL parser reads it
//! (`ParseMetric` and `ParseSeriesDesc`): a metric `name{label="value", …}` and a value
//! sequence in expanding notation.
//!
//! Values, separated by whitespace:
//! - a number (`1`, `-2.5`, `1e3`, `.5`, `Inf`, `-Inf`, `NaN`; a leading `0` means octal, as
//!   Go's `ParseInt` base 0 reads it: `010` is 8; no hex in series);
//! - `stale`: a stale marker;
//! - `_`: no sample at that step; `_xN`: N steps without a sample;
//! - `axN`: N+1 copies of `a`;
//! - `a+bxN` / `a-bxN`: `a`, then N more values each `b` more (or less) than the previous one,
//!   summed step by step as Prometheus does (so `0.1+0.1x2` ends at 0.30000000000000004).

use crate::store::{Labels, stale_marker};

/// Most values one sequence may expand to (a typo like `1x1e9` would otherwise exhaust memory).
pub const MAX_VALUES: usize = 10_000_000;

/// Why a metric or a value sequence did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("empty metric: expected a metric name or a label set like {{job=\"a\"}}")]
    EmptyMetric,
    #[error("at character {at}: {message}")]
    Metric { at: usize, message: String },
    #[error("value {item:?}: {message}")]
    Value { item: String, message: String },
    #[error("the values expand to more than {MAX_VALUES} samples")]
    TooMany,
}

/// One step of a value sequence: a value (possibly the stale marker) or no sample.
pub type Step = Option<f64>;

/// Parses a metric in series notation: `up`, `up{job="a", instance='b'}`, `{job="a"}`, or
/// with quoted names, `{"my.metric", "a.b"="c"}`. Only `=` matchers are allowed.
pub fn parse_metric(text: &str) -> Result<Labels, SeriesError> {
    let mut p = MetricParser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.skip_space();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut name: Option<String> = None;
    if p.peek()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
    {
        name = Some(p.identifier(true));
        p.skip_space();
    }
    if p.peek() == Some(b'{') {
        p.i += 1;
        loop {
            p.skip_space();
            match p.peek() {
                Some(b'}') => {
                    p.i += 1;
                    break;
                }
                None => return Err(p.err("unexpected end of input inside braces")),
                _ => {}
            }
            let start = p.i;
            let label = match p.peek() {
                Some(b'"' | b'\'' | b'`') => p.string()?,
                Some(c) if c.is_ascii_alphabetic() || c == b'_' => p.identifier(false),
                Some(c) => {
                    return Err(p.err(&format!(
                        "unexpected character inside braces: {:?}",
                        c as char
                    )));
                }
                None => return Err(p.err("unexpected end of input inside braces")),
            };
            p.skip_space();
            match p.peek() {
                Some(b'=') if p.s.get(p.i + 1) != Some(&b'~') => {
                    p.i += 1;
                    p.skip_space();
                    if !matches!(p.peek(), Some(b'"' | b'\'' | b'`')) {
                        return Err(p.err("expected a quoted label value after '='"));
                    }
                    let value = p.string()?;
                    if pairs.iter().any(|(n, _)| *n == label) {
                        return Err(SeriesError::Metric {
                            at: start,
                            message: format!("label {label:?} is repeated"),
                        });
                    }
                    pairs.push((label, value));
                }
                Some(b'=' | b'!') => {
                    return Err(p.err("only '=' is allowed in a series, not a regex or '!='"));
                }
                // A quoted string alone is the metric name (Prometheus 3 UTF-8 syntax).
                Some(b',' | b'}') if matches!(p.s[start], b'"' | b'\'' | b'`') => {
                    if name.is_some() {
                        return Err(SeriesError::Metric {
                            at: start,
                            message: "metric name given twice".into(),
                        });
                    }
                    name = Some(label);
                }
                _ => return Err(p.err("expected '=' after the label name")),
            }
            p.skip_space();
            match p.peek() {
                Some(b',') => p.i += 1,
                Some(b'}') => {}
                None => return Err(p.err("unexpected end of input inside braces")),
                Some(c) => {
                    return Err(p.err(&format!(
                        "expected ',' or '}}' after a label, got {:?}",
                        c as char
                    )));
                }
            }
        }
    } else if name.is_none() {
        return Err(if p.peek().is_none() {
            SeriesError::EmptyMetric
        } else {
            p.err("expected a metric name or '{'")
        });
    }
    p.skip_space();
    if p.peek().is_some() {
        return Err(p.err(&format!("unexpected {:?} after the metric", &p.text[p.i..])));
    }
    if let Some(n) = name {
        if pairs.iter().any(|(k, _)| k == "__name__") {
            return Err(SeriesError::Metric {
                at: 0,
                message: "metric name given twice (as a name and as __name__)".into(),
            });
        }
        pairs.push(("__name__".into(), n));
    }
    Ok(Labels::new(pairs))
}

struct MetricParser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl MetricParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn err(&self, message: &str) -> SeriesError {
        SeriesError::Metric {
            at: self.i,
            message: message.into(),
        }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, with `:` too for metric names.
    fn identifier(&mut self, colon: bool) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || (colon && c == b':'))
        {
            self.i += 1;
        }
        self.text[start..self.i].to_string()
    }

    /// A Go-style string: `"…"` or `'…'` with escapes, or raw `` `…` ``.
    fn string(&mut self) -> Result<String, SeriesError> {
        let quote = self.s[self.i];
        let start = self.i;
        self.i += 1;
        let rest = &self.text[self.i..];
        if quote == b'`' {
            return match rest.find('`') {
                Some(end) => {
                    self.i += end + 1;
                    Ok(rest[..end].to_string())
                }
                None => Err(SeriesError::Metric {
                    at: start,
                    message: "unterminated raw string".into(),
                }),
            };
        }
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((off, c)) = chars.next() {
            let here = self.i + off;
            let bad = |m: &str| SeriesError::Metric {
                at: here,
                message: m.into(),
            };
            match c {
                c if c as u32 == u32::from(quote) => {
                    self.i += off + 1;
                    return Ok(out);
                }
                '\n' => return Err(bad("unterminated quoted string")),
                '\\' => {
                    let (_, e) = chars.next().ok_or_else(|| bad("unterminated escape"))?;
                    match e {
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'v' => out.push('\u{b}'),
                        '\\' => out.push('\\'),
                        e if e as u32 == u32::from(quote) => out.push(e),
                        'x' | 'u' | 'U' | '0'..='7' => {
                            let (count, radix) = match e {
                                'x' => (2, 16),
                                'u' => (4, 16),
                                'U' => (8, 16),
                                _ => (2, 8),
                            };
                            let mut digits = String::new();
                            if radix == 8 {
                                digits.push(e);
                            }
                            for _ in 0..count {
                                let (_, d) =
                                    chars.next().ok_or_else(|| bad("unterminated escape"))?;
                                digits.push(d);
                            }
                            let code = u32::from_str_radix(&digits, radix)
                                .map_err(|_| bad("invalid escape sequence"))?;
                            if radix == 8 && code > 255 {
                                return Err(bad("octal escape value > 255"));
                            }
                            if e == 'x' || radix == 8 {
                                // A byte; Go strings may hold invalid UTF-8, Rust's may not.
                                if code > 0x7f {
                                    return Err(bad(
                                        "non-ASCII byte escapes are not supported; write the character itself",
                                    ));
                                }
                            }
                            out.push(
                                char::from_u32(code).ok_or_else(|| {
                                    bad("escape is an invalid Unicode code point")
                                })?,
                            );
                        }
                        _ => return Err(bad("unknown escape sequence")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(SeriesError::Metric {
            at: start,
            message: "unterminated quoted string".into(),
        })
    }
}

/// Parses a value sequence into one step per interval.
pub fn parse_values(text: &str) -> Result<Vec<Step>, SeriesError> {
    let mut out = Vec::new();
    for item in text
        .split([' ', '\t', '\n', '\r'])
        .filter(|s| !s.is_empty())
    {
        expand_item(item, &mut out)?;
        if out.len() > MAX_VALUES {
            return Err(SeriesError::TooMany);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Stale,
    Plus,
    Minus,
    Times,
    Blank,
    /// An unsigned integer's text, kept for the repetition count.
    Int(String),
}

fn lex_item(item: &str) -> Result<Vec<Tok>, SeriesError> {
    let err = |message: String| SeriesError::Value {
        item: item.to_string(),
        message,
    };
    let b = item.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'+' => {
                toks.push(Tok::Plus);
                i += 1;
            }
            b'-' => {
                toks.push(Tok::Minus);
                i += 1;
            }
            b'x' => {
                toks.push(Tok::Times);
                i += 1;
            }
            b'_' => {
                toks.push(Tok::Blank);
                i += 1;
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let start = i;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if b.get(i) == Some(&b'.') {
                    i += 1;
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
                if matches!(b.get(i), Some(b'e' | b'E')) {
                    i += 1;
                    if matches!(b.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
                if b.get(i)
                    .is_some_and(|&n| n != b'x' && (n.is_ascii_alphanumeric() || n == b'_'))
                {
                    return Err(err(format!("bad number syntax: {:?}", &item[start..=i])));
                }
                let text = &item[start..i];
                if text.bytes().all(|d| d.is_ascii_digit()) {
                    toks.push(Tok::Int(text.to_string()));
                } else {
                    toks.push(Tok::Num(
                        go_number(text)
                            .ok_or_else(|| err(format!("error parsing number: {text:?}")))?,
                    ));
                }
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while b
                    .get(i)
                    .is_some_and(|&n| n.is_ascii_alphanumeric() || n == b'_' || n == b':')
                {
                    i += 1;
                }
                let word = &item[start..i];
                match word.to_ascii_lowercase().as_str() {
                    "inf" => toks.push(Tok::Num(f64::INFINITY)),
                    "nan" => toks.push(Tok::Num(f64::NAN)),
                    _ if word == "stale" => toks.push(Tok::Stale),
                    _ => {
                        return Err(err(format!(
                            "unexpected identifier {word:?}, expected a number or \"stale\""
                        )));
                    }
                }
            }
            _ => {
                let ch = item[i..].chars().next().unwrap_or('?');
                return Err(err(format!(
                    "unexpected character in series values: {ch:?}"
                )));
            }
        }
    }
    Ok(toks)
}

/// A number as Prometheus's parser reads it: Go's `ParseInt(s, 0, 64)` (so a leading `0`
/// is octal), else `ParseFloat`.
fn go_number(text: &str) -> Option<f64> {
    let digits_only = !text.is_empty() && text.bytes().all(|d| d.is_ascii_digit());
    if digits_only {
        let parsed = if text.len() > 1 && text.starts_with('0') {
            i64::from_str_radix(&text[1..], 8).ok()
        } else {
            text.parse::<i64>().ok()
        };
        if let Some(n) = parsed {
            return Some(n as f64);
        }
    }
    text.parse::<f64>().ok()
}

fn expand_item(item: &str, out: &mut Vec<Step>) -> Result<(), SeriesError> {
    let err = |message: &str| SeriesError::Value {
        item: item.to_string(),
        message: message.into(),
    };
    let toks = lex_item(item)?;
    let number = |t: &Tok| match t {
        Tok::Num(v) => Some(*v),
        Tok::Int(s) => go_number(s),
        _ => None,
    };
    let count = |t: &Tok| -> Result<usize, SeriesError> {
        match t {
            Tok::Int(s) => s
                .parse::<u64>()
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n <= MAX_VALUES)
                .ok_or(SeriesError::TooMany),
            _ => Err(err(
                "invalid repetition in series values: expected an unsigned integer after 'x'",
            )),
        }
    };
    // The first value: `stale`, a number, or a signed number.
    let (first, rest): (Option<f64>, &[Tok]) = match toks.as_slice() {
        [Tok::Blank] => {
            out.push(None);
            return Ok(());
        }
        [Tok::Blank, Tok::Times, n] => {
            let n = count(n)?;
            out.extend(std::iter::repeat_n(None, n));
            return Ok(());
        }
        [Tok::Stale, rest @ ..] => (Some(stale_marker()), rest),
        [Tok::Plus, n, rest @ ..] => (number(n), rest),
        [Tok::Minus, n, rest @ ..] => (number(n).map(|v| -v), rest),
        [n, rest @ ..] => (number(n), rest),
        [] => return Err(err("empty value")),
    };
    let Some(mut value) = first else {
        return Err(err("expected a number, \"stale\", \"_\" or \"_xN\""));
    };
    match rest {
        [] => out.push(Some(value)),
        [Tok::Times, n] => {
            let n = count(n)?;
            if out.len() + n >= MAX_VALUES {
                return Err(SeriesError::TooMany);
            }
            out.extend(std::iter::repeat_n(Some(value), n + 1));
        }
        [sign @ (Tok::Plus | Tok::Minus), step, Tok::Times, n] => {
            let step = number(step).ok_or_else(|| err("expected a number after '+' or '-'"))?;
            let step = if *sign == Tok::Minus { -step } else { step };
            let n = count(n)?;
            if out.len() + n >= MAX_VALUES {
                return Err(SeriesError::TooMany);
            }
            out.push(Some(value));
            for _ in 0..n {
                value += step;
                out.push(Some(value));
            }
        }
        _ => {
            return Err(err(
                "expected 'a', 'axN', 'a+bxN', 'a-bxN', 'stale', '_' or '_xN'",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::is_stale_marker;
    use proptest::prelude::*;

    fn vals(s: &str) -> Vec<Option<f64>> {
        parse_values(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(vals("-2+4x3"), [-2.0, 2.0, 6.0, 10.0].map(Some));
        assert_eq!(vals(" 1-2x4"), [1.0, -1.0, -3.0, -5.0, -7.0].map(Some));
        assert_eq!(vals("1x4"), [1.0; 5].map(Some));
        assert_eq!(vals("1 _x3 4"), [Some(1.0), None, None, None, Some(4.0)]);
        assert_eq!(vals("_ 2"), [None, Some(2.0)]);
        assert_eq!(vals("1x0 _x0"), [Some(1.0)]);
        assert_eq!(vals("10+10x2 30+20x5").len(), 9);
        assert_eq!(vals(""), []);
    }

    #[test]
    fn increments_accumulate_like_prometheus() {
        assert_eq!(
            vals("0.1+0.1x2"),
            [Some(0.1), Some(0.2), Some(0.30000000000000004)]
        );
    }

    #[test]
    fn numbers_as_go_reads_them() {
        assert_eq!(
            vals("1e3 .5 1.5e-1 010 08"),
            [1000.0, 0.5, 0.15, 8.0, 8.0].map(Some)
        );
        let v = vals("Inf -Inf +inf NaN nan");
        assert_eq!(v[0], Some(f64::INFINITY));
        assert_eq!(v[1], Some(f64::NEG_INFINITY));
        assert_eq!(v[2], Some(f64::INFINITY));
        assert!(v[3].is_some_and(f64::is_nan) && !v[3].is_some_and(is_stale_marker));
        assert!(v[4].is_some_and(f64::is_nan));
        assert_eq!(vals("-1x2"), [-1.0; 3].map(Some));
        assert_eq!(vals("1e3x1"), [1000.0; 2].map(Some));
    }

    #[test]
    fn stale_is_the_stale_marker() {
        let v = vals("1 stale 2");
        assert!(v[1].is_some_and(is_stale_marker));
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn bad_values_say_which() {
        for bad in [
            "1x", "x3", "1+x3", "1+2", "1x3x4", "abc", "stalex2", "0x1f", "1_000", "1x1.5", "1,2",
            "1++2x3", "+", "_x", "_1", "Infx3",
        ] {
            let e = parse_values(bad).expect_err(bad);
            assert!(e.to_string().contains("value"), "{bad}: {e}");
        }
        assert_eq!(parse_values("1x99999999999"), Err(SeriesError::TooMany));
    }

    #[test]
    fn metrics_in_series_notation() {
        let l = parse_metric(r#"up{job="api", instance='a:1',}"#).unwrap();
        assert_eq!(l.to_string(), r#"up{instance="a:1", job="api"}"#);
        let l = parse_metric(r#"{job="x\"y\n"}"#).unwrap();
        assert_eq!(l.get("job"), Some("x\"y\n"));
        assert_eq!(l.metric_name(), None);
        let l = parse_metric("job:up:sum").unwrap();
        assert_eq!(l.metric_name(), Some("job:up:sum"));
        let l = parse_metric(r#"{"my.metric", "a.b"="c"}"#).unwrap();
        assert_eq!(l.metric_name(), Some("my.metric"));
        assert_eq!(l.get("a.b"), Some("c"));
        let l = parse_metric("up{a=`raw\\n`}").unwrap();
        assert_eq!(l.get("a"), Some("raw\\n"));
        assert_eq!(parse_metric(" up { } ").unwrap().len(), 1);
        assert_eq!(parse_metric("{}").unwrap().len(), 0);
    }

    #[test]
    fn bad_metrics_are_refused() {
        assert_eq!(parse_metric(""), Err(SeriesError::EmptyMetric));
        for bad in [
            "up{a=~\"x\"}",
            "up{a!=\"x\"}",
            "up{a=\"x\"",
            "up{a=x}",
            "up{a=\"1\",a=\"2\"}",
            "up{1a=\"x\"}",
            "up other",
            "up{a=\"x\"} 1 2",
            "{\"x\",\"y\"}",
            "up{\"x\"}",
            "up{a=\"\\q\"}",
        ] {
            assert!(parse_metric(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn expanding_matches_a_model(a in -1000i32..1000, b in -50i32..50, n in 0usize..40) {
            let text = if b >= 0 { format!("{a}+{b}x{n}") } else { format!("{a}-{}x{n}", -b) };
            let got = parse_values(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want: Vec<Step> = (0..=n).map(|i| Some(f64::from(a) + f64::from(b) * i as f64)).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn sequences_concatenate(items in proptest::collection::vec((0u8..4, 0u32..100, 0usize..5), 0..20)) {
            let mut text = String::new();
            let mut want = Vec::new();
            for (kind, v, n) in items {
                match kind {
                    0 => { text.push_str(&format!(" {v}")); want.push(Some(f64::from(v))); }
                    1 => { text.push_str(&format!(" {v}x{n}")); want.extend(std::iter::repeat_n(Some(f64::from(v)), n + 1)); }
                    2 => { text.push_str(" _"); want.push(None); }
                    _ => { text.push_str(&format!(" _x{n}")); want.extend(std::iter::repeat_n(None, n)); }
                }
            }
            let got = parse_values(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got, want);
        }

        #[test]
        fn never_panics(s in "[0-9a-z_+\\-x. ]{0,30}") {
            let _ = parse_values(&s);
        }

        #[test]
        fn metric_round_trips(name in "[a-z_][a-z0-9_:]{0,8}", labels in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,6}", "[ -~]{1,8}", 0..4)) {
            let labels: std::collections::BTreeMap<String, String> = labels.into_iter().filter(|(k, _)| k != "__name__").collect();
            let body: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", crate::rules::unittest::format::go_quote(v))).collect();
            let text = format!("{name}{{{}}}", body.join(", "));
            let got = parse_metric(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(got.metric_name(), Some(name.as_str()));
            for (k, v) in &labels {
                prop_assert_eq!(got.get(k), Some(v.as_str()));
            }
        }
    }
}
