//! A cap on how deeply a YAML document nests, checked before the text reaches serde (whose
//! parse time grows with the square of the nesting): the configuration, rule files and rule
//! unit-test files all pass through [`check_depth`] first.
//!
//! The check scans tokens with yaml-rust2's scanner and stops at the first mapping or
//! sequence past [`MAX_YAML_DEPTH`], so a hostile document costs no more than its first
//! levels.

use yaml_rust2::scanner::{Marker, Scanner, Token, TokenType};

/// How many mappings and sequences may nest inside each other; far beyond any real
/// configuration or rule file.
pub const MAX_YAML_DEPTH: usize = 64;

/// A document nests deeper than [`MAX_YAML_DEPTH`]; the position (1-based) is where the
/// first level too many opens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("YAML is nested too deeply (more than {MAX_YAML_DEPTH} levels)")]
pub struct TooDeep {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// Refuses `text` if its mappings and sequences nest deeper than [`MAX_YAML_DEPTH`]. A
/// document that does not scan passes (serde reports its syntax error).
pub fn check_depth(text: &str) -> Result<(), TooDeep> {
    let too_deep = |mark: Marker| TooDeep {
        line: mark.line(),
        col: mark.col() + 1,
    };
    let mut scanner = Scanner::new(text.chars());
    let mut depth = 0usize;
    while let Some(Token(mark, ty)) = scanner.next() {
        match ty {
            TokenType::BlockSequenceStart
            | TokenType::BlockMappingStart
            | TokenType::FlowSequenceStart
            | TokenType::FlowMappingStart => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    // A block mapping's start is marked at its first `:`; its first key is
                    // where it opens.
                    let mark = match ty {
                        TokenType::BlockMappingStart => scanner.next().map_or(mark, |t| t.0),
                        _ => mark,
                    };
                    return Err(too_deep(mark));
                }
            }
            TokenType::BlockEnd | TokenType::FlowSequenceEnd | TokenType::FlowMappingEnd => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    // The scanner holds back the tokens of a flow collection until it knows whether the
    // collection is a mapping key, and gives up past 255 flow levels: that is too deep too.
    match scanner.get_error() {
        Some(e) if e.info() == "recursion limit exceeded" => Err(too_deep(*e.marker())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_sequences_are_refused() {
        let n = 30_000;
        let text = format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        let e = check_depth(&text).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.col > 64, "{e:?}");
        // Within the scanner's own limit the first level too many is named (the root mapping
        // is the first level).
        let text = format!("a: {}{}\n", "{b: ".repeat(100), "}".repeat(100));
        assert_eq!(
            check_depth(&text),
            Err(TooDeep {
                line: 1,
                col: 4 + 4 * 63
            })
        );
    }

    #[test]
    fn deep_block_mappings_are_refused() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        text.push_str(&format!("{}v: 1\n", " ".repeat(200)));
        let e = check_depth(&text).unwrap_err();
        assert_eq!((e.line, e.col), (65, 65));
        assert_eq!(
            e.to_string(),
            "YAML is nested too deeply (more than 64 levels)"
        );
    }

    #[test]
    fn documents_within_the_limit_pass() {
        let n = MAX_YAML_DEPTH - 1;
        let text = format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_depth(&text), Ok(()));
        assert_eq!(check_depth("a: [\n"), Ok(()));
    }
}
