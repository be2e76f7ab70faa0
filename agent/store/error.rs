//! The store's error types.

/// Why a sample was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The sample would create a new series, and the store already holds `max_series`.
    #[error("series limit reached: the store refuses new series (see storage max_series)")]
    SeriesLimit,
    /// The sample is not newer than the series' newest sample (or has the same timestamp and
    /// a different value).
    #[error("out-of-order sample: timestamp is not after the series' newest sample")]
    OutOfOrder,
    /// The sample's timestamp is more than [`MAX_FUTURE_MS`](super::MAX_FUTURE_MS) ahead of
    /// the store's clock: a sender with a bad clock. Accepted, it would make every current
    /// sample of its series out of order and keep the series from ever going stale.
    #[error("sample too far in the future: more than 10 minutes ahead of the store's clock")]
    TooFarInFuture,
}

/// Errors building a store or a matcher.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A regex label matcher did not compile.
    #[error("invalid regex {pattern:?} in label matcher: {source}")]
    BadRegex {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    /// The store's self-metrics could not be registered.
    #[error("registering store metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}
