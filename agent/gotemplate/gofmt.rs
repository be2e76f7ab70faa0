//! Go's `fmt` and `strconv` output, reproduced byte for byte for what templates print:
//! float formatting (`%v`, `%g`, `%e`, `%f` with Go's exponent rules and spelling), `printf`
//! verbs and flags, `strconv.Quote`, and `time.Time`'s `String` and `Format`.
//!
//! Digits come from Rust's float formatting, which is exact (shortest round-trip for `{:e}`,
//! correctly rounded for `{:.N}`), the same digits Go's `strconv` produces; only the layout
//! differs, and that layout is ported from Go's `strconv/ftoa.go` `formatDigits`.

use std::fmt::Write as _;

use crate::civil;

/// Decimal digits of |v| (no leading/trailing zeros, at least one digit) and the decimal point
/// position: |v| = 0.d1d2d3... × 10^dp. Zero is digits "0", dp 1... normalised to nd=0 in Go;
/// callers treat the "0" digit string as zero.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

fn digits_from_exp(s: &str) -> Digits {
    // `s` is Rust's `{:e}` form of a non-negative finite number: "d[.ddd]e[-]x".
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(|b| b.is_ascii_digit()).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    if d.iter().all(|&b| b == b'0') {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    Digits { d, dp: exp + 1 }
}

fn shortest_digits(v: f64) -> Digits {
    digits_from_exp(&format!("{:e}", v.abs()))
}

/// Most digits after the point asked of Rust's formatter: an f64's exact decimal expansion
/// has fewer than 1,100 significant digits, so any more are zeros, which the callers pad. Go
/// allows precisions up to 1,000,000; Rust's formatter panics past 65,535 (found by fuzzing:
/// `{{ printf "%.97840v" $value }}`).
const MAX_EXACT_DIGITS: usize = 1100;

/// Digits rounded to `n` significant digits (n ≥ 1), trailing zeros trimmed.
fn rounded_digits(v: f64, n: usize) -> Digits {
    digits_from_exp(&format!(
        "{:.*e}",
        n.saturating_sub(1).min(MAX_EXACT_DIGITS),
        v.abs()
    ))
}

fn fmt_e(out: &mut String, neg: bool, digs: &Digits, prec: usize, upper: bool) {
    if neg {
        out.push('-');
    }
    out.push(digs.d.first().map_or('0', |&b| b as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digs.d.get(i).map_or('0', |&b| b as char));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    let _ = write!(out, "{e}");
}

fn fmt_f(out: &mut String, neg: bool, digs: &Digits, prec: usize) {
    if neg {
        out.push('-');
    }
    if digs.dp > 0 {
        for i in 0..digs.dp as usize {
            out.push(digs.d.get(i).map_or('0', |&b| b as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i64 {
            let j = digs.dp as i64 + i;
            let ch = if j >= 0 {
                digs.d.get(j as usize).map_or('0', |&b| b as char)
            } else {
                '0'
            };
            out.push(ch);
        }
    }
}

/// strconv's spelling of the non-finite values.
fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// `strconv.FormatFloat(v, 'g', prec, 64)`; `prec` None is the shortest representation.
pub(crate) fn format_g(v: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let neg = v.is_sign_negative();
    let (digs, shortest, mut prec) = match prec {
        None => {
            let d = shortest_digits(v);
            let n = d.d.len();
            (d, true, n)
        }
        Some(p) => {
            let p = p.max(1);
            (rounded_digits(v, p), false, p)
        }
    };
    let nd = digs.d.len() as i64;
    let dp = digs.dp as i64;
    let mut eprec = prec as i64;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    let mut out = String::new();
    if !digs.d.is_empty() && (exp < -4 || exp >= eprec) {
        if prec as i64 > nd {
            prec = nd as usize;
        }
        fmt_e(&mut out, neg, &digs, prec.saturating_sub(1), upper);
        return out;
    }
    if prec as i64 > dp {
        prec = nd as usize;
    }
    fmt_f(&mut out, neg, &digs, (prec as i64 - dp).max(0) as usize);
    out
}

/// `strconv.FormatFloat(v, 'e', prec, 64)`.
pub(crate) fn format_e(v: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let digs = digits_from_exp(&format!("{:.*e}", prec.min(MAX_EXACT_DIGITS), v.abs()));
    let mut out = String::new();
    fmt_e(&mut out, v.is_sign_negative(), &digs, prec, upper);
    out
}

/// `strconv.FormatFloat(v, 'f', prec, 64)`.
pub(crate) fn format_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let mut s = format!("{:.*}", prec.min(MAX_EXACT_DIGITS), v.abs());
    // Past the exact expansion every digit is a zero.
    s.extend(std::iter::repeat_n(
        '0',
        prec.saturating_sub(MAX_EXACT_DIGITS),
    ));
    if v.is_sign_negative() {
        format!("-{s}")
    } else {
        s
    }
}

/// `%x` of a float: Go's hexadecimal mantissa form, `-0x1.8p+01`, shortest digits unless a
/// precision is given.
pub(crate) fn format_hex_float(v: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let neg = v.is_sign_negative();
    let bits = v.abs().to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        if mant == 0 {
            exp = 0;
        } else {
            // Subnormal: normalise so the leading 1 sits at bit 52.
            exp = -1022;
            while mant & (1u64 << 52) == 0 {
                mant <<= 1;
                exp -= 1;
            }
            mant &= (1u64 << 52) - 1;
        }
    } else {
        exp -= 1023;
    }
    let is_zero = v == 0.0;
    // 52 fraction bits = 13 hex digits.
    let mut frac = mant;
    let mut ndig = 13usize;
    let mut lead = if is_zero { 0u64 } else { 1u64 };
    if let Some(p) = prec {
        if p < 13 {
            let shift = (13 - p) * 4;
            let rem = frac & ((1u64 << shift) - 1);
            frac >>= shift;
            let half = 1u64 << (shift - 1);
            if rem > half || (rem == half && frac & 1 == 1) {
                frac += 1;
                if frac >> (p * 4) != 0 {
                    frac = 0;
                    lead += 1;
                    if lead == 2 {
                        lead = 1;
                        exp += 1;
                    }
                }
            }
        }
        ndig = p.min(13);
    } else {
        while ndig > 0 && frac & 0xf == 0 {
            frac >>= 4;
            ndig -= 1;
        }
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(if upper { "0X" } else { "0x" });
    out.push(char::from(b'0' + lead as u8));
    if ndig > 0 || prec.is_some_and(|p| p > 0) {
        out.push('.');
        let hex = if upper {
            format!("{:0width$X}", frac, width = ndig)
        } else {
            format!("{:0width$x}", frac, width = ndig)
        };
        out.push_str(&hex);
        if let Some(p) = prec {
            for _ in ndig..p {
                out.push('0');
            }
        }
    }
    out.push(if upper { 'P' } else { 'p' });
    let e = if is_zero { 0 } else { exp };
    out.push(if e < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", e.unsigned_abs());
    out
}

/// Go's `unicode.IsPrint`, approximated by Rust's character classes: graphic characters and
/// the ASCII space are printable; controls, other spaces and format characters are not.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xD800..=0xDFFF | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF)
}

/// `strconv.Quote` (or `QuoteRune` with `'` as the quote).
pub(crate) fn quote_with(s: &str, quote: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        if c == quote || c == '\\' {
            out.push('\\');
            out.push(c);
            continue;
        }
        if is_print(c) && (!ascii_only || c.is_ascii()) {
            out.push(c);
            continue;
        }
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
    out
}

/// `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// `fmt`'s `%#U`-style rendering used in lexer errors: `U+00A0`, or `U+005E '^'` when printable.
pub(crate) fn unicode_name(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

// ---------------------------------------------------------------------------------------------
// time.Time
// ---------------------------------------------------------------------------------------------

/// A UTC instant with nanosecond resolution, as Go's `time.Time` in UTC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoTime {
    /// Nanoseconds since the Unix epoch.
    pub nanos: i128,
}

impl GoTime {
    /// The instant `ms` milliseconds after the Unix epoch.
    pub fn from_unix_millis(ms: i64) -> GoTime {
        GoTime {
            nanos: i128::from(ms) * 1_000_000,
        }
    }
}

pub(crate) struct Civil {
    /// The date and time of day.
    pub dt: civil::DateTime,
    pub nano: u32,
}

impl std::ops::Deref for Civil {
    type Target = civil::DateTime;

    /// The date and time fields (`year`, `month`, …) read through.
    fn deref(&self) -> &civil::DateTime {
        &self.dt
    }
}

/// Go's month names (`time.Month.String()`).
pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

impl GoTime {
    pub fn unix_seconds(&self) -> i64 {
        self.nanos.div_euclid(1_000_000_000) as i64
    }

    pub(crate) fn civil(&self) -> Civil {
        Civil {
            dt: civil::DateTime::from_unix(self.unix_seconds()),
            nano: self.nanos.rem_euclid(1_000_000_000) as u32,
        }
    }

    /// `time.Time.String()` for a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
    pub fn go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// `time.Time.Format(layout)` for a UTC time.
    pub fn format(&self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::new();
        let b = layout.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let rest = &layout[i..];
            let take = |tok: &str| rest.starts_with(tok).then_some(tok.len());
            if let Some(n) = take("January") {
                out.push_str(MONTHS[(c.month - 1) as usize]);
                i += n;
            } else if let Some(n) = take("Jan") {
                out.push_str(&MONTHS[(c.month - 1) as usize][..3]);
                i += n;
            } else if let Some(n) = take("Monday") {
                out.push_str(DAYS[c.weekday as usize]);
                i += n;
            } else if let Some(n) = take("Mon") {
                out.push_str(&DAYS[c.weekday as usize][..3]);
                i += n;
            } else if let Some(n) = take("MST") {
                out.push_str("UTC");
                i += n;
            } else if let Some(n) = take("2006") {
                let _ = write!(out, "{:04}", c.year);
                i += n;
            } else if let Some(n) = take("002") {
                let _ = write!(out, "{:03}", c.yday);
                i += n;
            } else if let Some(n) = take("__2") {
                let _ = write!(out, "{:>3}", c.yday);
                i += n;
            } else if let Some(n) = take("01") {
                let _ = write!(out, "{:02}", c.month);
                i += n;
            } else if let Some(n) = take("02") {
                let _ = write!(out, "{:02}", c.day);
                i += n;
            } else if let Some(n) = take("_2") {
                let _ = write!(out, "{:>2}", c.day);
                i += n;
            } else if let Some(n) = take("06") {
                let _ = write!(out, "{:02}", c.year.rem_euclid(100));
                i += n;
            } else if let Some(n) = take("15") {
                let _ = write!(out, "{:02}", c.hour);
                i += n;
            } else if let Some(n) = take("03") {
                let h = if c.hour.is_multiple_of(12) {
                    12
                } else {
                    c.hour % 12
                };
                let _ = write!(out, "{h:02}");
                i += n;
            } else if let Some(n) = take("04") {
                let _ = write!(out, "{:02}", c.minute);
                i += n;
            } else if let Some(n) = take("05") {
                let _ = write!(out, "{:02}", c.second);
                i += n;
            } else if let Some(n) = take("PM") {
                out.push_str(if c.hour >= 12 { "PM" } else { "AM" });
                i += n;
            } else if let Some(n) = take("pm") {
                out.push_str(if c.hour >= 12 { "pm" } else { "am" });
                i += n;
            } else if let Some(n) = take("-07:00:00").or_else(|| take("Z07:00:00")) {
                out.push_str(if rest.starts_with('Z') {
                    "Z"
                } else {
                    "+00:00:00"
                });
                i += n;
            } else if let Some(n) = take("-0700").or_else(|| take("Z0700")) {
                out.push_str(if rest.starts_with('Z') { "Z" } else { "+0000" });
                i += n;
            } else if let Some(n) = take("-07:00").or_else(|| take("Z07:00")) {
                out.push_str(if rest.starts_with('Z') { "Z" } else { "+00:00" });
                i += n;
            } else if let Some(n) = take("-07").or_else(|| take("Z07")) {
                out.push_str(if rest.starts_with('Z') { "Z" } else { "+00" });
                i += n;
            } else if let Some(n) = frac_token(rest) {
                // `.000` / `,000` (fixed digits) or `.999` (trailing zeros trimmed), only when
                // not followed by another digit.
                let sep = rest.as_bytes()[0] as char;
                let fixed = rest.as_bytes()[1] == b'0';
                let digits = n - 1;
                let full = format!("{:09}", c.nano);
                let mut frac = full[..digits.min(9)].to_string();
                if !fixed {
                    while frac.ends_with('0') {
                        frac.pop();
                    }
                }
                if !frac.is_empty() {
                    out.push(sep);
                    out.push_str(&frac);
                }
                i += n;
            } else if let Some(n) = take("1") {
                let _ = write!(out, "{}", c.month);
                i += n;
            } else if let Some(n) = take("2") {
                let _ = write!(out, "{}", c.day);
                i += n;
            } else if let Some(n) = take("3") {
                let h = if c.hour.is_multiple_of(12) {
                    12
                } else {
                    c.hour % 12
                };
                let _ = write!(out, "{h}");
                i += n;
            } else if let Some(n) = take("4") {
                let _ = write!(out, "{}", c.minute);
                i += n;
            } else if let Some(n) = take("5") {
                let _ = write!(out, "{}", c.second);
                i += n;
            } else {
                let ch = rest.chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }
}

fn frac_token(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let d = b[1];
    let mut j = 1;
    while j < b.len() && b[j] == d {
        j += 1;
    }
    if j < b.len() && b[j].is_ascii_digit() {
        return None;
    }
    Some(j)
}

/// `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    if u == 0 {
        return "0s".to_string();
    }
    // Built right to left, as Go does.
    let mut out: Vec<char> = Vec::new();
    let frac = |out: &mut Vec<char>, v: u64, prec: u32| -> u64 {
        let mut v = v;
        let mut printed = false;
        for _ in 0..prec {
            let digit = v % 10;
            printed = printed || digit != 0;
            if printed {
                out.push(char::from(b'0' + digit as u8));
            }
            v /= 10;
        }
        if printed {
            out.push('.');
        }
        v
    };
    let int = |out: &mut Vec<char>, v: u64| {
        for c in v.to_string().chars().rev() {
            out.push(c);
        }
    };
    if u < 1_000_000_000 {
        out.push('s');
        let prec = if u < 1_000 {
            out.push('n');
            0
        } else if u < 1_000_000 {
            out.push('µ');
            3
        } else {
            out.push('m');
            6
        };
        u = frac(&mut out, u, prec);
        int(&mut out, u);
    } else {
        out.push('s');
        u = frac(&mut out, u, 9);
        int(&mut out, u % 60);
        u /= 60;
        if u > 0 {
            out.push('m');
            int(&mut out, u % 60);
            u /= 60;
            if u > 0 {
                out.push('h');
                int(&mut out, u);
            }
        }
    }
    if neg {
        out.push('-');
    }
    out.iter().rev().collect()
}
