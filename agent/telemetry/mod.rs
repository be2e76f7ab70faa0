//! Telemetry (placeholder).
