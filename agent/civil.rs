//! Civil dates: proleptic Gregorian date arithmetic on days since the Unix epoch
//! (1970-01-01 is day 0), the one home of the calendar for every module that turns
//! timestamps into dates or back: PromQL's date functions (`promql::functions`), the API's
//! RFC 3339 timestamps (`api::query`), rule unit-test start times (`rules::unittest`) and the
//! template engine's `time.Time` (`gotemplate`).
//!
//! The conversions are Howard Hinnant's algorithms (`civil_from_days` / `days_from_civil`,
//! <https://howardhinnant.github.io/date_algorithms.html>): exact for every `i64` day count
//! whose year fits the arithmetic, with no tables and no time-zone data (everything is UTC).
//! A leaf: it depends on nothing else in the crate.

#![forbid(unsafe_code)]

/// Seconds in a civil day (no leap seconds, as in Unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days (28–31) in `month` (1–12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to `(year, month 1–12, day 1–31)`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `(year, month 1–12, day 1–31)` to days since 1970-01-01. Out-of-range days and months
/// are not checked: day 0 is the last day of the previous month, as the arithmetic gives.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The weekday (0 = Sunday … 6 = Saturday) of a day since 1970-01-01 (a Thursday).
pub fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// The day of the year (1–366) of a day since 1970-01-01.
pub fn day_of_year(days: i64) -> u32 {
    let (year, _, _) = civil_from_days(days);
    (days - days_from_civil(year, 1, 1) + 1) as u32
}

/// A UTC date and time of day, broken down from seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 (Sunday) – 6.
    pub weekday: u32,
    /// 1–366.
    pub yday: u32,
}

impl DateTime {
    /// The date and time `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: i64) -> DateTime {
        let days = secs.div_euclid(SECONDS_PER_DAY);
        let sod = secs.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            weekday: weekday(days),
            yday: day_of_year(days),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2006-01-02, Go's reference date, a Monday.
        let d = days_from_civil(2006, 1, 2);
        assert_eq!(d, 13_150);
        assert_eq!((weekday(d), day_of_year(d)), (1, 2));
        // 2016-02-29 is a leap day; 2016-12-31 is day 366.
        assert_eq!(civil_from_days(16_860), (2016, 2, 29));
        assert_eq!(day_of_year(days_from_civil(2016, 12, 31)), 366);
        assert_eq!(
            civil_from_days(days_from_civil(2000, 3, 1) - 1),
            (2000, 2, 29)
        );
        assert_eq!(
            civil_from_days(days_from_civil(1900, 3, 1) - 1),
            (1900, 2, 28)
        );
        // Year 1, 0001-01-01 (Go's zero time) and the year 0.
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(civil_from_days(-719_163), (0, 12, 31));
        assert_eq!(weekday(-1), 3);
    }

    #[test]
    fn leap_years_and_month_lengths() {
        assert!(is_leap(2000) && is_leap(2016) && is_leap(0) && is_leap(-4));
        assert!(!is_leap(1900) && !is_leap(2017) && !is_leap(2100));
        assert_eq!(days_in_month(2016, 2), 29);
        assert_eq!(days_in_month(2017, 2), 28);
        let lengths: Vec<u32> = (1..=12).map(|m| days_in_month(2023, m)).collect();
        assert_eq!(lengths, [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -100_000_000i64..100_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m));
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn consecutive_days_are_consecutive_dates(days in -100_000_000i64..100_000_000) {
            let (y, m, d) = civil_from_days(days);
            let next = civil_from_days(days + 1);
            let expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            prop_assert_eq!(next, expected);
            prop_assert_eq!(weekday(days + 1), (weekday(days) + 1) % 7);
        }

        #[test]
        fn year_lengths(year in -100_000i64..100_000) {
            let len = days_from_civil(year + 1, 1, 1) - days_from_civil(year, 1, 1);
            prop_assert_eq!(len, if is_leap(year) { 366 } else { 365 });
        }
    }
}
