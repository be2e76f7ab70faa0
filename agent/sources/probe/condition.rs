//! Probe conditions: the last step of a probe. The source (`sources`) runs the probe
//! (`probe::http` / `tcp` / `grpc`), which fills an [`Observation`]; the target's conditions
//! then decide whether the probe succeeded (`probe_success` 1 only when all hold).
//!
//! A condition is one comparison, `<subject> <op> <value>`, in the spirit of Gatus
//! (whose bracket spellings such as `[STATUS]` and `[BODY].status` are accepted too):
//!
//! ```text
//! status == 200              status == any(200, 204)     status < 400
//! response_time < 500ms      cert_expiry > 14d
//! body == OK                 body.status == UP           body.data[0].id == 1
//! body == pat(*healthy*)     len(body.items) > 0         has(body.version) == true
//! connected == true          grpc_status == SERVING
//! ```
//!
//! Conditions are parsed once, when the config is validated ([`Condition::parse`],
//! [`Condition::check_kind`]), so that every mistake is reported at its file position; at
//! run time [`Condition::evaluate`] (or [`Evaluation`], which parses a JSON body at most
//! once for all conditions of a round) gives a short reason when a condition does not hold.

use std::cell::OnceCell;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::ProbeKind;

#[cfg(test)]
mod tests;

/// Why a condition string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConditionError(pub String);

/// What one probe saw; conditions are checked against it.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    /// HTTP status code, when an HTTP response arrived.
    pub status: Option<u16>,
    /// Response body (at most the configured cap), when one was read.
    pub body: Option<&'a [u8]>,
    /// Time from start of the probe to the end of the response.
    pub response_time: Duration,
    /// Time left until the earliest certificate in the chain expires (negative: expired).
    pub cert_expiry: Option<f64>,
    /// True when a connection was made (TCP) / the call completed (gRPC).
    pub connected: bool,
    /// gRPC health status name, e.g. `SERVING`.
    pub grpc_status: Option<&'a str>,
}

/// One parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    text: String,
    /// The subject as written (trimmed), used to name it in failure reasons.
    lhs: String,
    expr: Expr,
}

/// The parsed form of a condition.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Status(Op, Numbers),
    ResponseTime(Op, f64),
    CertExpiry(Op, f64),
    /// `body` (empty path) or `body.<path>`.
    Body(Vec<Seg>, Op, Rhs),
    Len(Vec<Seg>, Op, Numbers),
    /// `has(path) == true` / `!= false` are stored as `Has(path, true)`.
    Has(Vec<Seg>, bool),
    Connected(bool),
    /// Names in upper case; `eq` false for `!=`.
    Grpc(bool, Vec<String>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A number or `any(...)` of numbers (the latter only with `==` / `!=`).
#[derive(Debug, Clone, PartialEq)]
enum Numbers {
    One(i64),
    Any(Vec<i64>),
}

/// A scalar value as written on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    /// Unquoted: a number, `true` / `false` or a word.
    Bare(String),
    /// Quoted (quotes removed): always compared as a string.
    Quoted(String),
}

/// The right-hand side of a `body` comparison.
#[derive(Debug, Clone, PartialEq)]
enum Rhs {
    One(Lit),
    Any(Vec<Lit>),
    Pat(String),
}

const SUBJECTS: &str = "status, body, body.<path>, response_time, cert_expiry, len(...), has(...), \
                        connected, grpc_status";
const GRPC_NAMES: [&str; 4] = ["SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN"];
const DURATION_HELP: &str = "e.g. 500ms, 30s, 5m, 48h, 14d, 1w; a bare number is milliseconds";
/// How much of an observed string a failure reason shows.
const SHOW_CHARS: usize = 100;

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }

    fn holds<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

impl fmt::Display for Condition {
    /// The condition as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Condition {
    /// Parses a condition such as `status == 200` or `body.status == UP`.
    pub fn parse(s: &str) -> Result<Condition, ConditionError> {
        let err = |msg: String| ConditionError(format!("{s:?}: {msg}"));
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(ConditionError(
                "empty condition (expected e.g. status == 200)".to_string(),
            ));
        }
        let (lhs, op, rhs) = split(trimmed).map_err(err)?;
        let expr = build(lhs, op, rhs).map_err(err)?;
        Ok(Condition {
            text: s.to_string(),
            lhs: lhs.to_string(),
            expr,
        })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// An error when the condition cannot apply to a probe of `kind` (e.g. `status` on TCP).
    pub fn check_kind(&self, kind: ProbeKind) -> Result<(), ConditionError> {
        let (what, ok, targets) = match &self.expr {
            Expr::Status(..) => ("status", kind == ProbeKind::Http, "url (HTTP) targets"),
            Expr::Body(..) => ("body", kind == ProbeKind::Http, "url (HTTP) targets"),
            Expr::Len(..) => ("len(...)", kind == ProbeKind::Http, "url (HTTP) targets"),
            Expr::Has(..) => ("has(...)", kind == ProbeKind::Http, "url (HTTP) targets"),
            Expr::Grpc(..) => ("grpc_status", kind == ProbeKind::Grpc, "grpc targets"),
            // The gRPC client does not expose the peer certificate, so only HTTPS measures it.
            Expr::CertExpiry(..) => ("cert_expiry", kind == ProbeKind::Http, "url (HTTP) targets"),
            Expr::ResponseTime(..) | Expr::Connected(..) => return Ok(()),
        };
        if ok {
            Ok(())
        } else {
            Err(ConditionError(format!(
                "{:?}: {what} applies to {targets} only",
                self.text
            )))
        }
    }

    /// True when evaluating needs the response body.
    pub fn needs_body(&self) -> bool {
        matches!(self.expr, Expr::Body(..) | Expr::Len(..) | Expr::Has(..))
    }

    /// `Ok` when the condition holds, else why not, e.g. `status is 503`.
    ///
    /// Parses a JSON body for this condition alone; to check several conditions against one
    /// observation, [`Evaluation`] parses it once.
    pub fn evaluate(&self, obs: &Observation<'_>) -> Result<(), String> {
        Evaluation::new(obs).check(self)
    }

    /// A normalised spelling that parses back to the same condition.
    #[cfg(test)]
    fn canonical(&self) -> String {
        let (lhs, op, rhs) = match &self.expr {
            Expr::Status(op, n) => ("status".to_string(), *op, show_numbers(n)),
            Expr::ResponseTime(op, secs) => ("response_time".to_string(), *op, format!("{secs}s")),
            Expr::CertExpiry(op, secs) => ("cert_expiry".to_string(), *op, format!("{secs}s")),
            Expr::Body(path, op, rhs) => {
                let rhs = match rhs {
                    Rhs::One(l) => show_lit(l),
                    Rhs::Any(ls) => {
                        let items: Vec<String> = ls.iter().map(show_lit).collect();
                        format!("any({})", items.join(", "))
                    }
                    Rhs::Pat(p) => format!("pat({})", quote(p)),
                };
                (show_path(path), *op, rhs)
            }
            Expr::Len(path, op, n) => (format!("len({})", show_path(path)), *op, show_numbers(n)),
            Expr::Has(path, b) => (format!("has({})", show_path(path)), Op::Eq, b.to_string()),
            Expr::Connected(b) => ("connected".to_string(), Op::Eq, b.to_string()),
            Expr::Grpc(eq, names) => {
                let op = if *eq { Op::Eq } else { Op::Ne };
                let rhs = match names.as_slice() {
                    [one] => one.clone(),
                    many => format!("any({})", many.join(", ")),
                };
                ("grpc_status".to_string(), op, rhs)
            }
        };
        format!("{lhs} {} {rhs}", op.as_str())
    }
}

#[cfg(test)]
fn show_numbers(n: &Numbers) -> String {
    match n {
        Numbers::One(v) => v.to_string(),
        Numbers::Any(vs) => {
            let items: Vec<String> = vs.iter().map(i64::to_string).collect();
            format!("any({})", items.join(", "))
        }
    }
}

#[cfg(test)]
fn show_lit(l: &Lit) -> String {
    match l {
        Lit::Bare(s) => s.clone(),
        Lit::Quoted(s) => quote(s),
    }
}

#[cfg(test)]
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
fn show_path(path: &[Seg]) -> String {
    let mut out = "body".to_string();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) if !k.is_empty() && k.chars().all(is_key_char) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Key(k) => out.push_str(&format!("[{}]", quote(k))),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// Splits `lhs op rhs` at the first operator outside quotes and brackets.
fn split(s: &str) -> Result<(&str, Op, &str), String> {
    let bytes = s.as_bytes();
    let mut depth: i32 = 0;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' => quote = Some(c),
            b'(' | b'[' => depth += 1,
            b')' | b']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "unbalanced {:?} (no matching opening bracket)",
                        char::from(c)
                    ));
                }
            }
            b'=' | b'!' | b'<' | b'>' if depth == 0 => {
                let next = bytes.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    (b'=', Some(b'=')) => (Op::Eq, 2),
                    (b'!', Some(b'=')) => (Op::Ne, 2),
                    (b'<', Some(b'=')) => (Op::Le, 2),
                    (b'>', Some(b'=')) => (Op::Ge, 2),
                    (b'<', _) => (Op::Lt, 1),
                    (b'>', _) => (Op::Gt, 1),
                    (b'=', _) => return Err("= is not an operator; use == to compare".into()),
                    _ => return Err("! is not an operator; use != to compare".into()),
                };
                let lhs = s[..i].trim();
                let rhs = s[i + len..].trim();
                if lhs.is_empty() {
                    return Err(format!(
                        "missing subject before {} (expected one of {SUBJECTS})",
                        op.as_str()
                    ));
                }
                if rhs.is_empty() {
                    return Err(format!(
                        "missing value after {} (e.g. status == 200)",
                        op.as_str()
                    ));
                }
                return Ok((lhs, op, rhs));
            }
            _ => {}
        }
        i += 1;
    }
    if quote.is_some() {
        return Err("unbalanced quote (a string is not closed)".into());
    }
    if depth > 0 {
        return Err("unbalanced brackets (missing ) or ])".into());
    }
    Err("missing operator (expected one of ==, !=, <, <=, >, >= as in status == 200)".into())
}

/// The left-hand side, classified.
enum Subject {
    Status,
    ResponseTime,
    CertExpiry,
    Body(Vec<Seg>),
    Len(Vec<Seg>),
    Has(Vec<Seg>),
    Connected,
    Grpc,
}

fn subject(lhs: &str) -> Result<Subject, String> {
    let lower = lhs.to_ascii_lowercase();
    let unknown = || {
        let word: String = lhs
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(40)
            .collect();
        format!("unknown subject {word} (expected {SUBJECTS})")
    };
    Ok(match lower.as_str() {
        "status" | "[status]" => Subject::Status,
        "response_time" | "[response_time]" => Subject::ResponseTime,
        "cert_expiry" | "[certificate_expiration]" => Subject::CertExpiry,
        "connected" | "[connected]" => Subject::Connected,
        "grpc_status" => Subject::Grpc,
        _ => {
            for (name, make) in [
                ("len(", Subject::Len as fn(Vec<Seg>) -> Subject),
                ("has(", Subject::Has),
            ] {
                if let Some(inner) = lower.strip_prefix(name) {
                    let Some(inner) = inner.strip_suffix(')') else {
                        return Err(format!(
                            "{name}...) must be closed with ) and nothing may follow it"
                        ));
                    };
                    // Slice the original (keys are case-sensitive); ASCII lowering keeps offsets.
                    let inner = lhs[name.len()..name.len() + inner.len()].trim();
                    let path = match body_path(inner)? {
                        Some(p) => p,
                        None => {
                            return Err(format!(
                                "{name}...) takes body or a path into it, e.g. {name}body.items)"
                            ));
                        }
                    };
                    if name == "has(" && path.is_empty() {
                        return Err(
                            "has(...) needs a path into the body, e.g. has(body.status)".into()
                        );
                    }
                    return Ok(make(path));
                }
            }
            match body_path(lhs)? {
                Some(p) => Subject::Body(p),
                None => return Err(unknown()),
            }
        }
    })
}

/// `body`, `[BODY]` and a path after either; `None` when `s` does not start with either.
fn body_path(s: &str) -> Result<Option<Vec<Seg>>, String> {
    let starts = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let rest = if starts("[body]") {
        &s[6..]
    } else if starts("body") {
        &s[4..]
    } else {
        return Ok(None);
    };
    if rest.chars().next().is_some_and(|c| c != '.' && c != '[') {
        return Ok(None);
    }
    parse_path(rest).map(Some)
}

fn is_key_char(c: char) -> bool {
    !c.is_whitespace() && !".[]()\"'=!<>,".contains(c)
}

/// `.key`, `[n]` and `["key"]` steps.
fn parse_path(s: &str) -> Result<Vec<Seg>, String> {
    let help = "(expected e.g. body.status, body.data[0].id or body[\"key with.dots\"])";
    let mut segs = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while let Some(&(j, c)) = chars.peek() {
                    if !is_key_char(c) {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                if end == start {
                    return Err(format!("empty key after . in path body{s} {help}"));
                }
                segs.push(Seg::Key(s[start..end].to_string()));
            }
            '[' => {
                let rest = &s[i + 1..];
                let (seg, used) = if let Some(q) =
                    rest.chars().next().filter(|&c| c == '"' || c == '\'')
                {
                    let (key, used) = unquote_prefix(rest, q)
                        .ok_or_else(|| format!("unbalanced quote in path body{s} {help}"))?;
                    (Seg::Key(key), used)
                } else {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let n = digits.parse::<usize>().map_err(|_| {
                        format!("[...] in path body{s} takes an index (0, 1, ...) or a quoted key {help}")
                    })?;
                    (Seg::Index(n), digits.len())
                };
                if !rest[used..].starts_with(']') {
                    return Err(format!("missing ] in path body{s} {help}"));
                }
                // Skip what was consumed, plus the `]`.
                let stop = i + 1 + used + 1;
                while chars.peek().is_some_and(|&(j, _)| j < stop) {
                    chars.next();
                }
                segs.push(seg);
            }
            _ => {
                return Err(format!("unexpected {c:?} in path body{s} {help}"));
            }
        }
    }
    Ok(segs)
}

/// Reads a string quoted with `q` at the start of `s` (`\\` and `\q` are escapes); returns the
/// content and the bytes used, quotes included.
fn unquote_prefix(s: &str, q: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        if c == '\\' {
            match s[i + 1..].chars().next() {
                Some(n) if n == q || n == '\\' => {
                    out.push(n);
                    it.next();
                }
                _ => out.push('\\'),
            }
        } else if c == q {
            return Some((out, i + 1));
        } else {
            out.push(c);
        }
    }
    None
}

/// A value as written, before it is checked against the subject.
enum Value0 {
    One(Lit),
    Any(Vec<Lit>),
    Pat(String),
}

fn scalar(s: &str) -> Result<Lit, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty value".into());
    }
    if let Some(q) = s.chars().next().filter(|&c| c == '"' || c == '\'') {
        return match unquote_prefix(s, q) {
            Some((v, used)) if used == s.len() => Ok(Lit::Quoted(v)),
            Some(_) => Err(format!(
                "unexpected text after the quoted value in {s} (one value per condition)"
            )),
            None => Err("unbalanced quote (a string is not closed)".into()),
        };
    }
    if let Some(c) = s.chars().find(|&c| "\"'()".contains(c)) {
        return Err(format!(
            "unexpected {c:?} in value {s} (quote values with special characters, e.g. \"a(b)\")"
        ));
    }
    if s.contains(['=', '<', '>']) {
        return Err(format!(
            "value {s} contains an operator; quote it (one comparison per condition)"
        ));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!(
            "value {s} contains spaces; quote it, e.g. \"{s}\" (one comparison per condition)"
        ));
    }
    Ok(Lit::Bare(s.to_string()))
}

/// Splits `a, b, c` at commas outside quotes.
fn split_list(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            ',' => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("unbalanced quote in any(...)".into());
    }
    out.push(&s[start..]);
    Ok(out)
}

fn value(rhs: &str) -> Result<Value0, String> {
    let lower = rhs.to_ascii_lowercase();
    for name in ["any(", "pat("] {
        if lower.starts_with(name) {
            let Some(inner) = rhs[name.len()..].strip_suffix(')') else {
                return Err(format!("{name}...) must be closed with ) at the end"));
            };
            if name == "pat(" {
                let inner = inner.trim();
                let pat = match scalar(inner) {
                    Ok(Lit::Quoted(p)) => p,
                    _ => inner.to_string(),
                };
                if pat.is_empty() {
                    return Err("empty pattern in pat() (expected e.g. pat(*UP*))".into());
                }
                return Ok(Value0::Pat(pat));
            }
            if inner.trim().is_empty() {
                return Err("empty any() (expected e.g. any(200, 204))".into());
            }
            let items = split_list(inner)?
                .into_iter()
                .map(|item| {
                    let l = item.trim().to_ascii_lowercase();
                    if l.starts_with("any(") || l.starts_with("pat(") {
                        Err("any(...) takes plain values, not any() or pat()".to_string())
                    } else if item.trim().is_empty() {
                        Err("empty value in any(...)".to_string())
                    } else {
                        scalar(item)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Value0::Any(items));
        }
    }
    if rhs.starts_with('(') || rhs.ends_with(')') {
        return Err(format!(
            "unexpected parenthesis in value {rhs} (expected a value, any(...) or pat(...))"
        ));
    }
    scalar(rhs).map(Value0::One)
}

/// True for `12`, `-3`, `1.5`, `2e3` (JSON-like numbers; no `nan`, `inf`, `0x..`).
fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

fn number(s: &str) -> Option<f64> {
    if is_number(s) {
        s.parse::<f64>().ok().filter(|v| v.is_finite())
    } else {
        None
    }
}

fn bool_word(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `500ms`, `1.5s`, `1h30m`, `14d`, `1w`; a bare number is milliseconds. Returns seconds.
fn duration(s: &str) -> Option<f64> {
    if let Some(ms) = number(s) {
        return (ms >= 0.0).then_some(ms / 1000.0);
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = number(&rest[..num_len])?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 604800.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    total.is_finite().then_some(total)
}

fn build(lhs: &str, op: Op, rhs: &str) -> Result<Expr, String> {
    let subj = subject(lhs)?;
    let val = value(rhs)?;
    let ordering_any = |what: &str| {
        format!(
            "{} cannot be used with {what}; any(...) and pat(...) take == or !=",
            op.as_str()
        )
    };
    let equality_only = |name: &str, example: &str| {
        if op.is_equality() {
            Ok(())
        } else {
            Err(format!(
                "{name} takes == or != (not {}), e.g. {example}",
                op.as_str()
            ))
        }
    };
    let bool_rhs = |name: &str, example: &str| -> Result<bool, String> {
        equality_only(name, example)?;
        let b = match &val {
            Value0::One(Lit::Bare(w)) => bool_word(w),
            _ => None,
        };
        let b = b.ok_or_else(|| format!("{name} compares with true or false, e.g. {example}"))?;
        Ok(b == (op == Op::Eq))
    };
    let numbers = |name: &str, example: &str| -> Result<Numbers, String> {
        let int = |l: &Lit| match l {
            Lit::Bare(w) => w.parse::<i64>().ok(),
            Lit::Quoted(_) => None,
        };
        let bad = |l: &Lit| match l {
            Lit::Bare(w) if number(w).is_some() => {
                format!("{name} compares with a whole number, not {w}, e.g. {example}")
            }
            _ => format!("{name} compares with a number, e.g. {example}"),
        };
        let int_or = |l: &Lit| int(l).ok_or_else(|| bad(l));
        match &val {
            Value0::One(l) => int_or(l).map(Numbers::One),
            Value0::Any(ls) => {
                if !op.is_equality() {
                    return Err(ordering_any("any(...)"));
                }
                ls.iter()
                    .map(int_or)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Numbers::Any)
            }
            Value0::Pat(_) => Err(format!(
                "pat(...) applies to body and body.<path> only; {name} compares with a whole number, e.g. {example}"
            )),
        }
    };
    let dur = |name: &str, example: &str| -> Result<f64, String> {
        match &val {
            Value0::One(Lit::Bare(w)) => duration(w).ok_or_else(|| {
                format!("bad duration {w} for {name} ({DURATION_HELP}), e.g. {example}")
            }),
            _ => Err(format!(
                "{name} compares with one duration ({DURATION_HELP}), e.g. {example}"
            )),
        }
    };
    Ok(match subj {
        Subject::Status => Expr::Status(op, numbers("status", "status == 200")?),
        Subject::Len(p) => Expr::Len(p, op, numbers("len(...)", "len(body.items) > 0")?),
        Subject::ResponseTime => {
            Expr::ResponseTime(op, dur("response_time", "response_time < 500ms")?)
        }
        Subject::CertExpiry => Expr::CertExpiry(op, dur("cert_expiry", "cert_expiry > 14d")?),
        Subject::Connected => Expr::Connected(bool_rhs("connected", "connected == true")?),
        Subject::Has(p) => Expr::Has(p, bool_rhs("has(...)", "has(body.status) == true")?),
        Subject::Grpc => {
            let example = "grpc_status == SERVING";
            equality_only("grpc_status", example)?;
            let name = |l: &Lit| {
                let s = match l {
                    Lit::Bare(s) | Lit::Quoted(s) => s.to_ascii_uppercase(),
                };
                if GRPC_NAMES.contains(&s.as_str()) {
                    Ok(s)
                } else {
                    Err(format!(
                        "grpc_status compares with {}, e.g. {example}",
                        GRPC_NAMES.join(", ")
                    ))
                }
            };
            let names = match &val {
                Value0::One(l) => vec![name(l)?],
                Value0::Any(ls) => ls.iter().map(name).collect::<Result<_, _>>()?,
                Value0::Pat(_) => {
                    return Err(format!(
                        "pat(...) applies to body and body.<path> only, e.g. {example}"
                    ));
                }
            };
            Expr::Grpc(op == Op::Eq, names)
        }
        Subject::Body(p) => {
            let rhs = match val {
                Value0::One(l) => {
                    if !op.is_equality() {
                        match &l {
                            Lit::Bare(w) if number(w).is_some() => {}
                            Lit::Bare(w) => {
                                return Err(format!(
                                    "{} compares numbers, not {w}; strings take == or !=",
                                    op.as_str()
                                ));
                            }
                            Lit::Quoted(_) => {
                                return Err(format!(
                                    "{} compares numbers, not a quoted string; strings take == or !=",
                                    op.as_str()
                                ));
                            }
                        }
                    }
                    Rhs::One(l)
                }
                Value0::Any(ls) if op.is_equality() => Rhs::Any(ls),
                Value0::Pat(p) if op.is_equality() => Rhs::Pat(p),
                Value0::Any(_) => return Err(ordering_any("any(...)")),
                Value0::Pat(_) => return Err(ordering_any("pat(...)")),
            };
            Expr::Body(p, op, rhs)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// Checks conditions against one observation, parsing a JSON body at most once (lazily,
/// only when a condition looks into it).
pub struct Evaluation<'o, 'a> {
    obs: &'o Observation<'a>,
    json: OnceCell<Option<Value>>,
}

/// Checks every condition; the reasons of those that do not hold, in order.
pub fn failures(conditions: &[Condition], obs: &Observation<'_>) -> Vec<String> {
    let eval = Evaluation::new(obs);
    conditions
        .iter()
        .filter_map(|c| eval.check(c).err())
        .collect()
}

impl<'o, 'a> Evaluation<'o, 'a> {
    pub fn new(obs: &'o Observation<'a>) -> Self {
        Evaluation {
            obs,
            json: OnceCell::new(),
        }
    }

    /// `Ok` when `c` holds, else a short reason.
    pub fn check(&self, c: &Condition) -> Result<(), String> {
        let name = c.lhs.as_str();
        match &c.expr {
            Expr::Status(op, n) => {
                let s = self.obs.status.ok_or("no HTTP response")?;
                ok_or(numbers_hold(*op, n, i64::from(s)), || {
                    format!("{name} is {s}")
                })
            }
            Expr::ResponseTime(op, limit) => {
                let t = self.obs.response_time;
                ok_or(op.holds(&t.as_secs_f64(), limit), || {
                    format!("{name} is {}", show_response_time(t))
                })
            }
            Expr::CertExpiry(op, limit) => {
                let left = self
                    .obs
                    .cert_expiry
                    .ok_or("no TLS certificate (the target is not https)")?;
                ok_or(op.holds(&left, limit), || show_expiry(left))
            }
            Expr::Connected(want) => {
                let got = self.obs.connected;
                ok_or(got == *want, || {
                    if got { "connected" } else { "not connected" }.to_string()
                })
            }
            Expr::Grpc(eq, names) => {
                let got = self.obs.grpc_status.ok_or("no gRPC health status")?;
                let found = names.iter().any(|n| n.eq_ignore_ascii_case(got));
                ok_or(found == *eq, || format!("{name} is {}", show_str(got)))
            }
            Expr::Has(path, want) => {
                let got = self.lookup(path)?.is_some();
                ok_or(got == *want, || {
                    let inner = inner_path(name);
                    if got {
                        format!("{inner} exists")
                    } else {
                        format!("{inner} is missing")
                    }
                })
            }
            Expr::Len(path, op, n) => {
                let len = if path.is_empty() {
                    self.body_len()?
                } else {
                    let inner = inner_path(name);
                    let v = self
                        .lookup(path)?
                        .ok_or_else(|| format!("{inner} is missing"))?;
                    json_len(v).ok_or_else(|| {
                        format!("{inner} is {}, not an array, object or string", kind_of(v))
                    })?
                };
                let len = i64::try_from(len).unwrap_or(i64::MAX);
                ok_or(numbers_hold(*op, n, len), || format!("{name} is {len}"))
            }
            Expr::Body(path, op, rhs) => {
                let body = self.obs.body.ok_or("no response body")?;
                let text;
                let got = if path.is_empty() {
                    text = String::from_utf8_lossy(body);
                    Got::Text(text.trim())
                } else {
                    Got::Json(
                        self.lookup(path)?
                            .ok_or_else(|| format!("{name} is missing"))?,
                    )
                };
                compare(name, &got, *op, rhs)
            }
        }
    }

    fn json(&self) -> Result<&Value, String> {
        let body = self.obs.body.ok_or("no response body")?;
        self.json
            .get_or_init(|| serde_json::from_slice(body).ok())
            .as_ref()
            .ok_or_else(|| "body is not JSON".to_string())
    }

    /// The value at `path`; `Ok(None)` when absent, `Err` when there is no JSON body.
    fn lookup(&self, path: &[Seg]) -> Result<Option<&Value>, String> {
        let mut v = self.json()?;
        for seg in path {
            let next = match (seg, v) {
                (Seg::Key(k), Value::Object(m)) => m.get(k),
                (Seg::Index(i), Value::Array(a)) => a.get(*i),
                _ => None,
            };
            match next {
                Some(n) => v = n,
                None => return Ok(None),
            }
        }
        Ok(Some(v))
    }

    /// `len(body)`: the length of a JSON array, object or string body, else of the text.
    fn body_len(&self) -> Result<usize, String> {
        let body = self.obs.body.ok_or("no response body")?;
        if let Ok(v) = self.json()
            && let Some(n) = json_len(v)
        {
            return Ok(n);
        }
        Ok(String::from_utf8_lossy(body).trim().chars().count())
    }
}

/// The path inside `len(...)` / `has(...)` as written, e.g. `body.items`.
fn inner_path(name: &str) -> &str {
    name.get(4..name.len().saturating_sub(1))
        .map(str::trim)
        .unwrap_or(name)
}

fn ok_or(holds: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if holds { Ok(()) } else { Err(reason()) }
}

fn numbers_hold(op: Op, n: &Numbers, got: i64) -> bool {
    match n {
        Numbers::One(want) => op.holds(&got, want),
        Numbers::Any(ws) => ws.contains(&got) == (op == Op::Eq),
    }
}

fn json_len(v: &Value) -> Option<usize> {
    match v {
        Value::Array(a) => Some(a.len()),
        Value::Object(m) => Some(m.len()),
        Value::String(s) => Some(s.chars().count()),
        _ => None,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a `body` comparison looks at.
enum Got<'v> {
    /// The whole body, trimmed.
    Text(&'v str),
    Json(&'v Value),
}

impl Got<'_> {
    /// As a string: JSON strings without quotes, other JSON values as compact JSON.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Got::Text(s) => (*s).into(),
            Got::Json(Value::String(s)) => s.as_str().into(),
            Got::Json(v) => v.to_string().into(),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Got::Text(s) => number(s),
            Got::Json(Value::Number(n)) => n.as_f64(),
            Got::Json(Value::String(s)) => number(s),
            Got::Json(_) => None,
        }
    }

    /// How a failure reason shows it: strings quoted and truncated, numbers as they are.
    fn show(&self) -> String {
        match self {
            Got::Text(s) => show_str(s),
            Got::Json(Value::String(s)) => show_str(s),
            Got::Json(v) => truncate(&v.to_string()),
        }
    }
}

/// `==` on one value: numbers numerically, JSON booleans with `true` / `false`, the rest as
/// strings. Quoted values always compare as strings.
fn lit_eq(got: &Got<'_>, lit: &Lit) -> bool {
    match lit {
        Lit::Quoted(s) => got.text() == s.as_str(),
        Lit::Bare(w) => {
            if let (Some(a), Some(b)) = (got.number(), number(w)) {
                return a == b;
            }
            if let (Got::Json(Value::Bool(a)), Some(b)) = (got, bool_word(w)) {
                return *a == b;
            }
            got.text() == w.as_str()
        }
    }
}

fn compare(name: &str, got: &Got<'_>, op: Op, rhs: &Rhs) -> Result<(), String> {
    let holds = match rhs {
        Rhs::One(lit) if op.is_equality() => lit_eq(got, lit) == (op == Op::Eq),
        Rhs::One(lit) => {
            let want = match lit {
                Lit::Bare(w) => number(w),
                Lit::Quoted(_) => None,
            };
            let (Some(a), Some(b)) = (got.number(), want) else {
                return Err(format!("{name} is {}, not a number", got.show()));
            };
            op.holds(&a, &b)
        }
        Rhs::Any(lits) => lits.iter().any(|l| lit_eq(got, l)) == (op == Op::Eq),
        Rhs::Pat(p) => glob(p, &got.text()) == (op == Op::Eq),
    };
    ok_or(holds, || format!("{name} is {}", got.show()))
}

/// `*` matches any run of characters, `?` one character; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(SHOW_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Quoted and escaped, at most [`SHOW_CHARS`] characters of it.
fn show_str(s: &str) -> String {
    let head = match s.char_indices().nth(SHOW_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    };
    let quoted = format!("{head:?}");
    if head.len() == s.len() && quoted.chars().count() <= SHOW_CHARS + 2 {
        quoted
    } else {
        truncate(&quoted)
    }
}

/// `812ms`, `2.35s`, `1m 5s`.
fn show_response_time(t: Duration) -> String {
    let ms = t.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.2}s", t.as_secs_f64())
    } else {
        format!("{}m {}s", t.as_secs() / 60, t.as_secs() % 60)
    }
}

/// `certificate expires in 3d 4h` / `certificate expired 2h 5m ago`.
fn show_expiry(left: f64) -> String {
    let secs = left.abs();
    let span = if secs >= 86400.0 {
        let s = secs as u64;
        format!("{}d {}h", s / 86400, s % 86400 / 3600)
    } else if secs >= 3600.0 {
        let s = secs as u64;
        format!("{}h {}m", s / 3600, s % 3600 / 60)
    } else if secs >= 60.0 {
        let s = secs as u64;
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{}s", secs as u64)
    };
    if left < 0.0 {
        format!("certificate expired {span} ago")
    } else {
        format!("certificate expires in {span}")
    }
}
