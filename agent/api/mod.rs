//! The HTTP API (placeholder).
