//! Load-time check of a parsed query: does this engine evaluate every construct in it?
//!
//! The rule loader calls [`check_supported`] on each rule's expression so that
//! `vitals check rules` (and a reload) reports "unsupported function foo()" when the file is
//! read, instead of the rule failing at its first evaluation. The evaluator itself raises the
//! same errors for the same constructs.

use promql_parser::parser::Expr;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};

use super::PromqlError;
use super::aggregate::is_supported_aggregation;
use super::functions::is_supported;

/// The binary operators this engine evaluates.
pub(crate) fn is_supported_binary(op: TokenId) -> bool {
    matches!(
        op,
        T_ADD
            | T_SUB
            | T_MUL
            | T_DIV
            | T_MOD
            | T_POW
            | T_ATAN2
            | T_EQLC
            | T_NEQ
            | T_GTR
            | T_LSS
            | T_GTE
            | T_LTE
            | T_LAND
            | T_LOR
            | T_LUNLESS
    )
}

/// Walks the whole expression and returns the first construct this engine cannot evaluate:
/// [`PromqlError::UnsupportedFunction`] for a function (e.g. `info()`), and
/// [`PromqlError::Unsupported`] for anything else (a `fill()` modifier, an aggregation or
/// operator it does not know, an extension node).
pub fn check_supported(expr: &Expr) -> Result<(), PromqlError> {
    match expr {
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_) => Ok(()),
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Subquery(sq) => check_supported(&sq.expr),
        Expr::Aggregate(a) => {
            if !is_supported_aggregation(a.op.id()) {
                return Err(PromqlError::Unsupported {
                    what: format!("aggregation {}", a.op),
                    expr: expr.to_string(),
                });
            }
            if let Some(p) = &a.param {
                check_supported(p)?;
            }
            check_supported(&a.expr)
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err(PromqlError::Unsupported {
                    what: "fill() modifier".to_owned(),
                    expr: expr.to_string(),
                });
            }
            if !is_supported_binary(b.op.id()) {
                return Err(PromqlError::Unsupported {
                    what: format!("binary operator {}", b.op),
                    expr: expr.to_string(),
                });
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Call(c) => {
            if !is_supported(c.func.name) {
                return Err(PromqlError::UnsupportedFunction {
                    name: c.func.name.to_owned(),
                    expr: expr.to_string(),
                });
            }
            c.args.args.iter().try_for_each(|a| check_supported(a))
        }
        Expr::Extension(_) => Err(PromqlError::Unsupported {
            what: "extension expression".to_owned(),
            expr: expr.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::functions::SUPPORTED;
    use crate::promql::{Engine, parse};
    use crate::store::{Store, StoreConfig};

    fn check(q: &str) -> Result<(), PromqlError> {
        check_supported(&parse(q).unwrap())
    }

    #[test]
    fn names_the_first_unsupported_function_anywhere() {
        assert!(check(r#"sum by (job) (rate(x[5m])) > 0 and on(job) absent(up{job="a"})"#).is_ok());
        assert!(check("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))").is_ok());
        let err = check("sum(rate(x[5m])) / scalar(info(up))").unwrap_err();
        match &err {
            PromqlError::UnsupportedFunction { name, .. } => assert_eq!(name, "info"),
            other => panic!("expected UnsupportedFunction, got {other:?}"),
        }
        assert!(
            err.to_string().starts_with("unsupported function info()"),
            "{err}"
        );
        // Inside a subquery, an aggregation parameter and a unary minus.
        assert!(check("max_over_time(info(up)[5m:1m])").is_err());
        assert!(check("topk(scalar(info(up)), x)").is_err());
        assert!(check("-info(up)").is_err());
    }

    #[test]
    fn every_supported_function_evaluates() {
        assert!(
            SUPPORTED.windows(2).all(|w| w[0] < w[1]),
            "SUPPORTED must stay sorted"
        );
        let store = Store::new(
            StoreConfig {
                retention: std::time::Duration::from_secs(3600),
                stale_after: std::time::Duration::from_secs(3600),
                max_series: 10,
            },
            &prometheus::Registry::new(),
        )
        .unwrap();
        let engine = Engine::new(&store);
        // Argument lists covering every signature in the parser's function table.
        const ARGS: &[&str] = &[
            "",
            "x",
            "x[5m]",
            "1",
            "x, 1",
            "x, 1, 2",
            "1, x",
            "1, 2",
            "1, 2, x",
            "x[5m], 1",
            "1, x[5m]",
            "x[5m], 0.5, 0.5",
            r#"x, "a""#,
            r#"x, "a", 0.5"#,
            r#"x, "a", "b", "c", "d""#,
            r#"x, "a", "b", "c""#,
        ];
        for name in SUPPORTED {
            let parsed = ARGS
                .iter()
                .find_map(|a| parse(&format!("{name}({a})")).ok())
                .unwrap_or_else(|| panic!("no argument list parses for {name}()"));
            assert!(check_supported(&parsed).is_ok(), "{name}");
            let result = engine.instant_expr(&parsed, 600_000);
            assert!(
                !matches!(
                    result,
                    Err(PromqlError::UnsupportedFunction { .. } | PromqlError::Unsupported { .. })
                ),
                "{name}() is listed as supported but does not evaluate: {result:?}"
            );
        }
        // And a function the parser knows but this engine does not is caught by both.
        let info = parse("info(x)").unwrap();
        assert!(matches!(
            check_supported(&info),
            Err(PromqlError::UnsupportedFunction { .. })
        ));
        assert!(matches!(
            engine.instant_expr(&info, 0),
            Err(PromqlError::UnsupportedFunction { .. })
        ));
    }
}
