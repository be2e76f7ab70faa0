//! Label matchers in Alertmanager's syntax (`pkg/labels/parse.go`): the routing tree, inhibit
//! rules and silences all select alerts with them.
//!
//! One matcher is `name op value` with `op` one of `=`, `!=`, `=~`, `!~`; the value may be
//! double-quoted, with OpenMetrics escapes (`\"`, `\n`, `\\`; any other `\x` stays literal).
//! A list is comma-separated, optionally in braces: `{a="b", c=~"x|y"}` or `a=b,c!=d`. Regexes
//! are fully anchored (`^(?:re)$`), RE2 syntax via the `regex` crate. A missing label matches
//! as the empty string.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use super::Labels;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    /// `=`: equal.
    Equal,
    /// `!=`: not equal.
    NotEqual,
    /// `=~`: the anchored regex matches.
    Regexp,
    /// `!~`: the anchored regex does not match.
    NotRegexp,
}

impl MatchType {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }

    /// Whether the operator takes a regex.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regexp | MatchType::NotRegexp)
    }
}

/// Why a matcher did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// Not `name op value`.
    #[error("bad matcher format: {0}")]
    Format(String),
    /// A `"` inside the value that is not escaped, or an unterminated quote.
    #[error("matcher value contains unescaped double quote: {0}")]
    UnescapedQuote(String),
    /// The regex does not compile.
    #[error("invalid regex {value:?}: {message}")]
    Regex {
        /// The regex as written.
        value: String,
        /// The regex crate's message.
        message: String,
    },
}

/// One label matcher.
#[derive(Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchType,
    /// The value (the regex source for regex operators), unescaped.
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// A matcher; compiles the anchored regex for `=~` and `!~`.
    pub fn new(op: MatchType, name: &str, value: &str) -> Result<Matcher, MatcherError> {
        let re = if op.is_regex() {
            Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| MatcherError::Regex {
                    value: value.to_string(),
                    message: e.to_string(),
                })?,
            )
        } else {
            None
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// Whether `value` satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchType::Equal, _) => value == self.value,
            (MatchType::NotEqual, _) => value != self.value,
            (MatchType::Regexp, Some(re)) => re.is_match(value),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(value),
            // `new` always compiles the regex for regex operators.
            (_, None) => false,
        }
    }

    /// Whether the label set satisfies the matcher; a missing label is the empty string.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Parses one matcher (`ParseMatcher`).
    pub fn parse(s: &str) -> Result<Matcher, MatcherError> {
        let format_err = || MatcherError::Format(s.to_string());
        let rest = s.trim_start_matches(is_go_space);
        let name_len = rest
            .char_indices()
            .take_while(|&(i, c)| {
                c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
            })
            .count();
        if name_len == 0 {
            return Err(format_err());
        }
        let (name, rest) = rest.split_at(name_len);
        let rest = rest.trim_start_matches(is_go_space);
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchType::Regexp, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchType::Equal, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchType::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchType::NotRegexp, r)
        } else {
            return Err(format_err());
        };
        let raw = rest.trim_matches(is_go_space);
        let value = unescape_value(raw)?;
        Matcher::new(op, name, &value)
    }
}

/// Go's RE2 `\s`: ASCII space, tab, newline, form feed, carriage return.
fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

fn unescape_value(raw_all: &str) -> Result<String, MatcherError> {
    let (raw, mut expect_quote) = match raw_all.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw_all, false),
    };
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        let last = i + c.len_utf8() == raw.len();
        match c {
            '\\' if !last => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_quote || !last {
                    return Err(MatcherError::UnescapedQuote(raw_all.to_string()));
                }
                expect_quote = false;
            }
            _ => value.push(c),
        }
    }
    if expect_quote {
        return Err(MatcherError::UnescapedQuote(raw_all.to_string()));
    }
    Ok(value)
}

/// OpenMetrics escaping of a value: `\` → `\\`, newline → `\n`, `"` → `\"`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out
}

fn is_reserved(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '!' | '=' | '~' | ',' | '\\' | '"' | '\'' | '`'
        )
}

impl fmt::Display for Matcher {
    /// As Alertmanager's `Matcher.String()`: `name="value"` (the name quoted too when it holds
    /// characters the syntax reserves).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.contains(is_reserved) {
            write!(
                f,
                "\"{}\"{}\"{}\"",
                escape_value(&self.name),
                self.op.as_str(),
                escape_value(&self.value)
            )
        } else {
            write!(
                f,
                "{}{}\"{}\"",
                self.name,
                self.op.as_str(),
                escape_value(&self.value)
            )
        }
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Matcher {
    /// Alertmanager's `Matchers.Less`: by name, then value, then operator.
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.name, &self.value, self.op).cmp(&(&other.name, &other.value, other.op))
    }
}

/// A conjunction of matchers: all must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Parses a comma-separated list, optionally in braces (`ParseMatchers`). Commas inside
    /// double quotes do not separate; a trailing comma is allowed.
    pub fn parse(s: &str) -> Result<Matchers, MatcherError> {
        let s = s.strip_prefix('{').unwrap_or(s);
        let s = s.strip_suffix('}').unwrap_or(s);
        let mut tokens = Vec::new();
        let mut token = String::new();
        let mut inside_quotes = false;
        let mut escaped = false;
        for c in s.chars() {
            match c {
                ',' if !inside_quotes => {
                    tokens.push(std::mem::take(&mut token));
                    continue;
                }
                ',' => {}
                '"' => {
                    if escaped {
                        escaped = false;
                    } else {
                        inside_quotes = !inside_quotes;
                    }
                }
                '\\' => escaped = !escaped,
                _ => escaped = false,
            }
            token.push(c);
        }
        let last = token.trim();
        if !last.is_empty() {
            tokens.push(last.to_string());
        }
        tokens
            .iter()
            .map(|t| Matcher::parse(t))
            .collect::<Result<Vec<_>, _>>()
            .map(Matchers)
    }

    /// Whether every matcher matches `labels` (true for no matchers).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    /// Sorts as Alertmanager does before printing a route's matchers.
    pub fn sort(&mut self) {
        self.0.sort();
    }

    /// Whether there are no matchers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Matchers {
    /// `{a="b",c=~"x"}`, as Alertmanager's `Matchers.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Whether `s` is a valid (classic) Prometheus label name.
pub fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::labels;
    use proptest::prelude::*;

    fn m(op: MatchType, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    #[test]
    fn parses_alertmanager_examples() {
        // From pkg/labels/parse_test.go.
        let cases: &[(&str, Vec<Matcher>)] = &[
            ("{foo=\"bar\"}", vec![m(MatchType::Equal, "foo", "bar")]),
            (
                "{foo=~\"bar.*\"}",
                vec![m(MatchType::Regexp, "foo", "bar.*")],
            ),
            ("{foo!=\"bar\"}", vec![m(MatchType::NotEqual, "foo", "bar")]),
            (
                "{foo!~\"bar.*\"}",
                vec![m(MatchType::NotRegexp, "foo", "bar.*")],
            ),
            (
                "{foo=\"bar\", baz!=\"quux\"}",
                vec![
                    m(MatchType::Equal, "foo", "bar"),
                    m(MatchType::NotEqual, "baz", "quux"),
                ],
            ),
            (
                "{foo=\"bar\", baz!~\"quux.*\"}",
                vec![
                    m(MatchType::Equal, "foo", "bar"),
                    m(MatchType::NotRegexp, "baz", "quux.*"),
                ],
            ),
            (
                "{foo=\"bar\",baz!~\".*quux\", derp=\"wat\"}",
                vec![
                    m(MatchType::Equal, "foo", "bar"),
                    m(MatchType::NotRegexp, "baz", ".*quux"),
                    m(MatchType::Equal, "derp", "wat"),
                ],
            ),
            (
                "{foo=\"bar\", baz=\"\"}",
                vec![
                    m(MatchType::Equal, "foo", "bar"),
                    m(MatchType::Equal, "baz", ""),
                ],
            ),
            (
                r#"{foo="bar,quux", job="job1"}"#,
                vec![
                    m(MatchType::Equal, "foo", "bar,quux"),
                    m(MatchType::Equal, "job", "job1"),
                ],
            ),
            (
                r#"{foo = "bar", dings != "bums", }"#,
                vec![
                    m(MatchType::Equal, "foo", "bar"),
                    m(MatchType::NotEqual, "dings", "bums"),
                ],
            ),
            (
                "foo=bar,dings!=bums",
                vec![
                    m(MatchType::Equal, "foo", "bar"),
                    m(MatchType::NotEqual, "dings", "bums"),
                ],
            ),
            (
                r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#,
                vec![m(
                    MatchType::Equal,
                    "quote",
                    "She said: \"Hi, ladies! That's gender-neutral…\"",
                )],
            ),
            (
                r#"statuscode=~"5..""#,
                vec![m(MatchType::Regexp, "statuscode", "5..")],
            ),
            (r#"tags=~"^(?=.*tag1)""#, vec![]), // lookahead: not RE2, an error below
            (r#"{foo="bar}"}"#, vec![m(MatchType::Equal, "foo", "bar}")]),
            (r#"{foo=bar}"}"#, vec![]), // unescaped quote: error
            (r#"{foo="\\"}"#, vec![m(MatchType::Equal, "foo", "\\")]),
            (r#"{foo="\n"}"#, vec![m(MatchType::Equal, "foo", "\n")]),
            (r#"{foo="\t"}"#, vec![m(MatchType::Equal, "foo", "\\t")]),
            (r#"foo=bar\"#, vec![m(MatchType::Equal, "foo", "bar\\")]),
            ("{foo=bar}", vec![m(MatchType::Equal, "foo", "bar")]),
            ("{foo=}", vec![m(MatchType::Equal, "foo", "")]),
        ];
        for (input, want) in cases {
            let got = Matchers::parse(input);
            if want.is_empty() {
                assert!(got.is_err(), "{input} should fail, got {got:?}");
            } else {
                assert_eq!(got.unwrap().0, *want, "{input}");
            }
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "foo",
            "=bar",
            "1foo=bar",
            "foo==bar\"",
            "foo=\"bar",
            "foo=\"b\"ar\"",
            "foo=~\"(\"",
            "{foo=\"bar\",,baz=\"x\"}",
        ] {
            assert!(Matchers::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_with_missing_label_as_empty() {
        let l = labels(&[("severity", "critical"), ("job", "api")]);
        let ms = Matchers::parse(r#"{severity="critical",job=~"a.i",team!="x",env=""}"#).unwrap();
        assert!(ms.matches(&l));
        assert!(!Matchers::parse("env!=\"\"").unwrap().matches(&l));
        // Anchored: "ap" does not match "api".
        assert!(!Matchers::parse("job=~ap").unwrap().matches(&l));
        assert!(Matchers::parse("job!~ap").unwrap().matches(&l));
        assert!(Matchers::parse("job=~\"api|web\"").unwrap().matches(&l));
    }

    #[test]
    fn prints_like_alertmanager() {
        let mut ms = Matchers::parse(r#"b=~"x", a="q\"\n", a!="a""#).unwrap();
        ms.sort();
        assert_eq!(ms.to_string(), r#"{a!="a",a="q\"\n",b=~"x"}"#);
        let odd = Matcher::new(MatchType::Equal, "a b", "v").unwrap();
        assert_eq!(odd.to_string(), r#""a b"="v""#);
    }

    #[test]
    fn label_names() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
    }

    fn op() -> impl Strategy<Value = MatchType> {
        prop_oneof![
            Just(MatchType::Equal),
            Just(MatchType::NotEqual),
            Just(MatchType::Regexp),
            Just(MatchType::NotRegexp),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(
            name in "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
            value in "[a-z0-9 ,{}=!~\"\\\\\n]{0,12}",
            op in op(),
        ) {
            // Regex values must compile: escape them.
            let value = if op.is_regex() { regex::escape(&value) } else { value };
            let m1 = Matcher::new(op, &name, &value).unwrap();
            let parsed = Matchers::parse(&format!("{{{m1}}}")).unwrap();
            prop_assert_eq!(parsed.0, vec![m1.clone()]);
            let one = Matcher::parse(&m1.to_string()).unwrap();
            prop_assert_eq!(one, m1);
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,40}") {
            let _ = Matchers::parse(&s);
        }

        #[test]
        fn equal_and_not_equal_are_complements(v in "[a-c]{0,3}", w in "[a-c]{0,3}") {
            let l = labels(&[("x", &v)]);
            let eq = Matcher::new(MatchType::Equal, "x", &w).unwrap();
            let ne = Matcher::new(MatchType::NotEqual, "x", &w).unwrap();
            let re = Matcher::new(MatchType::Regexp, "x", &regex::escape(&w)).unwrap();
            let nre = Matcher::new(MatchType::NotRegexp, "x", &regex::escape(&w)).unwrap();
            prop_assert_ne!(eq.matches(&l), ne.matches(&l));
            prop_assert_eq!(eq.matches(&l), re.matches(&l));
            prop_assert_ne!(re.matches(&l), nre.matches(&l));
        }
    }
}
