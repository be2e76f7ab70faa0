//! Durations written the Prometheus way: `500ms`, `15s`, `1h30m`, `14d`, `1w`, `1y`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration parsed from Prometheus notation: one or more `<integer><unit>` terms, units in
/// decreasing order, from `y` (365d) `w` `d` `h` `m` `s` down to `ms`. `0` alone is zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

/// Why a duration string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a duration: {reason} (expected e.g. 500ms, 15s, 1h30m, 14d)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("ms", 1),
    ("m", 60 * 1000),
    ("s", 1000),
];

/// Units in the order they must appear (largest first).
const ORDER: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];

impl PromDuration {
    /// The duration as std's type.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for PromDuration {
    fn from(d: Duration) -> Self {
        PromDuration(d)
    }
}

impl FromStr for PromDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: s.to_string(),
            reason,
        };
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let mut rest = s;
        let mut total: u64 = 0;
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err("a number must come before each unit"));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| err("the number is too large"))?;
            rest = &rest[digits..];
            let (unit, ms) = UNITS
                .iter()
                .find(|(u, _)| rest.starts_with(u))
                .ok_or_else(|| err("missing or unknown unit (use ms, s, m, h, d, w or y)"))?;
            rest = &rest[unit.len()..];
            let rank = ORDER.iter().position(|u| u == unit).unwrap_or(0);
            if last_unit.is_some_and(|last| rank <= last) {
                return Err(err("units must go from largest to smallest, each once"));
            }
            last_unit = Some(rank);
            total = n
                .checked_mul(*ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| err("it is too long"))?;
        }
        Ok(PromDuration(Duration::from_millis(total)))
    }
}

impl fmt::Display for PromDuration {
    /// The shortest Prometheus notation, e.g. `1h30m`, `500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for unit in ORDER {
            let size = UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map_or(1, |(_, s)| *s);
            if ms >= size {
                write!(f, "{}{}", ms / size, unit)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// A bare number is a common mistake (`timeout: 5`): say what is missing.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Raw::Number(n) => Err(serde::de::Error::custom(DurationError {
                input: n.to_string(),
                reason: "a unit is missing",
            })),
        }
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> u128 {
        s.parse::<PromDuration>()
            .map(|d| d.0.as_millis())
            .unwrap_or(u128::MAX)
    }

    #[test]
    fn parses_prometheus_notation() {
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("15s"), 15_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("14d"), 14 * 86_400_000);
        assert_eq!(ms("1w"), 7 * 86_400_000);
        assert_eq!(ms("1m500ms"), 60_500);
        assert_eq!(ms("0"), 0);
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        for bad in ["", "15", "s", "1.5s", "5m1h", "1s1s", "10 s", "-5s", "5x"] {
            let err = bad.parse::<PromDuration>().expect_err(bad);
            assert!(err.to_string().contains("is not a duration"), "{err}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(millis in 0u64..(1u64 << 45)) {
            let d = PromDuration(Duration::from_millis(millis));
            let back: PromDuration = d.to_string().parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(back, d);
        }
    }
}
