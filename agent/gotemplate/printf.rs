//! `printf`: Go's `fmt.Sprintf` over template values, with Go's verbs, flags, width,
//! precision, argument indexes and its in-band error markers (`%!d(string=x)`,
//! `%!v(MISSING)`, `%!(EXTRA ...)`, `%!(NOVERB)`).

use std::fmt::Write as _;

use super::gofmt;
use super::value::{Kind, Object, Value};

#[derive(Default, Clone, Copy)]
struct Flags {
    sharp: bool,
    /// `%#v`: Go-syntax representation.
    sharp_v: bool,
    /// `%+v`: struct field names.
    plus_v: bool,
    zero: bool,
    plus: bool,
    minus: bool,
    space: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

struct Printer {
    out: String,
    f: Flags,
}

/// `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut p = Printer {
        out: String::with_capacity(format.len() + 16),
        f: Flags::default(),
    };
    let b = format.as_bytes();
    let end = b.len();
    let mut i = 0;
    let mut arg_num = 0usize;
    let mut reordered = false;
    while i < end {
        let lasti = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            p.out.push_str(&format[lasti..i]);
        }
        if i >= end {
            break;
        }
        i += 1; // skip %
        p.f = Flags::default();
        while i < end {
            match b[i] {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = !p.f.minus,
                b'+' => p.f.plus = true,
                b'-' => {
                    p.f.minus = true;
                    p.f.zero = false;
                }
                b' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        // Argument index before the width.
        let mut good_arg_num = true;
        let mut after_index = false;
        if i < end && b[i] == b'[' {
            reordered = true;
            match parse_arg_index(&b[i..], args.len()) {
                Some((idx, w)) => {
                    arg_num = idx;
                    i += w;
                    after_index = true;
                }
                None => {
                    good_arg_num = false;
                    i += skip_bracket(&b[i..]);
                }
            }
        }
        // Width.
        if i < end && b[i] == b'*' {
            i += 1;
            match int_arg(args, arg_num) {
                Some(w) => {
                    arg_num += 1;
                    if w < 0 {
                        p.f.minus = true;
                        p.f.zero = false;
                    }
                    p.f.wid = Some(w.unsigned_abs() as usize);
                }
                None => {
                    if arg_num < args.len() {
                        arg_num += 1;
                    }
                    p.out.push_str("%!(BADWIDTH)");
                }
            }
            after_index = false;
        } else {
            let (n, w) = parse_num(&b[i..]);
            if w > 0 {
                if after_index {
                    good_arg_num = false;
                }
                p.f.wid = n;
                i += w;
            }
        }
        // Precision.
        if i < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            if i < end && b[i] == b'[' {
                reordered = true;
                match parse_arg_index(&b[i..], args.len()) {
                    Some((idx, w)) => {
                        arg_num = idx;
                        i += w;
                        after_index = true;
                    }
                    None => {
                        good_arg_num = false;
                        i += skip_bracket(&b[i..]);
                    }
                }
            }
            if i < end && b[i] == b'*' {
                i += 1;
                match int_arg(args, arg_num) {
                    Some(pr) if pr >= 0 => {
                        arg_num += 1;
                        p.f.prec = Some(pr as usize);
                    }
                    Some(_) => {
                        arg_num += 1;
                        p.out.push_str("%!(BADPREC)");
                    }
                    None => {
                        if arg_num < args.len() {
                            arg_num += 1;
                        }
                        p.out.push_str("%!(BADPREC)");
                    }
                }
                after_index = false;
            } else {
                let (n, w) = parse_num(&b[i..]);
                i += w;
                // `%.f` is precision 0; an over-large precision is ignored.
                p.f.prec = if w == 0 { Some(0) } else { n };
            }
        }
        if !after_index && i < end && b[i] == b'[' {
            reordered = true;
            match parse_arg_index(&b[i..], args.len()) {
                Some((idx, w)) => {
                    arg_num = idx;
                    i += w;
                }
                None => {
                    good_arg_num = false;
                    i += skip_bracket(&b[i..]);
                }
            }
        }
        if i >= end {
            p.out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('%');
        i += verb.len_utf8();
        if verb == '%' {
            p.out.push('%');
            continue;
        }
        if !good_arg_num {
            let _ = write!(p.out, "%!{verb}(BADINDEX)");
            continue;
        }
        if arg_num >= args.len() {
            let _ = write!(p.out, "%!{verb}(MISSING)");
            continue;
        }
        if verb == 'v' {
            p.f.sharp_v = p.f.sharp;
            p.f.sharp = false;
            p.f.plus_v = p.f.plus;
            p.f.plus = false;
        }
        p.print_arg(&args[arg_num], verb);
        arg_num += 1;
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.out.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                p.out.push_str("<nil>");
            } else {
                p.out.push_str(a.type_name());
                p.out.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.out.push(')');
    }
    p.out
}

/// Go's `parsenum`: the number at the start of `b` and the bytes it spans. A number over a
/// million is consumed but ignored (`tooLarge`), as in Go.
fn parse_num(b: &[u8]) -> (Option<usize>, usize) {
    let mut n: usize = 0;
    let mut w = 0;
    let mut too_large = false;
    while w < b.len() && b[w].is_ascii_digit() {
        if n > 1_000_000 {
            too_large = true;
        } else {
            n = n * 10 + (b[w] - b'0') as usize;
        }
        w += 1;
    }
    if w == 0 || too_large || n > 1_000_000 {
        return (None, w);
    }
    (Some(n), w)
}

/// `[n]` at the start of `b`: the zero-based argument index and the bytes consumed.
fn parse_arg_index(b: &[u8], nargs: usize) -> Option<(usize, usize)> {
    let close = b.iter().position(|&c| c == b']')?;
    let (n, w) = parse_num(&b[1..close]);
    let n = n?;
    if w != close - 1 || n == 0 || n > nargs {
        return None;
    }
    Some((n - 1, close + 1))
}

fn skip_bracket(b: &[u8]) -> usize {
    b.iter().position(|&c| c == b']').map_or(1, |p| p + 1)
}

fn int_arg(args: &[Value<'_>], n: usize) -> Option<i64> {
    match args.get(n) {
        Some(Value::Int(i)) if i.unsigned_abs() <= 1_000_000 => Some(*i),
        _ => None,
    }
}

impl Printer {
    fn pad(&mut self, s: &str) {
        let n = s.chars().count();
        let Some(w) = self.f.wid.filter(|&w| w > n) else {
            self.out.push_str(s);
            return;
        };
        let fill = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        if self.f.minus {
            self.out.push_str(s);
            self.out.extend(std::iter::repeat_n(' ', w - n));
        } else {
            self.out.extend(std::iter::repeat_n(fill, w - n));
            self.out.push_str(s);
        }
    }

    fn bad_verb(&mut self, a: &Value<'_>, verb: char) {
        let _ = write!(self.out, "%!{verb}(");
        match a {
            Value::Nil => self.out.push_str("<nil>"),
            _ => {
                self.out.push_str(a.type_name());
                self.out.push('=');
                let saved = self.f;
                self.f = Flags::default();
                self.print_arg(a, 'v');
                self.f = saved;
            }
        }
        self.out.push(')');
    }

    fn print_arg(&mut self, a: &Value<'_>, verb: char) {
        if self.f.sharp_v && verb == 'v' {
            let s = go_syntax(a, 0);
            return self.pad(&s);
        }
        match a {
            Value::Nil => match verb {
                'v' | 'T' => self.pad("<nil>"),
                _ => self.bad_verb(a, verb),
            },
            _ if verb == 'T' => {
                let t = a.type_name();
                self.pad(t);
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(a, verb),
            },
            Value::Float(v) => self.fmt_float(*v, verb, a),
            Value::Int(i) => self.fmt_int(*i, verb, a),
            Value::Str(s) => self.fmt_str(s, verb, a),
            Value::Time(t) => match verb {
                'v' | 's' | 'x' | 'X' | 'q' => {
                    let s = t.go_string();
                    self.fmt_str(&s, verb, a)
                }
                _ => self.bad_verb(a, verb),
            },
            Value::Duration(d) => match verb {
                'v' | 's' | 'x' | 'X' | 'q' => {
                    let s = gofmt::duration_string(*d);
                    self.fmt_str(&s, verb, a)
                }
                _ => self.bad_verb(a, verb),
            },
            other => self.print_composite(other, verb),
        }
    }

    /// Go's `printValue` for maps, slices and structs: the verb applies to each element. A
    /// sample is shown as `&{...}` even inside a query result, where Go prints its address.
    fn print_composite(&mut self, v: &Value<'_>, verb: char) {
        let labels = |p: &mut Self, l: &crate::store::Labels| {
            p.out.push_str("map[");
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    p.out.push(' ');
                }
                p.print_arg(&Value::str(&*x.name), verb);
                p.out.push(':');
                p.print_arg(&Value::str(&*x.value), verb);
            }
            p.out.push(']');
        };
        match v {
            Value::Labels(l) => labels(self, l),
            Value::OwnedLabels(l) => labels(self, l),
            Value::Map(m) => {
                self.out.push_str("map[");
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.print_arg(&Value::str(k.as_str()), verb);
                    self.out.push(':');
                    self.print_arg(val, verb);
                }
                self.out.push(']');
            }
            Value::List(l) => {
                self.out.push('[');
                for (i, val) in l.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.print_arg(val, verb);
                }
                self.out.push(']');
            }
            Value::Object(o) => match o.kind() {
                Kind::Struct => self.print_struct(&**o, verb),
                Kind::PtrStruct => {
                    self.out.push('&');
                    self.print_struct(&**o, verb);
                }
                Kind::List => {
                    self.out.push('[');
                    for i in 0..o.len() {
                        if i > 0 {
                            self.out.push(' ');
                        }
                        self.print_arg(&o.item(i).1, verb);
                    }
                    self.out.push(']');
                }
                Kind::Map => {
                    self.out.push_str("map[");
                    for i in 0..o.len() {
                        if i > 0 {
                            self.out.push(' ');
                        }
                        let (k, val) = o.item(i);
                        self.print_arg(&k, verb);
                        self.out.push(':');
                        self.print_arg(&val, verb);
                    }
                    self.out.push(']');
                }
            },
            other => self.bad_verb(other, verb),
        }
    }

    /// A struct's fields with the verb applied to each (`%+v` names them).
    fn print_struct(&mut self, o: &dyn Object<'_>, verb: char) {
        self.out.push('{');
        for (i, (name, val)) in o.fields().iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            if self.f.plus_v {
                self.out.push_str(name);
                self.out.push(':');
            }
            self.print_arg(val, verb);
        }
        self.out.push('}');
    }

    fn fmt_str(&mut self, s: &str, verb: char, a: &Value<'_>) {
        match verb {
            'v' | 's' => {
                let s: &str = match self.f.prec {
                    Some(p) => match s.char_indices().nth(p) {
                        Some((idx, _)) => &s[..idx],
                        None => s,
                    },
                    None => s,
                };
                self.pad(s)
            }
            'q' => {
                let q = if self.f.sharp
                    && !s.contains('`')
                    && s.chars()
                        .all(|c| c != '\r' && (c == '\t' || !c.is_control()))
                {
                    format!("`{s}`")
                } else {
                    gofmt::quote_with(s, '"', self.f.plus)
                };
                self.pad(&q)
            }
            'x' | 'X' => {
                let bytes = match self.f.prec {
                    Some(p) => &s.as_bytes()[..p.min(s.len())],
                    None => s.as_bytes(),
                };
                let mut h = String::with_capacity(bytes.len() * 2);
                for (k, byte) in bytes.iter().enumerate() {
                    if self.f.space && k > 0 {
                        h.push(' ');
                    }
                    if self.f.sharp && (self.f.space || k == 0) {
                        h.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    if verb == 'x' {
                        let _ = write!(h, "{byte:02x}");
                    } else {
                        let _ = write!(h, "{byte:02X}");
                    }
                }
                self.pad(&h)
            }
            _ => self.bad_verb(a, verb),
        }
    }

    fn fmt_int(&mut self, i: i64, verb: char, a: &Value<'_>) {
        let (base, upper) = match verb {
            'v' | 'd' => (10, false),
            'b' => (2, false),
            'o' | 'O' => (8, false),
            'x' => (16, false),
            'X' => (16, true),
            'c' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                return self.pad(&c.to_string());
            }
            'q' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                let q = gofmt::quote_with(&c.to_string(), '\'', self.f.plus);
                return self.pad(&q);
            }
            'U' => {
                let mut s = format!("U+{:04X}", i);
                if self.f.sharp
                    && let Some(c) = u32::try_from(i).ok().and_then(char::from_u32)
                    && gofmt::is_print(c)
                {
                    let _ = write!(s, " '{c}'");
                }
                return self.pad(&s);
            }
            _ => return self.bad_verb(a, verb),
        };
        let neg = i < 0;
        let u = i.unsigned_abs();
        let mut digits = match (base, upper) {
            (10, _) => u.to_string(),
            (2, _) => format!("{u:b}"),
            (8, _) => format!("{u:o}"),
            (16, false) => format!("{u:x}"),
            _ => format!("{u:X}"),
        };
        // Precision is the minimum number of digits; with the 0 flag and a width, the width is.
        let mut prec: Option<usize> = self.f.prec;
        if prec.is_none()
            && self.f.zero
            && !self.f.minus
            && let Some(w) = self.f.wid
        {
            let sign = usize::from(neg || self.f.plus || self.f.space);
            prec = Some(w.saturating_sub(sign));
        }
        if let Some(p) = self.f.prec
            && p == 0
            && u == 0
        {
            let saved = self.f.zero;
            self.f.zero = false;
            self.pad("");
            self.f.zero = saved;
            return;
        }
        let mut prefix = String::new();
        if self.f.sharp {
            match verb {
                'b' => prefix.push_str("0b"),
                'o' if !digits.starts_with('0') => prefix.push('0'),
                'x' => prefix.push_str("0x"),
                'X' => prefix.push_str("0X"),
                _ => {}
            }
        }
        if verb == 'O' {
            prefix.push_str("0o");
        }
        if let Some(p) = prec {
            let need = p.saturating_sub(prefix.len() * usize::from(self.f.prec.is_none()));
            if digits.len() < need {
                digits = "0".repeat(need - digits.len()) + &digits;
            }
        }
        let sign = if neg {
            "-"
        } else if self.f.plus {
            "+"
        } else if self.f.space {
            " "
        } else {
            ""
        };
        let s = format!("{sign}{prefix}{digits}");
        let saved = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = saved;
    }

    fn fmt_float(&mut self, v: f64, verb: char, a: &Value<'_>) {
        let num = match verb {
            'v' | 'g' => gofmt::format_g(v, self.f.prec, false),
            'G' => gofmt::format_g(v, self.f.prec, true),
            'f' | 'F' => gofmt::format_f(v, self.f.prec.unwrap_or(6)),
            'e' => gofmt::format_e(v, self.f.prec.unwrap_or(6), false),
            'E' => gofmt::format_e(v, self.f.prec.unwrap_or(6), true),
            'x' => gofmt::format_hex_float(v, self.f.prec, false),
            'X' => gofmt::format_hex_float(v, self.f.prec, true),
            _ => return self.bad_verb(a, verb),
        };
        // Give the number an explicit sign, as Go does, then decide what to show.
        let mut num = if num.starts_with('-') || num.starts_with('+') {
            num
        } else {
            format!("+{num}")
        };
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        let second = num.as_bytes().get(1).copied();
        if second == Some(b'I') || second == Some(b'N') {
            let saved = self.f.zero;
            self.f.zero = false;
            let s = if second == Some(b'N') && !self.f.space && !self.f.plus {
                &num[1..]
            } else {
                &num[..]
            };
            let s = s.to_string();
            self.pad(&s);
            self.f.zero = saved;
            return;
        }
        if self.f.sharp {
            num = sharp_float(num, verb, self.f.prec);
        }
        if self.f.plus || !num.starts_with('+') {
            if self.f.zero
                && !self.f.minus
                && let Some(w) = self.f.wid.filter(|&w| w > num.len())
            {
                self.out.push_str(&num[..1]);
                self.out.extend(std::iter::repeat_n('0', w - num.len()));
                self.out.push_str(&num[1..]);
                return;
            }
            self.pad(&num);
            return;
        }
        let s = num[1..].to_string();
        self.pad(&s);
    }
}

/// The `#` flag on a float verb (Go's `fmtFloat`): always a decimal point, and for `%g` the
/// trailing zeros up to the precision (6 when none is given). `num` starts with its sign.
fn sharp_float(num: String, verb: char, prec: Option<usize>) -> String {
    let mut digits: i64 = match verb {
        'g' | 'G' | 'x' => prec.map_or(6, |p| p as i64),
        _ => 0,
    };
    let mut body: String = num.clone();
    let mut tail = String::new();
    let mut has_point = false;
    let mut saw_nonzero = false;
    for (i, c) in num.char_indices().skip(1) {
        match c {
            '.' => has_point = true,
            'p' | 'P' => {
                tail = num[i..].to_string();
                body.truncate(i);
                break;
            }
            'e' | 'E' if verb != 'x' && verb != 'X' => {
                tail = num[i..].to_string();
                body.truncate(i);
                break;
            }
            _ => {
                if c != '0' {
                    saw_nonzero = true;
                }
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
    }
    if !has_point {
        if body.len() == 2 && body.ends_with('0') {
            digits -= 1;
        }
        body.push('.');
    }
    while digits > 0 {
        body.push('0');
        digits -= 1;
    }
    body + &tail
}

/// `%#v`: the value in Go syntax.
fn go_syntax(v: &Value<'_>, depth: usize) -> String {
    let labels = |l: &crate::store::Labels| {
        let parts: Vec<String> = l
            .iter()
            .map(|x| format!("{}:{}", gofmt::quote(&x.name), gofmt::quote(&x.value)))
            .collect();
        format!("map[string]string{{{}}}", parts.join(", "))
    };
    match v {
        Value::Nil if depth == 0 => "<nil>".into(),
        Value::Nil => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => gofmt::format_g(*f, None, false),
        Value::Str(s) => gofmt::quote(s),
        Value::Labels(l) => labels(l),
        Value::OwnedLabels(l) => labels(l),
        Value::Map(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, val)| format!("{}:{}", gofmt::quote(k), go_syntax(val, depth + 1)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(|val| go_syntax(val, depth + 1)).collect();
            format!("[]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::Time(t) => {
            let c = t.civil();
            format!(
                "time.Date({}, time.{}, {}, {}, {}, {}, {}, time.UTC)",
                c.year,
                gofmt::MONTHS[(c.month as usize).saturating_sub(1) % 12],
                c.day,
                c.hour,
                c.minute,
                c.second,
                c.nano
            )
        }
        Value::Duration(d) => d.to_string(),
        Value::Object(o) => {
            let t = o.type_name();
            let parts: Vec<String> = match o.kind() {
                Kind::Struct | Kind::PtrStruct => o
                    .fields()
                    .iter()
                    .map(|(name, val)| format!("{name}:{}", go_syntax(val, depth + 1)))
                    .collect(),
                Kind::List => (0..o.len())
                    .map(|i| go_syntax(&o.item(i).1, depth + 1))
                    .collect(),
                Kind::Map => (0..o.len())
                    .map(|i| {
                        let (k, val) = o.item(i);
                        format!(
                            "{}:{}",
                            go_syntax(&k, depth + 1),
                            go_syntax(&val, depth + 1)
                        )
                    })
                    .collect(),
            };
            match o.kind() {
                Kind::PtrStruct => {
                    format!("&{}{{{}}}", t.trim_start_matches('*'), parts.join(", "))
                }
                _ => format!("{t}{{{}}}", parts.join(", ")),
            }
        }
    }
}
