//! Alertmanager's v2 API (`/api/v2/*`) bodies and filters. Those routes are only served by
//! the API listener, so this target runs the real stages once per process: an alerting stage
//! (`alerting::AlertingStage`, from a configuration loaded with `LoadedConfig::from_yaml`,
//! without durable state) and the API server (`api::ApiServer`) on 127.0.0.1:0 serving it;
//! each input is one HTTP/1.1 request on a kept-alive connection. The handlers decode and
//! check the body exactly as they do for Prometheus, Grafana and amtool:
//! - 0: `POST /api/v2/alerts` (a JSON array of postable alerts; the fast typed decode, the
//!   per-alert fallback and the checks of labels, annotations and times, then
//!   `AlertingHandle::post_alerts`);
//! - 1: `POST /api/v2/silences` (a postable silence, `Silences::set`'s validation);
//! - 2, 3: `GET /api/v2/alerts?…` and `GET /api/v2/silences?…` (the `filter` matchers,
//!   `active`/`silenced`/… flags).
//!
//! State is kept between inputs (alerts and silences accepted earlier stay), as in a running
//! daemon. A panic in a handler aborts the process (libFuzzer's panic hook), so it is found
//! even though the server runs it on another thread.
#![no_main]

mod common;

use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use vitals::alerting::AlertingStage;
use vitals::api::{ApiServer, ApiSpec};
use vitals::daemon::config::LoadedConfig;
use vitals::rules::status::RulesView;
use vitals::stage::{Context, Stage};

const CONFIG: &str = r#"
server:
  listen: "127.0.0.1:0"
alerting:
  route:
    receiver: log
    group_by: [alertname]
    group_wait: 1h
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
  receivers:
    - name: log
      log_configs: [{level: info}]
    - name: pager
      log_configs: [{level: info}]
  inhibit_rules:
    - source_matchers: ['severity="critical"']
      target_matchers: ['severity="warning"']
      equal: [service]
"#;

struct Server {
    addr: SocketAddr,
    // Kept alive for the whole process.
    _alerting: AlertingStage,
    _api: ApiServer,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let cfg = LoadedConfig::from_yaml(CONFIG, "vitals.yaml", |_| None).expect("config");
        common::runtime().block_on(async move {
            let ctx = Context {
                store: common::store(1_000),
                registry: prometheus::Registry::new(),
                durable: None,
                cancel: CancellationToken::new(),
            };
            let alerting = AlertingStage::build(cfg.alerting.expect("alerting spec"), &ctx)
                .await
                .expect("alerting stage");
            alerting.start();
            let spec = ApiSpec {
                server: cfg.server,
                rules: RulesView::default(),
                alerting: Some(alerting.handle()),
            };
            let api = ApiServer::build(spec, &ctx).await.expect("api server");
            api.start();
            Server {
                addr: api.local_addr(),
                _alerting: alerting,
                _api: api,
            }
        })
    })
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

fn client() -> &'static Mutex<Option<SendRequest<Full<Bytes>>>> {
    static CLIENT: OnceLock<Mutex<Option<SendRequest<Full<Bytes>>>>> = OnceLock::new();
    CLIENT.get_or_init(|| Mutex::new(None))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (method, uri, body) = match sel % 4 {
        0 => ("POST", "/api/v2/alerts".to_string(), rest),
        1 => ("POST", "/api/v2/silences".to_string(), rest),
        which => {
            let Ok(q) = std::str::from_utf8(rest) else {
                return;
            };
            let path = if which == 2 { "alerts" } else { "silences" };
            ("GET", format!("/api/v2/{path}?{q}"), &[][..])
        }
    };
    let request = || {
        hyper::Request::builder()
            .method(method)
            .uri(uri.as_str())
            .header("host", "vitals")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .ok()
    };
    if request().is_none() {
        return;
    }
    let addr = server().addr;
    common::runtime().block_on(async move {
        let mut guard = client().lock().await;
        for _ in 0..2 {
            let alive = match guard.as_mut() {
                Some(s) => s.ready().await.is_ok(),
                None => false,
            };
            if !alive {
                *guard = Some(connect(addr).await);
            }
            let Some(send) = guard.as_mut() else { return };
            let Some(req) = request() else { return };
            match send.send_request(req).await {
                Ok(resp) => {
                    let _ = resp.into_body().collect().await;
                    return;
                }
                Err(_) => *guard = None,
            }
        }
    });
});
