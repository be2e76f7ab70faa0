//! Store-level tests: unit tests for the append rules, matchers, `latest`, gc, and property
//! tests comparing the store against a naive model.
