//! JSON the way Prometheus writes it, so clients that compare text (and people diffing two
//! servers' answers) see the same bytes.
//!
//! Prometheus's Go encoder escapes `<`, `>`, `&`, U+2028 and U+2029 and writes control
//! characters as `\u00XX`; sample values are strings from `strconv.FormatFloat(v, 'f', -1, 64)`
//! (`'e'` below 1e-6 and from 1e21 on, `NaN`, `+Inf`, `-Inf`); sample timestamps are JSON
//! numbers of seconds with the milliseconds written out (`1435781451.781`, `1435781460`);
//! other floats follow Go's `encoding/json`; times are RFC 3339 with nanoseconds trimmed.
//!
//! [`GoFormatter`] gives `serde_json` the same string and float rules; [`write_str`],
//! [`write_timestamp`] and [`write_value`] write the hot path (query results) straight into a
//! buffer.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

use crate::store::Labels;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` as a JSON string (quotes included), escaped as Go's encoder escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_contents(out, s);
    out.push(b'"');
}

fn write_str_contents(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | b'<' | b'>' | b'&' => Some(b""),
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                Some(b"")
            }
            _ => None,
        };
        let Some(esc) = escape else {
            i += 1;
            continue;
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            if b == 0xe2 {
                out.extend_from_slice(b"\\u202");
                out.push(HEX[usize::from(bytes[i + 2] & 0xf)]);
                i += 3;
                start = i;
                continue;
            }
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A sample timestamp (ms) as Prometheus writes it: seconds, then `.` and exactly three
/// digits unless the milliseconds are zero.
pub fn write_timestamp(out: &mut Vec<u8>, t_ms: i64) {
    let neg = t_ms < 0;
    let abs = t_ms.unsigned_abs();
    if neg {
        out.push(b'-');
    }
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{}", abs / 1000);
    let frac = abs % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// A sample value as a JSON string, formatted as Prometheus formats it.
pub fn write_value(out: &mut Vec<u8>, v: f64) {
    out.push(b'"');
    out.extend_from_slice(format_value(v).as_bytes());
    out.push(b'"');
}

/// `strconv.FormatFloat(v, 'f', -1, 64)`, switching to `'e'` below 1e-6 and from 1e21 on (as
/// Prometheus's JSON does).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        go_exp(v)
    } else {
        // Rust's Display is the shortest representation that round-trips, with no exponent:
        // the same digits as Go's 'f' with precision -1.
        v.to_string()
    }
}

/// `strconv.FormatFloat(v, 'e', -1, 64)`: shortest mantissa, exponent with a sign and at
/// least two digits (`1e+00`, `1.5e-07`). Used for alert values.
pub fn go_exp(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    if digits.len() < 2 {
        format!("{mantissa}e{sign}0{digits}")
    } else {
        format!("{mantissa}e{sign}{digits}")
    }
}

/// A float as Go's `encoding/json` writes it: like [`format_value`] but `1e-7` rather than
/// `1e-07`.
fn go_json_float(v: f64) -> String {
    let mut s = format_value(v);
    let n = s.len();
    let b = s.as_bytes();
    if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
        s.remove(n - 2);
    }
    s
}

/// `serde_json` formatter with Go's string escaping and float formatting.
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(fragment.len());
        write_str_contents(&mut buf, fragment);
        writer.write_all(&buf)
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let byte = match char_escape {
            CharEscape::Quote => b'"',
            CharEscape::ReverseSolidus => b'\\',
            CharEscape::Solidus => b'/',
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0c,
            CharEscape::LineFeed => b'\n',
            CharEscape::CarriageReturn => b'\r',
            CharEscape::Tab => b'\t',
            CharEscape::AsciiControl(b) => b,
        };
        if byte == b'/' {
            return writer.write_all(b"/");
        }
        let mut buf = Vec::with_capacity(6);
        write_str_contents(&mut buf, char::from(byte).encode_utf8(&mut [0; 4]));
        writer.write_all(&buf)
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(go_json_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// Serializes `value` with [`GoFormatter`] into `out`.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, GoFormatter);
    value.serialize(&mut ser)
}

/// A label set as a JSON object, in name order (`{}` when empty).
pub fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &l.name);
        out.push(b':');
        write_str(out, &l.value);
    }
    out.push(b'}');
}

/// Labels serialized as a JSON object (for `serde` structs).
pub struct LabelsJson<'a>(pub &'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
            map.serialize_entry(&*l.name, &*l.value)?;
        }
        map.end()
    }
}

/// Milliseconds since the epoch as Go's `time.Time` JSON (RFC 3339, UTC, fraction trimmed);
/// `None` is Go's zero time, which Prometheus shows for a rule never evaluated.
pub fn rfc3339(t_ms: Option<i64>) -> String {
    let Some(t_ms) = t_ms else {
        return "0001-01-01T00:00:00Z".into();
    };
    let secs = t_ms.div_euclid(1000);
    let ms = t_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::civil::civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if ms != 0 {
        let frac = format!("{ms:03}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(t: i64) -> String {
        let mut v = Vec::new();
        write_timestamp(&mut v, t);
        String::from_utf8(v).unwrap_or_default()
    }

    fn s(x: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, x);
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn timestamps_as_prometheus_writes_them() {
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_435_781_460_000), "1435781460");
        assert_eq!(ts(1_435_781_451_780), "1435781451.780");
        assert_eq!(ts(1_435_781_451_005), "1435781451.005");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(-1_500), "-1.500");
        assert_eq!(ts(-5), "-0.005");
    }

    #[test]
    fn values_as_go_formats_them() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1234.5), "1234.5");
        assert_eq!(format_value(1e20), "100000000000000000000");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(0.000001), "0.000001");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(-2.5e300), "-2.5e+300");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn exponent_format_for_alert_values() {
        assert_eq!(go_exp(1.0), "1e+00");
        assert_eq!(go_exp(0.0), "0e+00");
        assert_eq!(go_exp(123.456), "1.23456e+02");
        assert_eq!(go_exp(-0.25), "-2.5e-01");
        assert_eq!(go_exp(1e100), "1e+100");
    }

    #[test]
    fn json_floats_as_encoding_json_writes_them() {
        assert_eq!(go_json_float(15.0), "15");
        assert_eq!(go_json_float(0.0015), "0.0015");
        assert_eq!(go_json_float(1e-7), "1e-7");
        assert_eq!(go_json_float(1e21), "1e+21");
    }

    #[test]
    fn strings_escaped_as_go_escapes_them() {
        assert_eq!(s("plain"), r#""plain""#);
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("x?a=1&b=<2>"), r#""x?a=1\u0026b=\u003c2\u003e""#);
        assert_eq!(s("l1\nl2\t\r"), r#""l1\nl2\t\r""#);
        assert_eq!(s("\u{1}\u{8}"), r#""\u0001\u0008""#);
        assert_eq!(s("a\u{2028}b\u{2029}"), r#""a\u2028b\u2029""#);
        assert_eq!(s("héllo ✓"), "\"héllo ✓\"");
    }

    #[test]
    fn serde_output_uses_the_same_rules() {
        let mut out = Vec::new();
        let v = serde_json::json!({"a": "<&>\u{1}\n", "f": 15.0, "g": 0.5, "e": 1e-7});
        to_writer(&mut out, &v).unwrap_or_default();
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"a":"\u003c\u0026\u003e\u0001\n","e":1e-7,"f":15,"g":0.5}"#
        );
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_435_781_451_781)), "2015-07-01T20:10:51.781Z");
        assert_eq!(rfc3339(Some(1_435_781_451_780)), "2015-07-01T20:10:51.78Z");
        assert_eq!(rfc3339(Some(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(Some(-1)), "1969-12-31T23:59:59.999Z");
    }

    proptest! {
        #[test]
        fn values_round_trip(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            let text = format_value(v);
            let back: f64 = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(back.to_bits(), v.to_bits());
        }

        #[test]
        fn escaped_strings_parse_back(text in any::<String>()) {
            let json = s(&text);
            let back: String = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{json}: {e}")))?;
            prop_assert_eq!(back, text);
        }
    }
}
