//! Retry delays for outbound calls: OTLP forwarding today, notifications and CloudWatch
//! next.
//!
//! A [`Backoff`] is capped exponential backoff with jitter: the `n`th retry (counting from
//! 0) waits at most `min(initial × factorⁿ, max)` (the *ceiling*), less a random share the
//! [`Jitter`] decides, so clients that failed together do not retry together. When the
//! server said how long to wait (`Retry-After`, see [`retry_after`]), that wait is used
//! instead, up to [`Backoff::retry_after_cap`].

use std::time::{Duration, SystemTime};

use http::{HeaderMap, header};

/// How much of the ceiling is randomised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Always the ceiling.
    None,
    /// Uniform in `[0, ceiling]` ("full jitter": spreads retries the most).
    Full,
    /// Uniform in `[(1 − p) × ceiling, ceiling]`, `p` in `[0, 1]`.
    Proportional(f64),
}

/// A [`Backoff`] that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackoffError {
    #[error("the initial retry delay must be more than zero")]
    ZeroInitial,
    #[error("the maximum retry delay ({max:?}) is less than the initial one ({initial:?})")]
    MaxBelowInitial { initial: Duration, max: Duration },
    #[error("the backoff factor must be a finite number of at least 1, not {0}")]
    Factor(f64),
    #[error("the jitter proportion must be between 0 and 1, not {0}")]
    Jitter(f64),
}

/// Capped exponential backoff with jitter. Build one with [`Backoff::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: Jitter,
    retry_after_cap: Duration,
}

/// Longest wait a server's `Retry-After` can impose unless [`Backoff::with_retry_after_cap`]
/// says otherwise.
pub const DEFAULT_RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

impl Backoff {
    /// Waits of `initial`, `initial × factor`, `initial × factor²`... up to `max`, jittered.
    pub fn new(
        initial: Duration,
        max: Duration,
        factor: f64,
        jitter: Jitter,
    ) -> Result<Backoff, BackoffError> {
        if initial.is_zero() {
            return Err(BackoffError::ZeroInitial);
        }
        if max < initial {
            return Err(BackoffError::MaxBelowInitial { initial, max });
        }
        if !factor.is_finite() || factor < 1.0 {
            return Err(BackoffError::Factor(factor));
        }
        if let Jitter::Proportional(p) = jitter
            && !(0.0..=1.0).contains(&p)
        {
            return Err(BackoffError::Jitter(p));
        }
        Ok(Backoff {
            initial,
            max,
            factor,
            jitter,
            retry_after_cap: DEFAULT_RETRY_AFTER_CAP.max(max),
        })
    }

    /// Honours a server's `Retry-After` up to `cap` (never below `max`).
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Backoff {
        self.retry_after_cap = cap.max(self.max);
        self
    }

    /// The longest wait a `Retry-After` can impose.
    pub fn retry_after_cap(&self) -> Duration {
        self.retry_after_cap
    }

    /// The wait before retry `retry` (0: the first retry) without jitter:
    /// `min(initial × factor^retry, max)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        // Overflow (inf) and anything past `max` end at `max`.
        Duration::try_from_secs_f64(secs).map_or(self.max, |d| d.min(self.max))
    }

    /// The wait before retry `retry`, jittered with a fresh random number.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, rand::random::<f64>())
    }

    /// The wait before retry `retry`: the server's `retry_after` when given (capped at
    /// [`Backoff::retry_after_cap`]), else [`Backoff::delay`].
    pub fn delay_after(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.retry_after_cap),
            None => self.delay(retry),
        }
    }

    /// [`Backoff::delay`] with the random number given: `unit` in `[0, 1]` (clamped), 0 the
    /// shortest wait the jitter allows, 1 the ceiling.
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(retry);
        let unit = if unit.is_nan() {
            1.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        let share = match self.jitter {
            Jitter::None => 1.0,
            Jitter::Full => unit,
            Jitter::Proportional(p) => 1.0 - p * (1.0 - unit),
        };
        ceiling.mul_f64(share).min(ceiling)
    }
}

/// The wait a response's `Retry-After` asks for: delay-seconds or an HTTP-date (a date in
/// the past means now). `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_constructor_refuses_what_cannot_work() {
        let ok = |i, m, f, j| Backoff::new(MS * i, MS * m, f, j);
        assert_eq!(ok(0, 10, 2.0, Jitter::None), Err(BackoffError::ZeroInitial));
        assert!(matches!(
            ok(10, 5, 2.0, Jitter::None),
            Err(BackoffError::MaxBelowInitial { .. })
        ));
        assert_eq!(ok(1, 5, 0.5, Jitter::None), Err(BackoffError::Factor(0.5)));
        assert!(ok(1, 5, f64::NAN, Jitter::None).is_err());
        assert!(ok(1, 5, f64::INFINITY, Jitter::None).is_err());
        assert_eq!(
            ok(1, 5, 2.0, Jitter::Proportional(1.5)),
            Err(BackoffError::Jitter(1.5))
        );
        assert!(ok(1, 5, 2.0, Jitter::Proportional(f64::NAN)).is_err());
        assert!(ok(5, 5, 1.0, Jitter::Full).is_ok());
    }

    #[test]
    fn ceilings_grow_exponentially_up_to_the_cap() {
        let b = Backoff::new(MS * 250, Duration::from_secs(8), 2.0, Jitter::None).expect("ok");
        let got: Vec<u128> = (0..8).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(got, vec![250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(8));
        assert_eq!(b.delay(3), Duration::from_secs(2));
    }

    #[test]
    fn jitter_spreads_below_the_ceiling() {
        let full = Backoff::new(MS * 100, MS * 1000, 2.0, Jitter::Full).expect("ok");
        assert_eq!(full.delay_with(1, 0.0), Duration::ZERO);
        assert_eq!(full.delay_with(1, 0.5), MS * 100);
        assert_eq!(full.delay_with(1, 1.0), MS * 200);
        let prop = Backoff::new(MS * 100, MS * 1000, 2.0, Jitter::Proportional(0.25)).expect("ok");
        assert_eq!(prop.delay_with(1, 0.0), MS * 150);
        assert_eq!(prop.delay_with(1, 1.0), MS * 200);
    }

    #[test]
    fn retry_after_wins_up_to_its_cap() {
        let b = Backoff::new(MS * 100, MS * 1000, 2.0, Jitter::None)
            .expect("ok")
            .with_retry_after_cap(Duration::from_secs(30));
        assert_eq!(
            b.delay_after(0, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            b.delay_after(0, Some(Duration::from_secs(90))),
            Duration::from_secs(30)
        );
        assert_eq!(b.delay_after(2, None), MS * 400);
        // A cap below `max` is raised to it.
        let b = b.with_retry_after_cap(MS);
        assert_eq!(b.retry_after_cap(), MS * 1000);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&later).expect("hv"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(42)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(42));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&earlier).expect("hv"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    fn jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            (0.0f64..=1.0).prop_map(Jitter::Proportional),
        ]
    }

    proptest! {
        #[test]
        fn delays_stay_within_bounds(
            initial_ms in 1u64..10_000,
            extra_ms in 0u64..600_000,
            factor in 1.0f64..10.0,
            jitter in jitter(),
            retry in 0u32..200,
            unit in 0.0f64..=1.0,
        ) {
            let initial = MS * u32::try_from(initial_ms).unwrap_or(1);
            let max = initial + Duration::from_millis(extra_ms);
            let b = Backoff::new(initial, max, factor, jitter).expect("valid");
            let ceiling = b.ceiling(retry);
            prop_assert!(ceiling >= initial.min(max) && ceiling <= max);
            let d = b.delay_with(retry, unit);
            prop_assert!(d <= ceiling);
            if let Jitter::Proportional(p) = jitter {
                prop_assert!(d >= ceiling.mul_f64(1.0 - p).saturating_sub(MS));
            }
            if jitter == Jitter::None {
                prop_assert_eq!(d, ceiling);
            }
            prop_assert!(b.delay(retry) <= max);
        }

        #[test]
        fn ceilings_never_shrink(
            initial_ms in 1u64..10_000,
            extra_ms in 0u64..600_000,
            factor in 1.0f64..10.0,
            retry in 0u32..200,
        ) {
            let initial = Duration::from_millis(initial_ms);
            let max = initial + Duration::from_millis(extra_ms);
            let b = Backoff::new(initial, max, factor, Jitter::None).expect("valid");
            prop_assert!(b.ceiling(retry + 1) >= b.ceiling(retry));
        }
    }
}
