//! Time intervals (Alertmanager's `timeinterval` package): named sets of clock times,
//! weekdays, days of the month, months and years, in a time zone, that mute a route
//! (`mute_time_intervals`) or are the only times it is active (`active_time_intervals`).
//!
//! [`TimeIntervalSpec`] is the YAML form (`weekdays: ['monday:friday']`, `times:
//! [{start_time: '09:00', end_time: '17:00'}]`, `days_of_month: ['1:5', '-1']`, `months:
//! ['january:march', '12']`, `years: ['2024:2026']`, `location: Europe/Berlin`);
//! [`TimeInterval`] the compiled one that answers [`TimeInterval::contains`]. Lists left out
//! match everything; times are `[start, end)`, every other range is inclusive; negative days
//! count from the month's end (`-1` is the last day). Without `location`, times are UTC.

use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer};

use crate::config::FieldError;

/// A scalar that YAML may give as a string or a number (`days_of_month: [1, '-3:-1']`), read
/// as a string as Go's YAML decoder does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One clock-time range of a day.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    /// Start, `HH:MM` (inclusive), `00:00` to `24:00`.
    pub start_time: String,
    /// End, `HH:MM` (exclusive), after `start_time`.
    pub end_time: String,
}

/// One time interval as written in YAML. Every list that is left out matches all times.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    /// Clock-time ranges within the day, `[start, end)`.
    #[serde(default)]
    pub times: Option<Vec<TimeRangeSpec>>,
    /// Weekdays by English name, or inclusive ranges of them: `monday:friday`.
    #[serde(default)]
    pub weekdays: Option<Vec<Scalar>>,
    /// Days of the month (1–31, or -1 for the last day back to -31), or inclusive ranges: `1:5`,
    /// `-3:-1`.
    #[serde(default)]
    pub days_of_month: Option<Vec<Scalar>>,
    /// Months by English name or number (1–12), or inclusive ranges: `january:march`.
    #[serde(default)]
    pub months: Option<Vec<Scalar>>,
    /// Years, or inclusive ranges: `2024:2026`.
    #[serde(default)]
    pub years: Option<Vec<Scalar>>,
    /// IANA time zone name the other fields are read in (`Europe/Berlin`, `Local` is not
    /// supported); UTC when left out.
    #[serde(default)]
    pub location: Option<String>,
}

/// A compiled time interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    /// Minute-of-day ranges `[start, end)`; `None` matches every time of day.
    pub times: Option<Vec<(u32, u32)>>,
    /// Inclusive weekday ranges, Sunday = 0 as Go numbers them.
    pub weekdays: Option<Vec<(i32, i32)>>,
    /// Inclusive day-of-month ranges; negative counts from the month's end.
    pub days_of_month: Option<Vec<(i32, i32)>>,
    /// Inclusive month ranges, 1–12.
    pub months: Option<Vec<(i32, i32)>>,
    /// Inclusive year ranges.
    pub years: Option<Vec<(i32, i32)>>,
    /// The time zone; UTC when `None`.
    pub location: Option<TimeZone>,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Splits `a:b` (or `a`, meaning `a:a`), lowercased, and reads each end with `member`.
fn range(s: &str, member: impl Fn(&str) -> Result<i32, String>) -> Result<(i32, i32), String> {
    let s = s.to_lowercase();
    match s.split_once(':') {
        Some((a, b)) => {
            if b.contains(':') {
                return Err(format!("couldn't parse range {s}, invalid format"));
            }
            Ok((member(a)?, member(b)?))
        }
        None => {
            let v = member(&s)?;
            Ok((v, v))
        }
    }
}

fn parse_int(s: &str) -> Result<i32, String> {
    s.parse::<i32>()
        .map_err(|_| format!("{s:?} is not a number"))
}

fn parse_weekday(s: &str) -> Result<i32, String> {
    WEEKDAYS
        .iter()
        .position(|d| *d == s)
        .map(|i| i as i32)
        .ok_or_else(|| format!("{s} is not a valid weekday"))
}

fn parse_month(s: &str) -> Result<i32, String> {
    if let Some(i) = MONTHS.iter().position(|m| *m == s) {
        return Ok(i as i32 + 1);
    }
    match s.parse::<i32>() {
        Ok(n) if (1..=12).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is not a valid month: out of range")),
        Err(_) => Err(format!("{s} is not a valid month")),
    }
}

/// Parses `HH:MM` into minutes of the day (0..=1440), as Alertmanager's `parseTime`.
fn parse_clock(s: &str) -> Result<u32, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(format!("timestamp {s} out of range"));
    }
    Ok(h * 60 + m)
}

fn each<T>(
    list: &Option<Vec<T>>,
    field: &str,
    errors: &mut Vec<FieldError>,
    mut f: impl FnMut(&T) -> Result<(i32, i32), String>,
) -> Option<Vec<(i32, i32)>> {
    list.as_ref().map(|items| {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match f(item) {
                Ok(r) => Some(r),
                Err(message) => {
                    errors.push(FieldError::new(format!("{field}[{i}]"), message));
                    None
                }
            })
            .collect()
    })
}

impl TimeIntervalSpec {
    /// Compiles the interval; every error carries its path (`weekdays[1]`, `location`).
    pub fn build(&self) -> Result<TimeInterval, Vec<FieldError>> {
        let mut errors = Vec::new();
        let times = self.times.as_ref().map(|ts| {
            ts.iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    let at = |f: &str| format!("times[{i}].{f}");
                    let start = parse_clock(&t.start_time)
                        .map_err(|m| errors.push(FieldError::new(at("start_time"), m)))
                        .ok()?;
                    let end = parse_clock(&t.end_time)
                        .map_err(|m| errors.push(FieldError::new(at("end_time"), m)))
                        .ok()?;
                    if start >= end {
                        errors.push(FieldError::new(
                            format!("times[{i}]"),
                            "start time cannot be equal or greater than end time",
                        ));
                        return None;
                    }
                    Some((start, end))
                })
                .collect()
        });
        let weekdays = each(&self.weekdays, "weekdays", &mut errors, |s| {
            let (b, e) = range(&s.0, parse_weekday)?;
            if b > e {
                return Err(format!("start day cannot be before end day: {}", s.0));
            }
            Ok((b, e))
        });
        let days_of_month = each(&self.days_of_month, "days_of_month", &mut errors, |s| {
            let (b, e) = range(&s.0, parse_int)?;
            for d in [b, e] {
                if d == 0 || !(-31..=31).contains(&d) {
                    return Err(format!("{d} is not a valid day of the month: out of range"));
                }
            }
            if b < 0 && e > 0 {
                return Err("end day must be negative if start day is negative".into());
            }
            let check = |d: i32| if d < 0 { 28 + d } else { d };
            if check(b) > check(e) {
                return Err(format!("end day {e} is always before start day {b}"));
            }
            Ok((b, e))
        });
        let months = each(&self.months, "months", &mut errors, |s| {
            let (b, e) = range(&s.0, parse_month)?;
            if b > e {
                return Err(format!("end month {e} is before start month {b}"));
            }
            Ok((b, e))
        });
        let years = each(&self.years, "years", &mut errors, |s| {
            let (b, e) = range(&s.0, parse_int)?;
            if b > e {
                return Err(format!("end year {e} is before start year {b}"));
            }
            Ok((b, e))
        });
        let location = match &self.location {
            None => None,
            Some(name) if name.eq_ignore_ascii_case("utc") || name.is_empty() => {
                Some(TimeZone::UTC)
            }
            Some(name) => {
                match TimeZone::get(name) {
                    Ok(tz) => Some(tz),
                    Err(_) => {
                        errors.push(FieldError::new(
                        "location",
                        format!("unknown time zone {name:?} (want an IANA name such as Europe/Berlin)"),
                    ));
                        None
                    }
                }
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TimeInterval {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            location,
        })
    }
}

fn any_contains(ranges: &Option<Vec<(i32, i32)>>, v: i32) -> bool {
    ranges
        .as_ref()
        .is_none_or(|rs| rs.iter().any(|&(b, e)| v >= b && v <= e))
}

impl TimeInterval {
    /// Whether the instant `at_ms` (Unix milliseconds) falls in the interval, read in its
    /// location (Alertmanager's `ContainsTime`). Instants outside the calendar's range are
    /// never contained.
    pub fn contains(&self, at_ms: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(at_ms) else {
            return false;
        };
        let z = ts.to_zoned_datetime(self.location.clone().unwrap_or(TimeZone::UTC));
        let minute = i32::from(z.hour()) * 60 + i32::from(z.minute());
        if let Some(times) = &self.times
            && !times
                .iter()
                .any(|&(s, e)| minute >= s as i32 && minute < e as i32)
        {
            return false;
        }
        if let Some(days) = &self.days_of_month {
            let dim = i32::from(z.days_in_month());
            let day = i32::from(z.day());
            let hit = days.iter().any(|&(b, e)| {
                let b = if b < 0 { dim + b + 1 } else { b };
                let e = if e < 0 { dim + e + 1 } else { e };
                if b > dim {
                    return false;
                }
                let (b, e) = (b.clamp(-dim, dim), e.clamp(-dim, dim));
                day >= b && day <= e
            });
            if !hit {
                return false;
            }
        }
        any_contains(&self.months, i32::from(z.month()))
            && any_contains(
                &self.weekdays,
                i32::from(z.weekday().to_sunday_zero_offset()),
            )
            && any_contains(&self.years, i32::from(z.year()))
    }
}

/// True when any of `intervals` contains `at_ms`.
pub fn any_contains_instant(intervals: &[TimeInterval], at_ms: i64) -> bool {
    intervals.iter().any(|t| t.contains(at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(yaml: &str) -> TimeIntervalSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn business_hours_in_a_zone() {
        let ti = spec(
            "{weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}], location: Europe/Berlin}",
        )
        .build()
        .unwrap();
        // Monday 2024-01-08 08:30 UTC = 09:30 in Berlin (CET, +1).
        assert!(ti.contains(ms("2024-01-08T08:30:00Z")));
        // 16:30 UTC = 17:30 Berlin: outside.
        assert!(!ti.contains(ms("2024-01-08T16:30:00Z")));
        // 07:59 UTC = 08:59 Berlin: outside; 08:00 UTC = 09:00: inside (start inclusive).
        assert!(!ti.contains(ms("2024-01-08T07:59:00Z")));
        assert!(ti.contains(ms("2024-01-08T08:00:00Z")));
        // Summer time (+2): 07:00 UTC is 09:00 Berlin.
        assert!(ti.contains(ms("2024-07-08T07:00:00Z")));
        // Saturday.
        assert!(!ti.contains(ms("2024-01-13T10:00:00Z")));
    }

    #[test]
    fn days_months_years() {
        let last = spec("{days_of_month: ['-1']}").build().unwrap();
        assert!(last.contains(ms("2024-02-29T12:00:00Z")));
        assert!(!last.contains(ms("2023-02-28T00:00:00Z") - 1));
        assert!(last.contains(ms("2023-02-28T00:00:00Z")));
        let first_week =
            spec("{days_of_month: [1, '2:7'], months: ['january:march', 12], years: ['2024']}")
                .build()
                .unwrap();
        assert!(first_week.contains(ms("2024-03-07T23:59:00Z")));
        assert!(!first_week.contains(ms("2024-03-08T00:00:00Z")));
        assert!(!first_week.contains(ms("2024-04-01T00:00:00Z")));
        assert!(first_week.contains(ms("2024-12-01T00:00:00Z")));
        assert!(!first_week.contains(ms("2025-01-01T00:00:00Z")));
        // Day 31 in a 30-day month: never.
        let d31 = spec("{days_of_month: ['31']}").build().unwrap();
        assert!(!d31.contains(ms("2024-04-30T00:00:00Z")));
        assert!(d31.contains(ms("2024-05-31T00:00:00Z")));
        let empty = TimeIntervalSpec::default().build().unwrap();
        assert!(empty.contains(0));
    }

    #[test]
    fn reports_each_bad_field() {
        let errs = spec(
            "{times: [{start_time: '17:00', end_time: '09:00'}, {start_time: '25:00', end_time: '26:00'}], weekdays: [friday:monday, funday], days_of_month: ['0', '-1:5', '10:3'], months: [foo, '13'], years: ['2025:2024'], location: Mars/Base}",
        )
        .build()
        .unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "times[0]",
                "times[1].start_time",
                "weekdays[0]",
                "weekdays[1]",
                "days_of_month[0]",
                "days_of_month[1]",
                "days_of_month[2]",
                "months[0]",
                "months[1]",
                "years[0]",
                "location"
            ]
        );
        assert!(
            spec("{times: [{start_time: '00:00', end_time: '24:00'}]}")
                .build()
                .is_ok()
        );
    }

    proptest! {
        #[test]
        fn time_range_is_half_open(start in 0u32..1440, len in 1u32..600, probe in 0i64..86_400) {
            let end = (start + len).min(1440);
            prop_assume!(start < end);
            let ti = TimeIntervalSpec {
                times: Some(vec![TimeRangeSpec {
                    start_time: format!("{:02}:{:02}", start / 60, start % 60),
                    end_time: format!("{:02}:{:02}", end / 60, end % 60),
                }]),
                ..Default::default()
            }
            .build()
            .unwrap();
            let minute = (probe / 60) as u32;
            prop_assert_eq!(ti.contains(probe * 1000), minute >= start && minute < end);
        }

        #[test]
        fn weekday_range_matches_day_number(b in 0usize..7, e in 0usize..7, day in 0i64..3650) {
            prop_assume!(b <= e);
            let ti = TimeIntervalSpec {
                weekdays: Some(vec![Scalar(format!("{}:{}", WEEKDAYS[b], WEEKDAYS[e]))]),
                ..Default::default()
            }
            .build()
            .unwrap();
            // 1970-01-01 was a Thursday (4).
            let wd = ((day + 4) % 7) as usize;
            prop_assert_eq!(ti.contains(day * 86_400_000 + 3_600_000), wd >= b && wd <= e);
        }

        #[test]
        fn negative_day_counts_from_end(n in 1i32..=28, day in 0i64..3650) {
            let ti = TimeIntervalSpec {
                days_of_month: Some(vec![Scalar(format!("-{n}:-1"))]),
                ..Default::default()
            }
            .build()
            .unwrap();
            let (y, m, d) = crate::civil::civil_from_days(day);
            let dim = crate::civil::days_in_month(y, m) as i32;
            prop_assert_eq!(ti.contains(day * 86_400_000), d as i32 > dim - n);
        }
    }
}
