//! Bearer-token authentication, shared by the API (`server.api_token`, guarding mutating
//! calls) and the OTLP receiver (`otlp.auth_token`, guarding every export over gRPC and
//! HTTP).
//!
//! A [`BearerToken`] is a cheap, shared handle: clones see the same token, and
//! [`BearerToken::set`] replaces it for all of them at once, so a configuration reload
//! swaps the token without restarting a listener. The comparison runs in time independent
//! of where the given token differs ([`constant_time_eq`]).

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, header};
use parking_lot::RwLock;

use crate::config::Secret;

/// The `WWW-Authenticate` value a 401 answer carries (RFC 6750).
pub const CHALLENGE: HeaderValue = HeaderValue::from_static("Bearer");

/// A bearer token checked on requests; empty means none is required.
#[derive(Clone, Default)]
pub struct BearerToken {
    secret: Arc<RwLock<Secret>>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BearerToken")
            .field(&*self.secret.read())
            .finish()
    }
}

impl BearerToken {
    /// A token handle holding `secret` (empty: requests need no token).
    pub fn new(secret: Secret) -> Self {
        BearerToken {
            secret: Arc::new(RwLock::new(secret)),
        }
    }

    /// Replaces the token for every clone of this handle; requests checked from now on use
    /// the new one.
    pub fn set(&self, secret: Secret) {
        *self.secret.write() = secret;
    }

    /// [`BearerToken::set`], saying whether the token differs from the one it replaces
    /// (compared by value; neither is shown).
    pub fn replace(&self, secret: Secret) -> bool {
        let mut current = self.secret.write();
        let changed = *current != secret;
        *current = secret;
        changed
    }

    /// True when requests must carry a token.
    pub fn is_required(&self) -> bool {
        !self.secret.read().is_empty()
    }

    /// True when the request may proceed: no token is required, or its `Authorization`
    /// header is `Bearer <token>`.
    pub fn check(&self, headers: &HeaderMap) -> bool {
        self.check_authorization(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
    }

    /// [`BearerToken::check`] on the raw `Authorization` value (`None`: absent), for callers
    /// whose headers are not an [`http::HeaderMap`] (gRPC metadata).
    pub fn check_authorization(&self, authorization: Option<&[u8]>) -> bool {
        let secret = self.secret.read();
        if secret.is_empty() {
            return true;
        }
        let given = authorization.and_then(credentials).unwrap_or(b"");
        constant_time_eq(given, secret.expose().as_bytes())
    }
}

/// The credentials of a `Bearer` authorization value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn credentials(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    Some(&value[SCHEME.len()..])
}

/// Compares two byte strings in time independent of where they differ (the length is not
/// hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(auth).expect("header"),
        );
        h
    }

    #[test]
    fn an_empty_token_admits_everyone() {
        let t = BearerToken::new(Secret::default());
        assert!(!t.is_required());
        assert!(t.check(&HeaderMap::new()));
        assert!(t.check(&headers("Bearer anything")));
    }

    #[test]
    fn the_token_must_match_exactly() {
        let t = BearerToken::new(Secret::new("s3cret"));
        assert!(t.is_required());
        assert!(t.check(&headers("Bearer s3cret")));
        assert!(t.check(&headers("bearer s3cret")));
        assert!(!t.check(&headers("Bearer s3cre")));
        assert!(!t.check(&headers("Bearer s3cret ")));
        assert!(!t.check(&headers("Basic s3cret")));
        assert!(!t.check(&headers("s3cret")));
        assert!(!t.check(&HeaderMap::new()));
        assert!(t.check_authorization(Some(b"Bearer s3cret")));
        assert!(!t.check_authorization(None));
    }

    #[test]
    fn set_replaces_the_token_for_every_clone() {
        let t = BearerToken::new(Secret::new("old"));
        let clone = t.clone();
        t.set(Secret::new("new"));
        assert!(!clone.check(&headers("Bearer old")));
        assert!(clone.check(&headers("Bearer new")));
        clone.set(Secret::default());
        assert!(!t.is_required());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let t = BearerToken::new(Secret::new("s3cret"));
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
