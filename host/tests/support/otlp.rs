//! A fake OpenTelemetry collector on 127.0.0.1: it takes OTLP/HTTP JSON
//! (`POST /v1/traces`, the wire format real collectors accept) and keeps
//! every span it was sent, flattened.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde_json::Value;

/// One span as received.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// How long it lasted, in milliseconds.
    pub ms: f64,
    pub attributes: serde_json::Map<String, Value>,
}

impl Span {
    /// An attribute's value as text (`intValue`s come as strings in OTLP JSON).
    pub fn attribute(&self, key: &str) -> Option<String> {
        let value = self.attributes.get(key)?;
        Some(match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

/// A running collector; it stops when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Collector {
    pub fn start() -> Self {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let (addr, shutdown) = super::web::serve_in_thread(move |_| {
            Router::new()
                .route("/v1/traces", post(traces))
                .with_state(kept)
        });
        Self {
            addr,
            spans,
            _shutdown: shutdown,
        }
    }

    /// The base URL exporters are given (`[telemetry] endpoint`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

async fn traces(
    State(spans): State<Arc<Mutex<Vec<Span>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !json {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this collector takes http/json",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON");
    };
    let mut kept = spans.lock().unwrap();
    for resource in request["resourceSpans"].as_array().into_iter().flatten() {
        let service = attributes(&resource["resource"]["attributes"])
            .get("service.name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_owned();
                let nanos = |key: &str| match &span[key] {
                    Value::String(n) => n.parse::<f64>().unwrap_or(0.0),
                    other => other.as_f64().unwrap_or(0.0),
                };
                kept.push(Span {
                    service: service.clone(),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_span_id: text("parentSpanId"),
                    name: text("name"),
                    ms: (nanos("endTimeUnixNano") - nanos("startTimeUnixNano")) / 1e6,
                    attributes: attributes(&span["attributes"]),
                });
            }
        }
    }
    (StatusCode::OK, "{}")
}

/// OTLP key-value attributes as a map of plain values.
fn attributes(list: &Value) -> serde_json::Map<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            let value = kv["value"].as_object()?.values().next()?.clone();
            Some((kv["key"].as_str()?.to_owned(), value))
        })
        .collect()
}
