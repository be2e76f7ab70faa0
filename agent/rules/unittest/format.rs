//! How promtool prints things, so that `vitals test rules` reports read the same: Go's
//! `strconv.Quote`, `labels.Labels.String()`, `strconv.FormatFloat(v, 'E', -1, 64)`,
//! `model.Duration.String()` and `time.Duration.String()`.

use std::fmt::Write as _;

/// Go's `strconv.Quote` (the template engine's implementation, which follows Go's
/// `IsPrint` table): double quotes, `\"` and `\\`, the C escapes, `\xNN` for other ASCII
/// control characters, `\u`/`\U` for non-printable Unicode.
pub fn go_quote(s: &str) -> String {
    crate::gotemplate::gofmt::quote_with(s, '"', false)
}

/// Whether Go's `model.LabelName.IsValidLegacy` holds: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_legacy_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's `labels.Labels.String()`: `{__name__="up", job="a"}`, pairs in the given order.
pub fn labels_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_legacy_label_name(name) {
            out.push_str(name);
        } else {
            out.push_str(&go_quote(name));
        }
        out.push('=');
        out.push_str(&go_quote(value));
    }
    out.push('}');
    out
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: the shortest mantissa that reads back
/// exactly, and an exponent with a sign and at least two digits (`5E+01`, `1.5E-03`).
pub fn format_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:E}");
    match s.split_once('E') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}E{sign}{digits:0>2}")
        }
        None => s,
    }
}

const MS_PER_SECOND: i64 = 1000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Prometheus's `model.Duration.String()`: `1m`, `1h30m`, `0s`; years and weeks only when
/// they divide the duration exactly (`90d`, not `12w6d`).
pub fn model_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    let units: [(&str, i64, bool); 7] = [
        ("y", 365 * MS_PER_DAY, true),
        ("w", 7 * MS_PER_DAY, true),
        ("d", MS_PER_DAY, false),
        ("h", MS_PER_HOUR, false),
        ("m", MS_PER_MINUTE, false),
        ("s", MS_PER_SECOND, false),
        ("ms", 1, false),
    ];
    for (unit, size, exact) in units {
        if exact && rest % size != 0 {
            continue;
        }
        let n = rest / size;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
            rest -= n * size;
        }
    }
    out
}

/// Go's `time.Duration.String()` of a whole number of milliseconds: `0s`, `500ms`, `1m0s`,
/// `1h0m0s`, `1.5s`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    if abs < 1000 {
        return format!("{sign}{abs}ms");
    }
    let hours = abs / 3_600_000;
    let minutes = (abs / 60_000) % 60;
    let millis = abs % 60_000;
    let mut secs = format!("{}", millis / 1000);
    if !millis.is_multiple_of(1000) {
        let frac = format!("{:03}", millis % 1000);
        secs.push('.');
        secs.push_str(frac.trim_end_matches('0'));
    }
    let mut out = String::from(sign);
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    out.push_str(&secs);
    out.push('s');
    out
}

/// promtool's `indentLines`: every line but the first gets `indent` in front.
pub fn indent_lines(text: &str, indent: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("x\ny\t\u{1}"), r#""x\ny\t\x01""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
    }

    #[test]
    fn labels_like_prometheus() {
        assert_eq!(
            labels_string([("__name__", "up"), ("job", "a\"b")]),
            r#"{__name__="up", job="a\"b"}"#
        );
        assert_eq!(labels_string([]), "{}");
        assert_eq!(labels_string([("a.b", "1")]), r#"{"a.b"="1"}"#);
    }

    #[test]
    fn floats_like_format_float_e() {
        assert_eq!(format_float_e(50.0), "5E+01");
        assert_eq!(format_float_e(1.0), "1E+00");
        assert_eq!(format_float_e(0.1), "1E-01");
        assert_eq!(format_float_e(1234.5), "1.2345E+03");
        assert_eq!(format_float_e(-2.5e-300), "-2.5E-300");
        assert_eq!(format_float_e(1e100), "1E+100");
        assert_eq!(format_float_e(f64::NAN), "NaN");
        assert_eq!(format_float_e(f64::INFINITY), "+Inf");
        assert_eq!(format_float_e(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float_e(0.0), "0E+00");
    }

    #[test]
    fn durations_like_model_and_time() {
        assert_eq!(model_duration(0), "0s");
        assert_eq!(model_duration(120_000), "2m");
        assert_eq!(model_duration(5_400_000), "1h30m");
        assert_eq!(model_duration(90 * MS_PER_DAY), "90d");
        assert_eq!(model_duration(14 * MS_PER_DAY), "2w");
        assert_eq!(model_duration(1_500), "1s500ms");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(500), "500ms");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(3_661_500), "1h1m1.5s");
        assert_eq!(go_duration(30_000), "30s");
        assert_eq!(go_duration(-90_000), "-1m30s");
    }

    #[test]
    fn indents_all_lines_but_the_first() {
        assert_eq!(indent_lines("a\nb\nc", "  "), "a\n  b\n  c");
        assert_eq!(indent_lines("[]", "  "), "[]");
    }
}
