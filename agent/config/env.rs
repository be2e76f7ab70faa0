//! `${VAR}` and `${VAR:-default}` expansion of the configuration text, before YAML parsing.
//!
//! A value is inserted as a literal string: it can never change the document's structure
//! nor be read as YAML escapes. Each reference is placed by scanning a skeleton of the text
//! (every reference replaced by as many `x` as it has characters, so every line and column
//! stays where it was) with yaml-rust2's scanner, and the value is written for the scalar it
//! stands in:
//!
//! - in a double-quoted scalar it is escaped for double quotes (`\`, `"`, control and other
//!   non-printable characters);
//! - in a single-quoted scalar `'` is doubled; a value with a character a single-quoted
//!   scalar cannot hold (a control character) turns the scalar into a double-quoted one;
//! - in a plain scalar a plain-safe value (`8080`, `30s`, `api.example.com`, `http://a:80/x`)
//!   is inserted as is, so numbers and durations keep their type; any other value (spaces,
//!   quotes, `#`, flow indicators, `null`, empty, ...) turns the whole scalar into a
//!   double-quoted one with the value escaped;
//! - in a block scalar (`|`, `>`) the value is inserted literally; one that would change the
//!   block's indentation (empty or starting with a blank at the start of a line) is refused.
//!
//! Quoting a scalar adds characters only from the scalar's own start, so an error's line and
//! column before the expansion point do not move. `$$` is a literal `$`. Comment lines and
//! references in trailing comments are left alone. A variable that is unset and has no
//! default is an error naming the variable and its line and column, never its value. A value
//! containing a line break is refused.

use yaml_rust2::scanner::{Scanner, TScalarStyle, TokenType};

/// A problem found while expanding; positions are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// A `${...}` reference: where it stands (1-based line, 0-based character column), how many
/// characters it spans, and the value to insert (`None` once an error was reported for it).
struct Reference {
    line: usize,
    col: usize,
    len: usize,
    name: String,
    value: Option<String>,
}

/// What the first pass finds: the references, the `$$` escapes, the skeleton text (each
/// reference replaced by as many `x`), and the errors, each with the reference it is about.
#[derive(Default)]
struct Found {
    refs: Vec<Reference>,
    dollars: Vec<(usize, usize)>,
    skeleton: Vec<Vec<char>>,
    errors: Vec<(Option<usize>, ExpandError)>,
}

/// Where a reference stands in the YAML.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In a trailing comment: left alone.
    Comment,
    /// In the scalar token with this index.
    Scalar(usize),
    /// Between tokens, in a tag or an anchor: not allowed.
    Outside,
    /// After a point where the YAML does not scan.
    Unknown,
}

/// The characters `start..end` (0-based columns) of `line` (1-based) are replaced by `text`.
struct Edit {
    line: usize,
    start: usize,
    end: usize,
    text: String,
}

/// One token of the skeleton: where it starts (1-based line, 0-based column) and what it is.
struct Tok {
    line: usize,
    col: usize,
    ty: TokenType,
}

/// Expands every reference in `text`, looking variables up with `lookup`. Returns the new
/// text, or every error found.
pub fn expand(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<ExpandError>> {
    let lines: Vec<Vec<char>> = text
        .split_inclusive('\n')
        .map(|l| l.chars().collect())
        .collect();
    let mut found = find_references(&lines, &lookup);
    let mut edits: Vec<Edit> = found
        .dollars
        .iter()
        .map(|&(line, col)| Edit {
            line,
            start: col,
            end: col + 2,
            text: "$".into(),
        })
        .collect();
    if !found.refs.is_empty() {
        write_references(&lines, &mut found, &mut edits);
    }
    if !found.errors.is_empty() {
        let mut errors: Vec<ExpandError> = found.errors.into_iter().map(|(_, e)| e).collect();
        errors.sort_by_key(|e| (e.line, e.col));
        return Err(errors);
    }
    Ok(apply(&lines, edits))
}

/// The first pass: references, `$$`, the skeleton and the errors that need no YAML context.
fn find_references(lines: &[Vec<char>], lookup: &impl Fn(&str) -> Option<String>) -> Found {
    let mut found = Found::default();
    for (index, line) in lines.iter().enumerate() {
        let line_no = index + 1;
        let mut sk = Vec::with_capacity(line.len());
        let first = line.iter().position(|c| !c.is_whitespace());
        if first.is_some_and(|i| line[i] == '#') {
            found.skeleton.push(line.clone());
            continue;
        }
        let mut i = 0;
        while i < line.len() {
            if line[i] != '$' {
                sk.push(line[i]);
                i += 1;
                continue;
            }
            match line.get(i + 1) {
                Some('$') => {
                    found.dollars.push((line_no, i));
                    sk.extend(['$', '$']);
                    i += 2;
                    continue;
                }
                Some('{') => {}
                _ => {
                    sk.push('$');
                    i += 1;
                    continue;
                }
            }
            let Some(close) = line[i + 2..].iter().position(|&c| c == '}') else {
                found.errors.push((
                    None,
                    ExpandError {
                        line: line_no,
                        col: i + 1,
                        message: "`${` is not closed by `}` (write `$$` for a literal `$`)".into(),
                    },
                ));
                sk.extend_from_slice(&line[i..]);
                break;
            };
            let inner: String = line[i + 2..i + 2 + close].iter().collect();
            let len = close + 3;
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner.as_str(), None),
            };
            let valid_name = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let message = if !valid_name {
                Err(format!(
                    "`${{{inner}}}` does not name an environment variable"
                ))
            } else {
                match lookup(name).or_else(|| default.map(str::to_string)) {
                    Some(value) if value.contains(['\n', '\r']) => Err(format!(
                        "environment variable {name} contains a line break, which is not allowed in the configuration"
                    )),
                    Some(value) => Ok(value),
                    None => Err(format!(
                        "environment variable {name} is not set (give a default with ${{{name}:-default}})"
                    )),
                }
            };
            let value = match message {
                Ok(value) => Some(value),
                Err(message) => {
                    found.errors.push((
                        Some(found.refs.len()),
                        ExpandError {
                            line: line_no,
                            col: i + 1,
                            message,
                        },
                    ));
                    None
                }
            };
            found.refs.push(Reference {
                line: line_no,
                col: i,
                len,
                name: name.to_string(),
                value,
            });
            sk.extend(std::iter::repeat_n('x', len));
            i += len;
        }
        found.skeleton.push(sk);
    }
    found
}

/// The second pass: places each reference in the skeleton's YAML and writes its value for
/// the scalar it stands in (or reports why it cannot).
fn write_references(lines: &[Vec<char>], found: &mut Found, edits: &mut Vec<Edit>) {
    let skeleton: String = found.skeleton.iter().flatten().collect();
    let mut scanner = Scanner::new(skeleton.chars());
    let toks: Vec<Tok> = scanner
        .by_ref()
        .map(|t| Tok {
            line: t.0.line(),
            col: t.0.col(),
            ty: t.1,
        })
        .collect();
    let scan_error = scanner.get_error();
    let mut by_scalar: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut unknown = false;
    let mut dropped = Vec::new();
    for (ri, r) in found.refs.iter().enumerate() {
        match place(&found.skeleton, &toks, scan_error.is_some(), r) {
            Place::Comment => dropped.push(ri),
            Place::Scalar(ti) => match by_scalar.iter_mut().find(|(t, _)| *t == ti) {
                Some((_, refs)) => refs.push(ri),
                None => by_scalar.push((ti, vec![ri])),
            },
            Place::Outside if r.value.is_some() => found.errors.push((
                Some(ri),
                at(
                    r,
                    format!("`${{{}}}` may only stand inside a scalar value", r.name),
                ),
            )),
            Place::Unknown if r.value.is_some() => unknown = true,
            Place::Outside | Place::Unknown => {}
        }
    }
    // Errors about references in comments do not count: comments are left alone.
    found
        .errors
        .retain(|(ri, _)| ri.is_none_or(|ri| !dropped.contains(&ri)));
    if unknown && let Some(e) = scan_error {
        found.errors.push((
            None,
            ExpandError {
                line: e.marker().line(),
                col: e.marker().col() + 1,
                message: format!(
                    "{} (environment variables after this point cannot be expanded)",
                    e.info()
                ),
            },
        ));
    }
    let dollars: std::collections::HashSet<(usize, usize)> =
        found.dollars.iter().copied().collect();
    for (ti, refs) in by_scalar {
        let refs: Vec<&Reference> = refs.iter().map(|&ri| &found.refs[ri]).collect();
        if refs.iter().any(|r| r.value.is_none()) {
            continue;
        }
        let ctx = ScalarCtx {
            lines,
            skeleton: &found.skeleton,
            tok: &toks[ti],
            refs: &refs,
            dollars: &dollars,
        };
        if let Err(e) = ctx.write(edits) {
            found.errors.push((None, e));
        }
    }
}

/// An error at reference `r`.
fn at(r: &Reference, message: String) -> ExpandError {
    ExpandError {
        line: r.line,
        col: r.col + 1,
        message,
    }
}

/// Where `r` stands among the skeleton's tokens `toks`; `failed` says the scan stopped at an
/// error before the end.
fn place(sk: &[Vec<char>], toks: &[Tok], failed: bool, r: &Reference) -> Place {
    let here = (r.line, r.col);
    if failed && !toks.iter().any(|t| (t.line, t.col) > here) {
        return Place::Unknown;
    }
    let Some(ti) = toks.iter().rposition(|t| (t.line, t.col) <= here) else {
        return Place::Outside;
    };
    let t = &toks[ti];
    let line = &sk[r.line - 1];
    let comment_after = |from: usize| {
        if in_comment(line, from, r.col) {
            Place::Comment
        } else {
            Place::Outside
        }
    };
    let TokenType::Scalar(style, value) = &t.ty else {
        return comment_after(if r.line == t.line { t.col } else { 0 });
    };
    match style {
        TScalarStyle::Plain => match plain_end(sk, t, value) {
            Some(end) if r.line == t.line && r.col + r.len <= end => Place::Scalar(ti),
            Some(end) => comment_after(if r.line == t.line { end } else { 0 }),
            None => {
                let from = if r.line == t.line { t.col } else { 0 };
                if in_comment(line, from, r.col) {
                    Place::Comment
                } else {
                    Place::Scalar(ti)
                }
            }
        },
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
            match quoted_end(sk, t.line, t.col) {
                Some(end) if here < end => Place::Scalar(ti),
                Some((line, col)) => comment_after(if r.line == line { col } else { 0 }),
                None => Place::Unknown,
            }
        }
        // A block scalar's token starts at its first content character: a reference on the
        // header line falls to the token before (a trailing comment there).
        TScalarStyle::Literal | TScalarStyle::Folded => Place::Scalar(ti),
    }
}

/// Whether a comment starts on `line` between columns `from` and `to`.
fn in_comment(line: &[char], from: usize, to: usize) -> bool {
    (from..to.min(line.len()))
        .any(|k| line[k] == '#' && (k == 0 || matches!(line[k - 1], ' ' | '\t')))
}

/// The end column of a plain scalar that stands on one line, `None` if it spans several.
fn plain_end(sk: &[Vec<char>], t: &Tok, value: &str) -> Option<usize> {
    let line = sk.get(t.line - 1)?;
    let end = t.col + value.chars().count();
    (end <= line.len() && line[t.col..end].iter().copied().eq(value.chars())).then_some(end)
}

/// Where the quoted scalar opening at `line` (1-based), `col` ends: the line and the column
/// just after its closing quote.
fn quoted_end(sk: &[Vec<char>], line: usize, col: usize) -> Option<(usize, usize)> {
    let quote = *sk.get(line - 1)?.get(col)?;
    let (mut l, mut c) = (line - 1, col + 1);
    while let Some(chars) = sk.get(l) {
        while let Some(&ch) = chars.get(c) {
            let escape = quote == '"' && ch == '\\';
            let doubled = quote == '\'' && ch == quote && chars.get(c + 1) == Some(&'\'');
            if escape || doubled {
                c += 2;
            } else if ch == quote {
                return Some((l + 1, c + 1));
            } else {
                c += 1;
            }
        }
        l += 1;
        c = 0;
    }
    None
}

/// One scalar with the references standing in it.
struct ScalarCtx<'a> {
    lines: &'a [Vec<char>],
    skeleton: &'a [Vec<char>],
    tok: &'a Tok,
    refs: &'a [&'a Reference],
    dollars: &'a std::collections::HashSet<(usize, usize)>,
}

impl ScalarCtx<'_> {
    /// Adds the edits that write every reference's value into the scalar.
    fn write(&self, edits: &mut Vec<Edit>) -> Result<(), ExpandError> {
        let TokenType::Scalar(style, value) = &self.tok.ty else {
            return Ok(());
        };
        match style {
            TScalarStyle::DoubleQuoted => {
                for r in self.refs {
                    edits.push(self.edit(r, escape_double(self.value(r))));
                }
            }
            TScalarStyle::SingleQuoted => {
                if self.refs.iter().all(|r| single_safe(self.value(r))) {
                    for r in self.refs {
                        edits.push(self.edit(r, self.value(r).replace('\'', "''")));
                    }
                } else {
                    let end = quoted_end(self.skeleton, self.tok.line, self.tok.col)
                        .filter(|(line, _)| *line == self.tok.line)
                        .ok_or_else(|| self.needs_double_quotes())?;
                    edits.push(self.requote(self.tok.col + 1, end.1 - 1, true));
                }
            }
            TScalarStyle::Plain => {
                if self.refs.iter().all(|r| self.plain_safe(r)) {
                    for r in self.refs {
                        edits.push(self.edit(r, self.value(r).to_string()));
                    }
                } else {
                    let end = plain_end(self.skeleton, self.tok, value)
                        .ok_or_else(|| self.needs_double_quotes())?;
                    edits.push(self.requote(self.tok.col, end, false));
                }
            }
            TScalarStyle::Literal | TScalarStyle::Folded => {
                for r in self.refs {
                    let value = self.value(r);
                    let line = &self.lines[r.line - 1];
                    let starts_line = line[..r.col].iter().all(|c| matches!(c, ' ' | '\t'));
                    if !value.chars().all(|c| c == '\t' || !needs_escape(c))
                        || starts_line && (value.is_empty() || value.starts_with([' ', '\t']))
                    {
                        return Err(at(
                            r,
                            format!(
                                "environment variable {} cannot be inserted in this block scalar: its value is empty or starts with a blank at the start of a line, or holds a control character",
                                r.name
                            ),
                        ));
                    }
                    edits.push(self.edit(r, value.to_string()));
                }
            }
        }
        Ok(())
    }

    fn value<'r>(&self, r: &'r Reference) -> &'r str {
        r.value.as_deref().unwrap_or_default()
    }

    fn edit(&self, r: &Reference, text: String) -> Edit {
        Edit {
            line: r.line,
            start: r.col,
            end: r.col + r.len,
            text,
        }
    }

    fn needs_double_quotes(&self) -> ExpandError {
        let r = self.refs[0];
        at(
            r,
            format!(
                "environment variable {} needs quoting, but the scalar it stands in spans several lines: write that scalar in double quotes",
                r.name
            ),
        )
    }

    /// Rewrites the scalar's text between columns `from` and `to` of its line as a
    /// double-quoted scalar; `single` says the text was single-quoted (`''` is a `'`).
    fn requote(&self, from: usize, to: usize, single: bool) -> Edit {
        let line_no = self.tok.line;
        let line = &self.lines[line_no - 1];
        let mut text = String::from("\"");
        let mut k = from;
        while k < to {
            if let Some(r) = self.refs.iter().find(|r| r.line == line_no && r.col == k) {
                text.push_str(&escape_double(self.value(r)));
                k += r.len;
            } else if self.dollars.contains(&(line_no, k)) {
                text.push('$');
                k += 2;
            } else if single && line[k] == '\'' {
                text.push('\'');
                k += 2;
            } else {
                text.push_str(&escape_double(line[k].encode_utf8(&mut [0; 4])));
                k += 1;
            }
        }
        text.push('"');
        let (start, end) = if single {
            (from - 1, to + 1)
        } else {
            (from, to)
        };
        Edit {
            line: line_no,
            start,
            end,
            text,
        }
    }

    /// Whether `r`'s value can be written as is into this plain scalar without changing what
    /// the scalar is nor where it ends.
    fn plain_safe(&self, r: &Reference) -> bool {
        let value = self.value(r);
        let line = &self.lines[r.line - 1];
        let before = r.col.checked_sub(1).map(|i| line[i]);
        let after = line.get(r.col + r.len).copied();
        let at_start = (r.line, r.col) == (self.tok.line, self.tok.col)
            || line[..r.col].iter().all(|c| matches!(c, ' ' | '\t'));
        if value.is_empty() {
            return !at_start
                && matches!(before, Some(' ' | '\t'))
                && after.is_none_or(char::is_whitespace);
        }
        if matches!(value, "~" | "null" | "Null" | "NULL") || value.ends_with(':') {
            return false;
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || "_./:@+-=~%?&*!^();$".contains(c);
        if !value.chars().all(safe) {
            return false;
        }
        // A `:` stays plain only inside a URL or `host:port` (followed by `/` or an
        // alphanumeric): before anything else some parsers read it as a key indicator.
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ':'
                && !chars
                    .peek()
                    .is_some_and(|n| *n == '/' || n.is_ascii_alphanumeric())
            {
                return false;
            }
        }
        !at_start || plain_start_safe(value)
    }
}

/// Whether a plain scalar may start with `value` (no indicator, no document marker).
fn plain_start_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        || "_/($~+=^".contains(first)
        || first == '.' && !value.starts_with("..")
        || first == '-' && value.len() >= 2 && !value.starts_with("--")
}

/// Whether YAML needs `c` escaped: anything not printable in YAML, and the characters some
/// parsers read as line breaks or a byte-order mark.
fn needs_escape(c: char) -> bool {
    !matches!(c, ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether a single-quoted scalar can hold `value` (with `'` doubled).
fn single_safe(value: &str) -> bool {
    value.chars().all(|c| c == '\t' || !needs_escape(c))
}

/// `value` escaped for the inside of a double-quoted scalar.
fn escape_double(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) <= 0xFFFF => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `lines` with `edits` applied; an edit inside an earlier, wider one is skipped (it is
/// already part of it).
fn apply(lines: &[Vec<char>], mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.line, e.start, std::cmp::Reverse(e.end)));
    let mut out = String::new();
    let mut pending = edits.into_iter().peekable();
    for (index, line) in lines.iter().enumerate() {
        let mut cursor = 0;
        while let Some(e) = pending.next_if(|e| e.line == index + 1) {
            if e.start < cursor {
                continue;
            }
            out.extend(&line[cursor..e.start]);
            out.push_str(&e.text);
            cursor = e.end;
        }
        out.extend(&line[cursor..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb: c".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let got = expand("a: ${HOST}:5432\nb: ${NOPE:-x}\nc: $$5 ${EMPTY:-d}\n", env);
        assert_eq!(got, Ok("a: db:5432\nb: x\nc: $5 \n".to_string()));
    }

    #[test]
    fn comments_are_not_expanded() {
        assert_eq!(
            expand("  # ${NOPE}\n", env),
            Ok("  # ${NOPE}\n".to_string())
        );
    }

    #[test]
    fn errors_name_variable_and_position_but_never_value() {
        let errs = expand("x: 1\ny: ${NOPE} ${MULTI}\nz: ${1BAD} ${OPEN\n", env).unwrap_err();
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| format!("{}:{} {}", e.line, e.col, e.message))
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].starts_with("2:4 environment variable NOPE is not set"));
        assert!(msgs[1].starts_with("2:12 environment variable MULTI contains a line break"));
        assert!(!msgs[1].contains("b: c"));
        assert!(msgs[2].starts_with("3:4 `${1BAD}`"));
        assert!(msgs[3].starts_with("3:12 `${` is not closed"));
    }

    fn with(name: &str, value: &str) -> impl Fn(&str) -> Option<String> {
        let (name, value) = (name.to_string(), value.to_string());
        move |n: &str| (n == name).then(|| value.clone())
    }

    #[test]
    fn values_are_escaped_for_the_quotes_they_stand_in() {
        let tok = with("T", r"s3cr\x41t");
        assert_eq!(
            expand("a: \"${T}\"\n", &tok),
            Ok("a: \"s3cr\\\\x41t\"\n".to_string())
        );
        assert_eq!(expand("a: '${T}'\n", &tok), Ok("a: 's3cr\\x41t'\n".into()));
        let q = with("Q", "it's \"x\"");
        assert_eq!(
            expand("a: '${Q}' # c\n", &q),
            Ok("a: 'it''s \"x\"' # c\n".into())
        );
        assert_eq!(
            expand("a: \"<${Q}>\"\n", &q),
            Ok("a: \"<it's \\\"x\\\">\"\n".into())
        );
        // A control character cannot stand in single quotes: the scalar turns double-quoted.
        let c = with("C", "a\u{1}'b");
        assert_eq!(
            expand("a: 'x''${C}'\n", &c),
            Ok("a: \"x'a\\u0001'b\"\n".into())
        );
    }

    #[test]
    fn plain_safe_values_stay_plain_and_others_quote_the_scalar() {
        for v in [
            "8080",
            "30s",
            "api.example.com",
            "http://a:80/x",
            "-5",
            "1.5e3",
        ] {
            assert_eq!(
                expand("a: ${V}\n", with("V", v)),
                Ok(format!("a: {v}\n")),
                "{v}"
            );
        }
        let cases = [
            (
                "x\", key: \"y",
                r#"a: "x\", key: \"y"
"#,
            ),
            ("a: b", "a: \"a: b\"\n"),
            ("v # c", "a: \"v # c\"\n"),
            ("[1, 2]", "a: \"[1, 2]\"\n"),
            ("", "a: \"\"\n"),
            ("null", "a: \"null\"\n"),
            ("*alias", "a: \"*alias\"\n"),
            ("x:", "a: \"x:\"\n"),
            ("---", "a: \"---\"\n"),
        ];
        for (v, want) in cases {
            assert_eq!(expand("a: ${V}\n", with("V", v)), Ok(want.into()), "{v:?}");
        }
        // The literal part of the scalar is kept, escaped; a trailing comment is untouched.
        assert_eq!(
            expand("a: p\\$$${V} # ${V}\n", with("V", "\"q\"")),
            Ok("a: \"p\\\\$\\\"q\\\"\" # ${V}\n".into())
        );
        // Keys and flow collections too.
        assert_eq!(
            expand("${V}: [${V}, x]\n", with("V", "k, y")),
            Ok("\"k, y\": [\"k, y\", x]\n".into())
        );
    }

    #[test]
    fn block_scalars_take_the_value_literally() {
        let text = "a: |\n  line ${V}\n  ${V} end\n";
        assert_eq!(
            expand(text, with("V", "\"x\" \\n")),
            Ok("a: |\n  line \"x\" \\n\n  \"x\" \\n end\n".into())
        );
        let errs = expand(text, with("V", "  indented")).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].line, errs[0].col), (3, 3));
        assert!(!errs[0].message.contains("indented"));
    }

    #[test]
    fn references_in_trailing_comments_are_left_alone() {
        assert_eq!(
            expand("a: 1 # ${NOPE}\nb: \"x\" # ${NOPE}\n", env),
            Ok("a: 1 # ${NOPE}\nb: \"x\" # ${NOPE}\n".into())
        );
    }

    #[test]
    fn references_outside_scalars_and_after_broken_yaml_are_errors() {
        let errs = expand("a: &${HOST} x\n", env).unwrap_err();
        assert_eq!((errs[0].line, errs[0].col), (1, 5), "{errs:?}");
        assert!(errs[0].message.contains("HOST"));
        let errs = expand("a: [\"x\n\n\nb: ${HOST}\n", env).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(!errs[0].message.contains("db"), "{errs:?}");
    }

    #[test]
    fn multi_line_scalars_that_need_quoting_are_refused() {
        let errs = expand("a: one\n  ${V}\n", with("V", "x y")).unwrap_err();
        assert_eq!((errs[0].line, errs[0].col), (2, 3), "{errs:?}");
        assert_eq!(
            expand("a: one\n  ${V}\n", with("V", "xy")),
            Ok("a: one\n  xy\n".into())
        );
    }

    mod prop {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::super::expand;

        fn round_trip(template: &str, value: &str) -> Result<(), TestCaseError> {
            let text = expand(template, |n| (n == "V").then(|| value.to_string()))
                .map_err(|e| TestCaseError::fail(format!("{template:?} {value:?}: {e:?}")))?;
            let got: BTreeMap<String, String> = serde_yaml_ng::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            let want = BTreeMap::from([("key".to_string(), value.to_string())]);
            prop_assert_eq!(got, want, "{:?}", text);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_value_comes_back_as_the_same_string(value in "[^\r\n]*") {
                round_trip("key: \"${V}\"\n", &value)?;
                round_trip("key: '${V}'\n", &value)?;
                round_trip("key: ${V}\n", &value)?;
            }

            #[test]
            fn yaml_looking_values_come_back_as_the_same_string(
                value in "[-:#,\\[\\]{}&*!|>'\"%@` ?~a-z0-9.\\\\]{0,12}"
            ) {
                round_trip("key: \"${V}\"\n", &value)?;
                round_trip("key: '${V}'\n", &value)?;
                round_trip("key: ${V}\n", &value)?;
                round_trip("{key: ${V}}\n", &value)?;
            }
        }
    }
}
