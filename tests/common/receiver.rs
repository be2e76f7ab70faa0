//! A real HTTP notification receiver on 127.0.0.1 for the alerting tests: it records every
//! request (path, headers, JSON body) and answers as told: 200, a failure status N times,
//! or never (holding the connection, to kill vitals mid-delivery).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// How the receiver answers.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 OK.
    Ok,
    /// `status` for the next `times` requests, then 200.
    Fail { status: u16, times: u32 },
    /// Never answers.
    Hang,
    /// 200 OK after waiting this long.
    Slow(Duration),
}

/// One request received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    answer: Option<Answer>,
}

/// The receiver; cheap to clone.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut g = inner.lock().expect("receiver");
        g.received.push(Received {
            path: uri.path().to_string(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let answer = g.answer.clone().unwrap_or(Answer::Ok);
        if let Answer::Fail { status, times } = answer {
            g.answer = if times > 1 {
                Some(Answer::Fail {
                    status,
                    times: times - 1,
                })
            } else {
                Some(Answer::Ok)
            };
        }
        answer
    };
    match answer {
        Answer::Ok => StatusCode::OK.into_response(),
        Answer::Fail { status, .. } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "test receiver failure",
        )
            .into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK.into_response()
        }
    }
}

impl Receiver {
    /// Starts a receiver answering `answer`.
    pub async fn start(answer: Answer) -> Receiver {
        Self::start_on("127.0.0.1:0", answer).await
    }

    /// Starts a receiver on `addr` (to take over the address of one that was stopped).
    pub async fn start_on(addr: &str, answer: Answer) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            received: Vec::new(),
            answer: Some(answer),
        }));
        let listener = TcpListener::bind(addr).await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(handle).with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set_answer(&self, answer: Answer) {
        self.inner.lock().expect("receiver").answer = Some(answer);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("receiver").received.clone()
    }

    /// Waits until at least `n` requests arrived; returns them all. Panics after 20 s.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            if Instant::now() > deadline {
                panic!(
                    "the receiver got {} requests, expected {n}: {r:#?}",
                    r.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
