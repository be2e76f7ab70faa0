//! The Prometheus query API's parameters (`api::query`): the input is one request to the
//! real `/api/v1` router (`api::query::routes()` over `ApiState`, as the server nests it),
//! so it goes through the handlers' own reading of the URL query and form body
//! (`Params::parse`, percent-decoding), times (`time`, `start`, `end`: Unix seconds or RFC
//! 3339), durations (`step`, `timeout`, `lookback_delta`), `limit`, and `match[]` selectors
//! (`parse_matchers`), then the endpoint's work over a small store with a 500 ms query
//! timeout and a 50,000-sample limit. A 500 answer (a handler's task panicked) is a finding.
//!
//! Input: byte 0 picks the endpoint (low 3 bits) and GET or a POST form (bit 3); the rest is
//! `<url query>\n<form body>`. For `label/<name>/values` the URL part is `<name>?<query>`.
#![no_main]

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use vitals::api::ApiState;
use vitals::config::Secret;

const ENDPOINTS: [&str; 8] = [
    "/query",
    "/query_range",
    "/series",
    "/labels",
    "/label/",
    "/query_exemplars",
    "/format_query",
    "/metadata",
];

fn state() -> &'static Arc<ApiState> {
    static STATE: OnceLock<Arc<ApiState>> = OnceLock::new();
    STATE.get_or_init(|| {
        // `/-/reload` is not routed here; its channel only has to exist.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        std::mem::forget(rx);
        let state = ApiState::new(
            common::small_store(),
            prometheus::Registry::new(),
            Secret::default(),
            tx,
        )
        .expect("api state");
        state.set_query_limits(Duration::from_millis(500), 50_000);
        state
    })
}

fuzz_target!(|data: &[u8]| {
    common::tolerate_caught_parser_panics();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let endpoint = ENDPOINTS[usize::from(sel & 7)];
    let post = sel & 8 != 0;
    let (url_part, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(url_part) = std::str::from_utf8(url_part) else {
        return;
    };
    let uri = if endpoint == "/label/" {
        let (name, query) = url_part.split_once('?').unwrap_or((url_part, ""));
        format!("/label/{name}/values?{query}")
    } else {
        format!("{endpoint}?{url_part}")
    };
    let mut req = Request::builder().uri(uri);
    if post {
        req = req
            .method(Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let Ok(req) = req.body(Body::from(body.to_vec())) else {
        return;
    };
    let router = vitals::api::query::routes().with_state(state().clone());
    common::runtime().block_on(async move {
        let Ok(resp) = router.oneshot(req).await;
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20).await;
        // 500 is how a handler reports a query task that panicked (or another internal
        // failure): a finding even though the blocking pool caught the panic.
        assert_ne!(status.as_u16(), 500, "internal error: {body:?}");
    });
});
