//! Shared network pieces: what every listener and every outbound client of the pipeline
//! uses, written once.
//!
//! - [`auth`]: [`BearerToken`], the live-replaceable bearer token the API (`server.api_token`)
//!   and the OTLP receiver (`otlp.auth_token`) check in constant time.
//! - [`tls`]: the crypto provider (ring), a listener's `tls:` section (certificate, key and
//!   the CA client certificates must be signed by), the TLS handshake of accepted
//!   connections, the builder every outbound `reqwest` client starts from, and the pinning
//!   verifier probe targets with `tls.ca_file` use.
//! - [`listen`]: [`Listener`], the one way HTTP/1, HTTP/2 and gRPC listeners are served: a
//!   connection cap, header-read, idle and body-read timeouts, HTTP/2 limits
//!   ([`ConnectionLimits`]), connection metrics and graceful shutdown.
//! - [`aws`]: [`aws::AwsSetup`], the HTTPS client and credentials of every AWS SDK client.
//! - [`retry`]: [`Backoff`], capped exponential backoff with jitter that honours a server's
//!   `Retry-After`.
//!
//! This module is a leaf: it imports nothing of the crate but [`crate::config::Secret`].

pub mod auth;
pub mod aws;
pub mod connections;
pub mod listen;
pub mod retry;
pub mod tls;

pub use auth::BearerToken;
pub use connections::ConnectionsConfig;
pub use listen::{ConnectionLimits, Listener};
pub use retry::Backoff;
