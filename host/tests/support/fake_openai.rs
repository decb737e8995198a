//! A fake OpenAI-compatible server on 127.0.0.1 that speaks the real wire
//! format (chat completions, SSE streaming, embeddings, models) and records
//! what it received.
//!
//! The last user message steers it:
//! - `please fail NNN`: answers HTTP NNN with an OpenAI error body (429 adds
//!   `Retry-After: 2`);
//! - `please cut stream`: streams one chunk, then closes the connection;
//! - `please call tool`: answers with a `get_weather` tool call;
//! - `please send garbage`: answers 200 with a body that is not JSON;
//! - anything else: answers `echo: <message>` (streamed word by word).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::{Value, json};

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    delay: Duration,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// A running fake server; it stops when dropped.
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeOpenAi {
    /// Starts a server that waits `delay` before answering each chat request.
    /// It runs on its own thread and runtime, so sync tests can use it too.
    pub fn start(delay: Duration) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            delay,
            requests: requests.clone(),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Router::new()
                    .route("/v1/chat/completions", post(chat))
                    .route("/v1/embeddings", post(embeddings))
                    .route("/v1/models", get(models))
                    .with_state(shared);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Self {
            addr,
            requests,
            _shutdown: shutdown,
        }
    }

    /// The base URL to configure as an OpenAI-compatible provider.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Value) {
    shared.requests.lock().unwrap().push(Recorded {
        path: path.into(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
}

fn last_user_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn error_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    let body = json!({ "error": { "message": format!("fake error {}", status.as_u16()), "type": "fake", "code": null } });
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", "2".parse().unwrap());
    }
    response
}

async fn chat(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let body: Value = match serde_json::from_str(&body) {
        Ok(body) => body,
        Err(_) => return error_response(400),
    };
    record(&shared, "/v1/chat/completions", &headers, &body);
    tokio::time::sleep(shared.delay).await;
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let prompt = last_user_message(&body);
    if let Some(code) = prompt.strip_prefix("please fail ") {
        return error_response(code.trim().parse().unwrap_or(500));
    }
    if prompt == "please send garbage" {
        return (StatusCode::OK, "this is { not json").into_response();
    }
    let stream = body["stream"].as_bool().unwrap_or(false);
    let tool_call = prompt == "please call tool";
    let text = format!("echo: {prompt}");
    if !stream {
        let message = if tool_call {
            json!({ "role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" }
            }]})
        } else {
            json!({ "role": "assistant", "content": text })
        };
        return axum::Json(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [{ "index": 0, "message": message, "finish_reason": if tool_call { "tool_calls" } else { "stop" } }],
            "usage": { "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16 }
        }))
        .into_response();
    }
    let cut = prompt == "please cut stream";
    let mut events: Vec<String> = Vec::new();
    let chunk = |delta: Value, finish: Value| {
        json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
    };
    events.push(chunk(json!({ "role": "assistant", "content": "" }), Value::Null).to_string());
    for (i, word) in text.split(' ').enumerate() {
        let piece = if i == 0 {
            word.to_owned()
        } else {
            format!(" {word}")
        };
        events.push(chunk(json!({ "content": piece }), Value::Null).to_string());
        if cut {
            break;
        }
    }
    if !cut {
        events.push(chunk(json!({}), json!("stop")).to_string());
        events.push(
            json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
                    "usage": { "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16 } })
            .to_string(),
        );
        events.push("[DONE]".into());
    }
    let frames = events
        .into_iter()
        .map(|data| Ok::<_, std::io::Error>(format!("data: {data}\n\n")));
    let frames: Vec<_> = frames.collect();
    let body = if cut {
        // Send the frames, give the client time to read them, then fail
        // the body: hyper drops the connection mid-stream.
        let frames = futures::stream::iter(frames).chain(futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::other("cut"))
        }));
        Body::from_stream(frames)
    } else {
        Body::from_stream(futures::stream::iter(frames))
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

async fn embeddings(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    record(&shared, "/v1/embeddings", &headers, &body);
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| json!({ "object": "embedding", "index": i, "embedding": [input.as_str().unwrap_or("").len() as f32, 1.0, 0.5] }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data, "model": body["model"], "usage": { "prompt_tokens": 3, "total_tokens": 3 } }))
        .into_response()
}

async fn models(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    record(&shared, "/v1/models", &headers, &Value::Null);
    axum::Json(json!({ "object": "list", "data": [
        { "id": "fake-model", "object": "model", "owned_by": "fake" },
        { "id": "other-model", "object": "model", "owned_by": "fake" }
    ]}))
    .into_response()
}
