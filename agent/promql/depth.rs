//! The nesting-depth guard every query passes before it is parsed.
//!
//! The parser (`promql-parser`), the evaluator, `Display`, `prettify` and even dropping a
//! syntax tree all recurse once per level of the tree, so a query nested deeply enough (2,000
//! `abs(`, or 10,000 terms of `1+1+…`, which parse left-deep without any parentheses)
//! overflows a thread's stack and aborts the daemon. [`check_depth`] bounds the depth with a
//! cheap scan of the text, before any of those run: [`super::parse`] calls it, so the query
//! API, rule files, rule unit tests and the template `query` function all refuse such a query
//! with [`PromqlError::TooDeep`].

use promql_parser::parser::Expr;

use super::PromqlError;

/// Most levels a query may nest: brackets (`(`, `[`, `{`) plus the binary operators of a
/// chain at one bracket level. A query within it parses, prints and drops on a 2 MiB stack
/// (a tokio thread's, a rule worker's), and evaluates from one: deep queries are evaluated on
/// a thread with a larger stack (see [`super::DEEP_EVAL_STACK_BYTES`]). The test
/// `promql::tests::deepest_queries_fit_a_2_mib_stack` checks both for every recursive shape.
pub const MAX_EXPR_DEPTH: usize = 512;

/// The depth of one open bracket level so far.
#[derive(Default, Clone, Copy)]
struct Level {
    /// Operators seen at this level (each may add a level to a left-deep chain).
    ops: usize,
    /// Deepest bracketed child closed at this level.
    child: usize,
}

impl Level {
    fn depth(self) -> usize {
        self.ops.saturating_add(self.child)
    }
}

/// Errors with [`PromqlError::TooDeep`] when `text` may nest more than [`MAX_EXPR_DEPTH`]
/// levels. The count is an upper bound on the depth of the syntax tree: every bracket and
/// every operator (binary or unary, and `and`/`or`/`unless`/`atan2`) counts one level, so
/// `a + b + c` is 2 deep and `abs(abs(x))` is 2 deep. Strings and comments are skipped.
/// Unbalanced brackets are left to the parser to report.
pub fn check_depth(text: &str) -> Result<(), PromqlError> {
    let too_deep = || PromqlError::TooDeep {
        limit: MAX_EXPR_DEPTH,
    };
    let b = text.as_bytes();
    let mut open: Vec<Level> = Vec::new();
    let mut cur = Level::default();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b'"' | b'\'' | b'`' => {
                // Skip to the closing quote; only `"` and `'` strings have escapes.
                while i < b.len() && b[i] != c {
                    if c != b'`' && b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                open.push(cur);
                cur = Level::default();
                if open.len() > MAX_EXPR_DEPTH {
                    return Err(too_deep());
                }
            }
            b')' | b']' | b'}' => {
                let inner = cur.depth().saturating_add(1);
                cur = open.pop().unwrap_or_default();
                cur.child = cur.child.max(inner);
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' => cur.ops += 1,
            // `==` and `!=` (one level each; a lone `=` or `!~` is a matcher).
            b'=' | b'!' if b.get(i) == Some(&b'=') => {
                cur.ops += 1;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i - 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &text[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    cur.ops += 1;
                }
            }
            _ => {}
        }
        if cur.depth().saturating_add(open.len()) > MAX_EXPR_DEPTH {
            return Err(too_deep());
        }
    }
    Ok(())
}

/// The depth of `e`'s syntax tree (a lone literal or selector is 1), counted no further
/// than `stop + 1`: enough to tell whether it is deeper than `stop`.
pub(crate) fn tree_depth(e: &Expr, stop: usize) -> usize {
    if stop == 0 {
        return 1;
    }
    let below = |c: &Expr| tree_depth(c, stop - 1);
    1 + match e {
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => 0,
        Expr::Paren(p) => below(&p.expr),
        Expr::Unary(u) => below(&u.expr),
        Expr::Subquery(sq) => below(&sq.expr),
        Expr::Aggregate(a) => below(&a.expr).max(a.param.as_deref().map_or(0, below)),
        Expr::Binary(b) => below(&b.lhs).max(below(&b.rhs)),
        Expr::Call(c) => c.args.args.iter().map(|a| below(a)).max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    fn chain(term: &str, op: &str, n: usize) -> String {
        vec![term; n].join(op)
    }

    #[test]
    fn tree_depth_stops_early() {
        let e = crate::promql::parse("abs(abs(x)) + 1").unwrap();
        assert_eq!(tree_depth(&e, 100), 4);
        assert_eq!(tree_depth(&e, 2), 3);
    }

    #[test]
    fn counts_brackets_and_operator_chains() {
        let max = MAX_EXPR_DEPTH;
        assert!(check_depth(&nested("abs(", "x", ")", max - 1)).is_ok());
        assert!(check_depth(&nested("abs(", "x", ")", max + 1)).is_err());
        assert!(check_depth(&chain("1", "+", max)).is_ok());
        assert!(check_depth(&chain("1", "+", max + 2)).is_err());
        assert!(check_depth(&chain("a", " and ", max + 2)).is_err());
        assert!(check_depth(&chain("a", " == ", max + 2)).is_err());
        // A chain inside brackets adds to the brackets around it.
        let half = nested("(", &chain("1", "*", max / 2), ")", max / 2 + 2);
        assert!(check_depth(&half).is_err());
        // Many siblings are not depth.
        let wide = format!("sum({})", chain("abs(x)", ", ", 1)).repeat(1);
        assert!(check_depth(&wide).is_ok());
        let siblings = format!("vector({})", chain("abs(abs(x))", " + ", 10));
        assert!(check_depth(&siblings).is_ok());
        // Brackets and operators in strings and comments do not count.
        let s = format!(
            "label_replace(x, \"a\", \"{}\", \"b\", \"\")",
            "(+".repeat(2 * max)
        );
        assert!(check_depth(&s).is_ok());
        let c = format!("x # {}\n", "(".repeat(2 * max));
        assert!(check_depth(&c).is_ok());
        assert!(check_depth(r#"{a="\"(((("}"#).is_ok());
        // The error names the limit.
        let e = check_depth(&"abs(".repeat(2000)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("query is nested too deeply (more than {max} levels)")
        );
    }
}
