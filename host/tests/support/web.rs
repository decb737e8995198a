//! A plain web server on 127.0.0.1 for the network tests: `/` answers
//! "hello from PORT", `/redirect?to=URL` answers `302 Location: URL`,
//! `/slow?ms=N` answers "slow" after N milliseconds, `/echo` answers the
//! request as JSON (method, path, query, content-type, x-test,
//! content-length, transfer-encoding, body),
//! `/bytes` answers bytes that are not UTF-8, `/missing` a 404, and
//! every request is recorded so a test can assert that a denied one never
//! arrived.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// A running server; it stops when dropped.
pub struct WebServer {
    pub addr: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct Shared {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
}

/// Serves the app `make` builds (given its address) on a free port of
/// 127.0.0.1, on a thread and runtime of its own, until the returned sender
/// is dropped.
pub fn serve_in_thread(
    make: impl FnOnce(SocketAddr) -> Router + Send + 'static,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, make(addr))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    (addr, shutdown)
}

impl WebServer {
    pub fn start() -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let kept = hits.clone();
        let (addr, shutdown) = serve_in_thread(move |addr| {
            Router::new().fallback(answer).with_state(Shared {
                port: addr.port(),
                hits: kept,
            })
        });
        Self {
            addr,
            hits,
            _shutdown: shutdown,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests received so far, as `METHOD path host=HOST[ auth=AUTHORIZATION]`.
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

async fn answer(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(|a| format!(" auth={a}"))
        .unwrap_or_default();
    shared
        .hits
        .lock()
        .unwrap()
        .push(format!("{method} {} host={host}{auth}", uri.path()));
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let to = uri
        .query()
        .and_then(|q| q.strip_prefix("to="))
        .map(str::to_owned);
    let ms = uri
        .query()
        .and_then(|q| q.strip_prefix("ms="))
        .and_then(|ms| ms.parse().ok());
    match (uri.path(), to) {
        ("/redirect", Some(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        ("/slow", _) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms.unwrap_or(0))).await;
            "slow".into_response()
        }
        ("/echo", _) => axum::Json(serde_json::json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query(),
            "content_type": header_text("content-type"),
            "x_test": header_text("x-test"),
            "content_length": header_text("content-length"),
            "transfer_encoding": header_text("transfer-encoding"),
            "body": String::from_utf8_lossy(&body),
        }))
        .into_response(),
        ("/bytes", _) => vec![0xffu8, 0x00, 0x80, b'A'].into_response(),
        ("/missing", _) => (StatusCode::NOT_FOUND, "not here").into_response(),
        _ => format!("hello from {}", shared.port).into_response(),
    }
}
