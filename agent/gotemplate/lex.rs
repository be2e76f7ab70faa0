//! The lexer: template text to tokens, as Go's `text/template/parse/lex.go` does it.
//!
//! It owns the `{{`/`}}` delimiters, the `{{- `/` -}}` trim markers (applied here, to the
//! neighbouring text), comments (dropped here), and the token kinds of an action. Errors carry
//! the byte offset where lexing stopped.

use super::gofmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    LeftParen,
    RightParen,
    Assign,
    Declare,
    Comma,
    Char,
    Number,
    String,
    RawString,
    Bool,
    Dot,
    Field,
    Variable,
    Identifier,
    Nil,
    // Keywords.
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token<'s> {
    pub kind: Kind,
    /// Byte offset of the token in the source.
    pub pos: usize,
    /// The token's text (for `Text`, after trimming).
    pub val: &'s str,
}

impl Token<'_> {
    /// Go's `item.String()`, used in "unexpected ..." messages.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Eof => "EOF".to_string(),
            Kind::Block
            | Kind::Break
            | Kind::Continue
            | Kind::Define
            | Kind::Else
            | Kind::End
            | Kind::If
            | Kind::Range
            | Kind::Template
            | Kind::With
            | Kind::Nil => format!("<{}>", self.val),
            _ => {
                let q = gofmt::quote(self.val);
                if self.val.chars().count() > 10 {
                    let short: String = self.val.chars().take(10).collect();
                    format!("{}...", gofmt::quote(&short))
                } else {
                    q
                }
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct LexError {
    pub pos: usize,
    pub msg: String,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Whether `s` starts with a right trim marker followed by the right delimiter (` -}}`).
fn at_trim_right(s: &[u8]) -> bool {
    s.len() >= 4 && is_space(s[0]) && s[1] == b'-' && &s[2..4] == RIGHT.as_bytes()
}

pub(crate) fn lex<'s>(src: &'s str) -> Result<Vec<Token<'s>>, LexError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut pos = 0;
    let mut trim_next_text = false;
    loop {
        let next = src[pos..].find(LEFT).map(|i| pos + i);
        let text_end = next.unwrap_or(src.len());
        let mut text = &src[pos..text_end];
        let mut text_pos = pos;
        if trim_next_text {
            let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
            text_pos += text.len() - trimmed.len();
            text = trimmed;
        }
        let Some(open) = next else {
            if !text.is_empty() {
                toks.push(Token {
                    kind: Kind::Text,
                    pos: text_pos,
                    val: text,
                });
            }
            toks.push(Token {
                kind: Kind::Eof,
                pos: src.len(),
                val: "",
            });
            return Ok(toks);
        };
        let left_trim =
            b.get(open + 2) == Some(&b'-') && b.get(open + 3).is_some_and(|&c| is_space(c));
        if left_trim {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            toks.push(Token {
                kind: Kind::Text,
                pos: text_pos,
                val: text,
            });
        }
        let mut p = open + 2;
        if left_trim {
            p += 2;
        }
        // Comment: must follow the delimiter (and trim marker) immediately.
        if src[p..].starts_with("/*") {
            let Some(close) = src[p + 2..].find("*/") else {
                return Err(LexError {
                    pos: open,
                    msg: "unclosed comment".into(),
                });
            };
            let q = p + 2 + close + 2;
            if at_trim_right(&b[q..]) {
                trim_next_text = true;
                pos = q + 4;
            } else if src[q..].starts_with(RIGHT) {
                trim_next_text = false;
                pos = q + 2;
            } else {
                return Err(LexError {
                    pos: q,
                    msg: "comment ends before closing delimiter".into(),
                });
            }
            continue;
        }
        toks.push(Token {
            kind: Kind::LeftDelim,
            pos: open,
            val: LEFT,
        });
        let mut depth: i32 = 0;
        loop {
            if at_trim_right(&b[p..]) || src[p..].starts_with(RIGHT) {
                if depth > 0 {
                    return Err(LexError {
                        pos: p,
                        msg: "unclosed left paren".into(),
                    });
                }
                let trim = !src[p..].starts_with(RIGHT);
                let start = if trim { p + 2 } else { p };
                toks.push(Token {
                    kind: Kind::RightDelim,
                    pos: start,
                    val: RIGHT,
                });
                trim_next_text = trim;
                pos = start + 2;
                break;
            }
            let Some(c) = src[p..].chars().next() else {
                return Err(LexError {
                    pos: open,
                    msg: "unclosed action".into(),
                });
            };
            let start = p;
            let single = |kind: Kind, toks: &mut Vec<Token<'s>>| {
                toks.push(Token {
                    kind,
                    pos: start,
                    val: &src[start..start + 1],
                });
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while p < b.len() && is_space(b[p]) && !at_trim_right(&b[p..]) {
                        p += 1;
                    }
                    if p > start {
                        toks.push(Token {
                            kind: Kind::Space,
                            pos: start,
                            val: &src[start..p],
                        });
                    } else {
                        // Only a trim marker follows; the delimiter check above handles it.
                        continue;
                    }
                }
                '=' => {
                    single(Kind::Assign, &mut toks);
                    p += 1;
                }
                ':' => {
                    if b.get(p + 1) != Some(&b'=') {
                        return Err(LexError {
                            pos: p,
                            msg: "expected :=".into(),
                        });
                    }
                    toks.push(Token {
                        kind: Kind::Declare,
                        pos: p,
                        val: &src[p..p + 2],
                    });
                    p += 2;
                }
                '|' => {
                    single(Kind::Pipe, &mut toks);
                    p += 1;
                }
                ',' => {
                    single(Kind::Comma, &mut toks);
                    p += 1;
                }
                '(' => {
                    single(Kind::LeftParen, &mut toks);
                    depth += 1;
                    p += 1;
                }
                ')' => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(LexError {
                            pos: p,
                            msg: "unexpected right paren".into(),
                        });
                    }
                    single(Kind::RightParen, &mut toks);
                    p += 1;
                }
                '"' | '\'' => {
                    let quote = b[p];
                    p += 1;
                    loop {
                        match b.get(p) {
                            None | Some(b'\n') => {
                                let msg = if quote == b'"' {
                                    "unterminated quoted string"
                                } else {
                                    "unterminated character constant"
                                };
                                return Err(LexError {
                                    pos: start,
                                    msg: msg.into(),
                                });
                            }
                            Some(b'\\') => {
                                p += 1;
                                if p < b.len() && b[p] != b'\n' {
                                    p += src[p..].chars().next().map_or(1, char::len_utf8);
                                }
                            }
                            Some(&c) if c == quote => {
                                p += 1;
                                break;
                            }
                            Some(_) => p += src[p..].chars().next().map_or(1, char::len_utf8),
                        }
                    }
                    let kind = if quote == b'"' {
                        Kind::String
                    } else {
                        Kind::Char
                    };
                    toks.push(Token {
                        kind,
                        pos: start,
                        val: &src[start..p],
                    });
                }
                '`' => {
                    let Some(close) = src[p + 1..].find('`') else {
                        return Err(LexError {
                            pos: start,
                            msg: "unterminated raw quoted string".into(),
                        });
                    };
                    p = p + 1 + close + 1;
                    toks.push(Token {
                        kind: Kind::RawString,
                        pos: start,
                        val: &src[start..p],
                    });
                }
                '$' => {
                    p += 1;
                    p += alnum_run(&src[p..]);
                    check_terminator(src, p)?;
                    toks.push(Token {
                        kind: Kind::Variable,
                        pos: start,
                        val: &src[start..p],
                    });
                }
                '.' => {
                    if b.get(p + 1).is_some_and(u8::is_ascii_digit) {
                        p = lex_number(src, p)?;
                        toks.push(Token {
                            kind: Kind::Number,
                            pos: start,
                            val: &src[start..p],
                        });
                    } else {
                        p += 1;
                        let n = alnum_run(&src[p..]);
                        p += n;
                        if n == 0 {
                            toks.push(Token {
                                kind: Kind::Dot,
                                pos: start,
                                val: ".",
                            });
                        } else {
                            check_terminator(src, p)?;
                            toks.push(Token {
                                kind: Kind::Field,
                                pos: start,
                                val: &src[start..p],
                            });
                        }
                    }
                }
                '+' | '-' | '0'..='9' => {
                    p = lex_number(src, p)?;
                    toks.push(Token {
                        kind: Kind::Number,
                        pos: start,
                        val: &src[start..p],
                    });
                }
                c if is_alnum(c) => {
                    p += alnum_run(&src[p..]);
                    let word = &src[start..p];
                    let kind = match word {
                        "block" => Kind::Block,
                        "break" => Kind::Break,
                        "continue" => Kind::Continue,
                        "define" => Kind::Define,
                        "else" => Kind::Else,
                        "end" => Kind::End,
                        "if" => Kind::If,
                        "range" => Kind::Range,
                        "template" => Kind::Template,
                        "with" => Kind::With,
                        "nil" => Kind::Nil,
                        "true" | "false" => Kind::Bool,
                        _ => Kind::Identifier,
                    };
                    check_terminator(src, p)?;
                    toks.push(Token {
                        kind,
                        pos: start,
                        val: word,
                    });
                }
                other => {
                    return Err(LexError {
                        pos: p,
                        msg: format!(
                            "unrecognized character in action: {}",
                            gofmt::unicode_name(other)
                        ),
                    });
                }
            }
        }
    }
}

fn alnum_run(s: &str) -> usize {
    s.char_indices()
        .find(|&(_, c)| !is_alnum(c))
        .map_or(s.len(), |(i, _)| i)
}

/// After a word, Go requires a space, delimiter, or one of `.,|:()` (`atTerminator`).
fn check_terminator(src: &str, p: usize) -> Result<(), LexError> {
    let rest = &src[p..];
    match rest.chars().next() {
        None => Ok(()),
        Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(') => Ok(()),
        Some(_) if rest.starts_with(RIGHT) => Ok(()),
        Some(c) => Err(LexError {
            pos: p,
            msg: format!("bad character {}", gofmt::unicode_name(c)),
        }),
    }
}

/// Go's `scanNumber`: returns the end offset, or "bad number syntax".
fn lex_number(src: &str, start: usize) -> Result<usize, LexError> {
    let b = src.as_bytes();
    let mut p = start;
    let accept = |p: &mut usize, set: &[u8]| -> bool {
        if *p < b.len() && set.contains(&b[*p]) {
            *p += 1;
            true
        } else {
            false
        }
    };
    let accept_run = |p: &mut usize, set: &[u8]| {
        while *p < b.len() && set.contains(&b[*p]) {
            *p += 1;
        }
    };
    accept(&mut p, b"+-");
    let mut digits: &[u8] = b"0123456789_";
    if accept(&mut p, b"0") {
        if accept(&mut p, b"xX") {
            digits = b"0123456789abcdefABCDEF_";
        } else if accept(&mut p, b"oO") {
            digits = b"01234567_";
        } else if accept(&mut p, b"bB") {
            digits = b"01_";
        }
    }
    accept_run(&mut p, digits);
    if accept(&mut p, b".") {
        accept_run(&mut p, digits);
    }
    if digits.len() == 11 && accept(&mut p, b"eE") {
        accept(&mut p, b"+-");
        accept_run(&mut p, b"0123456789_");
    }
    if digits.len() == 23 && accept(&mut p, b"pP") {
        accept(&mut p, b"+-");
        accept_run(&mut p, b"0123456789_");
    }
    accept(&mut p, b"i");
    if let Some(c) = src[p..].chars().next()
        && is_alnum(c)
    {
        let end = p + c.len_utf8();
        return Err(LexError {
            pos: start,
            msg: format!("bad number syntax: {}", gofmt::quote(&src[start..end])),
        });
    }
    Ok(p)
}
