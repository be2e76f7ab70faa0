//! Errors of the query API, as Prometheus reports them: an `errorType`, a message and the
//! HTTP status that goes with the type.

use axum::http::StatusCode;

use crate::promql::PromqlError;

/// Prometheus's `errorType` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    NotFound,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
        }
    }

    /// The status Prometheus answers with (499 is its "client closed the connection").
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Canceled => {
                StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// A failed API call: what kind of failure and Prometheus's message for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct QueryError {
    pub kind: ErrorType,
    pub message: String,
}

impl QueryError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        QueryError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorType::BadData, message)
    }

    /// `invalid parameter "name": why` (Prometheus's `invalidParamError`).
    pub fn invalid_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {name:?}: {why}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, message)
    }

    /// The answer when a query ran past its timeout (Prometheus's `ErrQueryTimeout`).
    pub fn timeout() -> Self {
        Self::timeout_in("expression evaluation")
    }

    /// A timeout in a named stage (`query queue`, `expression evaluation`).
    pub fn timeout_in(stage: &str) -> Self {
        Self::new(ErrorType::Timeout, format!("query timed out in {stage}"))
    }

    /// An engine error. Parse and range-shape errors are the client's (`bad_data`); anything
    /// that went wrong while evaluating is `execution`, as in Prometheus.
    pub fn from_engine(err: PromqlError) -> Self {
        match err {
            PromqlError::Parse { message, .. } => Self::invalid_param("query", message),
            PromqlError::TooDeep { .. } => Self::invalid_param("query", err),
            PromqlError::BadRange { .. } => Self::bad_data(err.to_string()),
            PromqlError::Timeout { stage } => Self::timeout_in(stage),
            // TooManySamples is `execution`, as in Prometheus.
            other => Self::new(ErrorType::Execution, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_prometheus() {
        assert_eq!(ErrorType::BadData.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorType::Execution.status().as_u16(), 422);
        assert_eq!(ErrorType::Timeout.status().as_u16(), 503);
        assert_eq!(ErrorType::Canceled.status().as_u16(), 499);
        assert_eq!(ErrorType::Internal.status().as_u16(), 500);
        assert_eq!(ErrorType::NotFound.status().as_u16(), 404);
    }

    #[test]
    fn engine_errors_are_classified() {
        let parse = crate::promql::parse("sum(").map(|_| ()).unwrap_err();
        let e = QueryError::from_engine(parse);
        assert_eq!(e.kind, ErrorType::BadData);
        assert!(
            e.message.starts_with("invalid parameter \"query\": "),
            "{}",
            e.message
        );
        let exec = QueryError::from_engine(PromqlError::InvalidArgument {
            func: "f".into(),
            message: "m".into(),
        });
        assert_eq!(exec.kind, ErrorType::Execution);
        assert_eq!(exec.message, "m");
        let slow = QueryError::from_engine(PromqlError::Timeout {
            stage: "expression evaluation",
        });
        assert_eq!(slow.kind, ErrorType::Timeout);
        assert_eq!(slow.message, "query timed out in expression evaluation");
    }
}
