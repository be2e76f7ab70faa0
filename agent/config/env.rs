//! `${VAR}` and `${VAR:-default}` expansion of the configuration text, before YAML parsing.
//!
//! `$$` is a literal `$`. Comment lines are left alone. A variable that is unset and has no
//! default is an error naming the variable and its line and column, never its value. A value
//! containing a line break is refused: it could change the YAML structure around it.

/// A problem found while expanding; positions are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Expands every reference in `text`, looking variables up with `lookup`. Returns the new
/// text, or every error found.
pub fn expand(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<ExpandError>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut col = 1;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            col += rest[..i].chars().count();
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
                col += 2;
                continue;
            }
            let Some(body) = after.strip_prefix('{') else {
                out.push('$');
                rest = after;
                col += 1;
                continue;
            };
            let Some(end) = body.find('}') else {
                errors.push(ExpandError {
                    line: line_no + 1,
                    col,
                    message: "`${` is not closed by `}` (write `$$` for a literal `$`)".into(),
                });
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid_name = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let at = (line_no + 1, col);
            if !valid_name {
                errors.push(ExpandError {
                    line: at.0,
                    col: at.1,
                    message: format!("`${{{inner}}}` does not name an environment variable"),
                });
            } else {
                match lookup(name).or_else(|| default.map(str::to_string)) {
                    Some(value) if value.contains(['\n', '\r']) => errors.push(ExpandError {
                        line: at.0,
                        col: at.1,
                        message: format!(
                            "environment variable {name} contains a line break, which is not allowed in the configuration"
                        ),
                    }),
                    Some(value) => out.push_str(&value),
                    None => errors.push(ExpandError {
                        line: at.0,
                        col: at.1,
                        message: format!(
                            "environment variable {name} is not set (give a default with ${{{name}:-default}})"
                        ),
                    }),
                }
            }
            let consumed = 2 + end + 1;
            col += rest[i..i + consumed].chars().count();
            rest = &rest[i + consumed..];
        }
        out.push_str(rest);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
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
}
