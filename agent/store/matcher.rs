//! Label matchers with Prometheus semantics: `=`, `!=`, `=~`, `!~`; a label the series does
//! not have matches as the empty string; regexes are fully anchored (`^(?:re)$`).

use std::fmt;

use regex::Regex;

use super::StoreError;

/// The matcher operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// One `name op "value"` matcher.
#[derive(Clone, Debug)]
pub struct LabelMatcher {
    name: String,
    op: MatchOp,
    value: String,
    re: Option<Regex>,
}

impl LabelMatcher {
    /// Builds a matcher; a regex that does not compile is an error.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, StoreError> {
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|source| {
                    StoreError::BadRegex {
                        pattern: value.to_owned(),
                        source,
                    }
                })?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(LabelMatcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// The label name this matcher tests.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex source as written.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (`""` for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // `new` always builds the regex for regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> LabelMatcher {
        LabelMatcher::new("job", op, v).unwrap()
    }

    #[test]
    fn operators() {
        assert!(m(MatchOp::Equal, "api").matches("api"));
        assert!(!m(MatchOp::Equal, "api").matches("apis"));
        assert!(m(MatchOp::Equal, "").matches(""));
        assert!(m(MatchOp::NotEqual, "api").matches(""));
        assert!(!m(MatchOp::NotEqual, "api").matches("api"));
        assert!(m(MatchOp::NotRegex, "a.*").matches("b"));
        assert!(!m(MatchOp::NotRegex, "a.*").matches("api"));
    }

    #[test]
    fn regexes_are_fully_anchored() {
        let re = m(MatchOp::Regex, "api|web");
        assert!(re.matches("api"));
        assert!(re.matches("web"));
        assert!(!re.matches("xapi"));
        assert!(!re.matches("api2"));
        assert!(!re.matches(""));
        assert!(m(MatchOp::Regex, ".*").matches(""));
        assert!(!m(MatchOp::Regex, ".+").matches(""));
        assert!(m(MatchOp::Regex, "a|").matches(""));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let err = LabelMatcher::new("job", MatchOp::Regex, "(").unwrap_err();
        assert!(matches!(err, StoreError::BadRegex { .. }));
        assert!(err.to_string().contains("invalid regex"));
    }

    #[test]
    fn display() {
        assert_eq!(m(MatchOp::NotRegex, "a.*").to_string(), r#"job!~"a.*""#);
    }
}
