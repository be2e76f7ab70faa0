//! Shutdown (placeholder).
