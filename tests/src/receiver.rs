//! A local HTTP receiver for webhook and http_request tests: it records
//! every request (method, path, headers, body) and answers from a script
//! of canned responses, then with 200 `{"ok": true}` once the script runs
//! out. It listens on 127.0.0.1:0, so the server under test must allow
//! 127.0.0.0/8 in `outbound.allow_networks`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

use crate::eventually;

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers to add.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Answer {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        let headers = vec![("content-type".into(), "application/json".into())];
        Self { status, headers, body: body.to_string(), delay: Duration::ZERO }
    }

    /// `status` with a text body.
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, headers: vec![], body: body.into(), delay: Duration::ZERO }
    }

    /// A redirect to `location`.
    pub fn redirect(location: &str) -> Self {
        Self {
            status: 302,
            headers: vec![("location".into(), location.into())],
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    answers: Mutex<VecDeque<Answer>>,
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver answering with `answers`, in order.
    pub async fn start(answers: Vec<Answer>) -> Self {
        let shared = Arc::new(Shared { received: Mutex::default(), answers: Mutex::new(answers.into()) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What it got so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until it got `n` requests; fails the test after `secs` seconds.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        eventually(&format!("the receiver gets {n} requests"), secs, || async move {
            let received = self.received();
            if received.len() >= n { Ok(received) } else { Err(received.len()) }
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let path = uri.path_and_query().map_or("/".to_owned(), |p| p.to_string());
    shared.received.lock().unwrap().push(Received { method: method.to_string(), path, headers, body: body.to_vec() });
    let answer = shared.answers.lock().unwrap().pop_front();
    let answer = answer.unwrap_or_else(|| Answer::json(200, serde_json::json!({"ok": true})));
    tokio::time::sleep(answer.delay).await;
    let mut response = answer.body.into_response();
    *response.status_mut() = axum::http::StatusCode::from_u16(answer.status).unwrap();
    for (name, value) in answer.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

/// HMAC-SHA256 of `parts` with `secret`, hex.
fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a delivery's `Weft-Signature` value over `body` with `secret`,
/// written independently of the server's code: `t=<unix>,v1=<hex
/// HMAC-SHA256 of "weft-delivery.v1\n<t>\n<body>">`. Returns the signed time.
pub fn verify_delivery(secret: &str, header: &str, body: &[u8]) -> Result<i64, String> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (t, v1) = (t.ok_or("no t=")?, v1.ok_or("no v1=")?);
    let expected = hmac_hex(secret, &[b"weft-delivery.v1\n", t.to_string().as_bytes(), b"\n", body]);
    if expected == v1 { Ok(t) } else { Err(format!("signature mismatch: {v1} != {expected}")) }
}

/// The `Weft-Signature` value a receiver sends with a callback of `body`
/// to the callback URL ending in `token`, signed with `secret` at `t`:
/// HMAC-SHA256 of `"weft-callback.v1\n<token>\n<t>\n<body>"`.
pub fn sign_callback(secret: &str, token: &str, t: i64, body: &[u8]) -> String {
    let mac =
        hmac_hex(secret, &[b"weft-callback.v1\n", token.as_bytes(), b"\n", t.to_string().as_bytes(), b"\n", body]);
    format!("t={t},v1={mac}")
}

/// The token of a callback URL: its last path segment.
pub fn callback_token(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}

/// Now, Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
