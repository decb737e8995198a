//! A fake LLM server on 127.0.0.1 that speaks three real wire formats and
//! records what it received:
//! - OpenAI chat completions (`/v1/chat/completions`, SSE with `[DONE]`),
//!   embeddings and models;
//! - Anthropic Messages (`/v1/messages`, named SSE events);
//! - Gemini (`/v1beta/models/{model}:generateContent`,
//!   `:streamGenerateContent?alt=sse`, `:batchEmbedContents`).
//!
//! It refuses what the real APIs refuse, with their status codes and error
//! shapes: every request body is checked against the provider's published
//! description (`support::contract`), and a model the model catalog knows
//! gets that model's rules — its output-token limit, OpenAI reasoning
//! models' refusal of `max_tokens` and of sampling parameters, Anthropic's
//! `temperature`-or-`top_p`, no images for a model without vision. Models
//! the catalog does not know (`fake-model`) are served like a generic
//! OpenAI-compatible server would.
//!
//! Shapes follow each provider's API reference. The last user message
//! steers it:
//! - `please fail NNN`: answers HTTP NNN with the provider's error body
//!   (429 adds `Retry-After: 2`);
//! - `please fail NNN once`: the first such request fails, retries succeed;
//! - `please cut stream`: streams one chunk, then closes the connection;
//! - `please call tool`: answers with a `get_weather` tool call;
//! - `please send garbage`: answers 200 with a body that is not JSON;
//! - `agent: TURN; TURN; …` (OpenAI format, not streamed) scripts an agent
//!   conversation: turn N answers the N-th model call after that user
//!   message (the last turn repeats). A turn is `call NAME {json}` (several
//!   joined by ` & ` are parallel calls) or `say TEXT`, where `{tools}` in
//!   TEXT becomes the tool results received since the last turn, joined by
//!   ` | `;
//! - anything else: answers `echo: <message>` (streamed word by word).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::{Value, json};
use spellhost::bridges::llm::catalog::{ModelCatalog, ModelSpec, Sampling};

use super::contract;

/// What the real APIs say of these models in their own refusals (quoted in
/// the issue that introduced the model catalog): held here, apart from the
/// catalog, so a wrong catalog entry for them fails the tests.
const API_FACTS: &[(&str, u32, Sampling)] = &[
    ("openai/gpt-4o-mini", 16_384, Sampling::Free),
    ("openai/gpt-5", 128_000, Sampling::Fixed),
    ("anthropic/claude-sonnet-4-5", 64_000, Sampling::Exclusive),
    ("gemini/gemini-2.5-flash", 65_536, Sampling::Free),
];

/// The rules the real API applies to `provider/model`: the facts above,
/// else the model catalog's entry.
fn model_rules(provider: &str, model: &str) -> Option<ModelSpec> {
    static CATALOG: std::sync::OnceLock<ModelCatalog> = std::sync::OnceLock::new();
    let id = format!("{provider}/{model}");
    let mut rules = CATALOG.get_or_init(ModelCatalog::builtin).get(&id);
    if let Some((_, max_output, sampling)) = API_FACTS.iter().find(|(known, ..)| *known == id) {
        let rules = rules.get_or_insert_with(ModelSpec::default);
        rules.max_output_tokens = Some(*max_output);
        rules.sampling = Some(*sampling);
    }
    rules
}

/// Whether any message of an OpenAI or Anthropic body holds an image.
fn has_image(body: &Value) -> bool {
    let text = body["messages"].to_string();
    text.contains("\"image_url\"") || text.contains("\"type\":\"image\"")
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    /// The credential header of the request's wire format, if any.
    pub credential: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    delay: Duration,
    requests: Arc<Mutex<Vec<Recorded>>>,
    failed_once: Arc<Mutex<HashSet<String>>>,
}

/// A running fake server; it stops when dropped.
pub struct FakeLlm {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeLlm {
    /// Starts a server that waits `delay` before answering each chat request.
    /// It runs on its own thread and runtime, so sync tests can use it too.
    pub fn start(delay: Duration) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            delay,
            requests: requests.clone(),
            failed_once: Arc::default(),
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
                    .route("/v1/chat/completions", post(openai_chat))
                    .route("/v1/embeddings", post(openai_embeddings))
                    .route("/v1/models", get(models))
                    .route("/v1/messages", post(anthropic_messages))
                    .route("/v1beta/models/{call}", post(gemini))
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

    /// Base URL of the OpenAI-compatible API.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL of the Anthropic API (the provider appends `/v1/messages`).
    pub fn anthropic_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the Gemini API.
    pub fn gemini_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, credential: &str, body: &Value) {
    shared.requests.lock().unwrap().push(Recorded {
        path: path.into(),
        credential: headers
            .get(credential)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers: headers.clone(),
        body: body.clone(),
    });
}

/// What to answer, decided by the last user message.
enum Plan {
    Fail(u16),
    Garbage,
    Tool,
    Cut(String),
    Echo(String),
}

fn plan(shared: &Shared, prompt: &str) -> Plan {
    if let Some(rest) = prompt.strip_prefix("please fail ") {
        let (code, once) = match rest.strip_suffix(" once") {
            Some(code) => (code, true),
            None => (rest, false),
        };
        let code = code.trim().parse().unwrap_or(500);
        if !once || shared.failed_once.lock().unwrap().insert(prompt.to_owned()) {
            return Plan::Fail(code);
        }
        return Plan::Echo(format!("echo: {prompt}"));
    }
    match prompt {
        "please send garbage" => Plan::Garbage,
        "please call tool" => Plan::Tool,
        "please cut stream" => Plan::Cut(format!("echo: {prompt}")),
        _ => Plan::Echo(format!("echo: {prompt}")),
    }
}

/// The words of `text` as stream pieces: "a", " b", " c".
fn pieces(text: &str) -> Vec<String> {
    text.split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

fn sse(frames: Vec<String>, cut: bool) -> Response {
    let frames: Vec<Result<String, std::io::Error>> = frames.into_iter().map(Ok).collect();
    let body = if cut {
        // Send the frames, give the client time to read them, then fail the
        // body: hyper drops the connection mid-stream.
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

fn with_retry_after(mut response: Response, status: u16) -> Response {
    if status == 429 {
        response
            .headers_mut()
            .insert("retry-after", "2".parse().unwrap());
    }
    response
}

// ---- OpenAI -------------------------------------------------------------

fn last_openai_user_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The reply to a scripted agent turn (see the module docs).
fn scripted_turn(body: &Value, script: &str) -> Value {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let start = messages
        .iter()
        .rposition(|m| m["role"] == "user")
        .unwrap_or(0);
    let after = &messages[start + 1..];
    let turn_index = after.iter().filter(|m| m["role"] == "assistant").count();
    let results: Vec<String> = after
        .iter()
        .rev()
        .take_while(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let turns: Vec<&str> = script.split(';').map(str::trim).collect();
    let turn = turns[turn_index.min(turns.len() - 1)];
    if let Some(text) = turn.strip_prefix("say ") {
        let text = text.replace("{tools}", &results.join(" | "));
        return json!({ "role": "assistant", "content": text });
    }
    let calls: Vec<Value> = turn
        .split(" & ")
        .enumerate()
        .map(|(i, call)| {
            let call = call.trim().strip_prefix("call ").unwrap_or(call);
            let (name, arguments) = call.split_once(' ').unwrap_or((call, "{}"));
            json!({ "id": format!("call_{turn_index}_{i}"), "type": "function",
                    "function": { "name": name, "arguments": arguments } })
        })
        .collect();
    json!({ "role": "assistant", "content": null, "tool_calls": calls })
}

async fn openai_chat(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    record(
        &shared,
        "/v1/chat/completions",
        &headers,
        "authorization",
        &body,
    );
    if let Some(refusal) = openai_refusal(&body) {
        return refusal;
    }
    tokio::time::sleep(shared.delay).await;
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    if let Some(script) = last_openai_user_message(&body).strip_prefix("agent: ") {
        let message = scripted_turn(&body, script);
        let finish = if message["tool_calls"].is_array() {
            "tool_calls"
        } else {
            "stop"
        };
        return axum::Json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
            "usage": { "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16 }
        }))
        .into_response();
    }
    let stream = body["stream"].as_bool().unwrap_or(false);
    let usage = json!({ "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16 });
    let (text, tool, cut) = match plan(&shared, &last_openai_user_message(&body)) {
        Plan::Fail(code) => {
            let status = StatusCode::from_u16(code).unwrap();
            let error = json!({ "error": { "message": format!("fake error {code}"), "type": "fake", "code": null } });
            return with_retry_after((status, axum::Json(error)).into_response(), code);
        }
        Plan::Garbage => return (StatusCode::OK, "this is { not json").into_response(),
        Plan::Tool => (String::new(), true, false),
        Plan::Cut(text) => (text, false, true),
        Plan::Echo(text) => (text, false, false),
    };
    let call = json!({ "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } });
    if !stream {
        let message = if tool {
            json!({ "role": "assistant", "content": null, "tool_calls": [call] })
        } else {
            json!({ "role": "assistant", "content": text })
        };
        return axum::Json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{ "index": 0, "message": message, "finish_reason": if tool { "tool_calls" } else { "stop" } }],
            "usage": usage
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model,
                            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
        format!("data: {chunk}\n\n")
    };
    let mut frames = vec![chunk(
        json!({ "role": "assistant", "content": "" }),
        Value::Null,
    )];
    if tool {
        frames.push(chunk(json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function", "function": { "name": "get_weather", "arguments": "{\"city\":" } }] }), Value::Null));
        frames.push(chunk(
            json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Paris\"}" } }] }),
            Value::Null,
        ));
    }
    for piece in pieces(&text).into_iter().filter(|p| !p.is_empty()) {
        frames.push(chunk(json!({ "content": piece }), Value::Null));
        if cut {
            return sse(frames, true);
        }
    }
    frames.push(chunk(
        json!({}),
        json!(if tool { "tool_calls" } else { "stop" }),
    ));
    frames.push(format!(
        "data: {}\n\n",
        json!({ "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": usage })
    ));
    frames.push("data: [DONE]\n\n".into());
    sse(frames, false)
}

/// OpenAI's answer to a request it refuses (`invalid_request_error`).
fn openai_error(param: Option<&str>, message: String) -> Response {
    let error = json!({ "error": { "message": message, "type": "invalid_request_error",
                                   "param": param, "code": null } });
    (StatusCode::BAD_REQUEST, axum::Json(error)).into_response()
}

/// What OpenAI's API would refuse in a chat completion request.
fn openai_refusal(body: &Value) -> Option<Response> {
    let violations = contract::openai_chat().violations(body);
    if !violations.is_empty() {
        return Some(openai_error(None, violations.join("; ")));
    }
    let model = body["model"].as_str().unwrap_or_default();
    let rules = model_rules("openai", model)?;
    let reasoning = rules.sampling == Some(Sampling::Fixed);
    if reasoning && body.get("max_tokens").is_some() {
        return Some(openai_error(
            Some("max_tokens"),
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.".into(),
        ));
    }
    for field in ["max_tokens", "max_completion_tokens"] {
        if let (Some(asked), Some(max)) = (body[field].as_u64(), rules.max_output_tokens)
            && asked > u64::from(max)
        {
            return Some(openai_error(
                Some(field),
                format!(
                    "{field} is too large: {asked}. This model supports at most {max} completion tokens, whereas you provided {asked}."
                ),
            ));
        }
    }
    if reasoning {
        for field in ["temperature", "top_p"] {
            if let Some(value) = body[field].as_f64().filter(|v| *v != 1.0) {
                return Some(openai_error(
                    Some(field),
                    format!(
                        "Unsupported value: '{field}' does not support {value} with this model. Only the default (1) value is supported."
                    ),
                ));
            }
        }
    }
    if rules.vision == Some(false) && has_image(body) {
        return Some(openai_error(
            Some("messages"),
            "Invalid content type. image_url is only supported by certain models.".into(),
        ));
    }
    None
}

async fn openai_embeddings(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    record(&shared, "/v1/embeddings", &headers, "authorization", &body);
    let violations = contract::openai_embeddings().violations(&body);
    if !violations.is_empty() {
        return openai_error(None, violations.join("; "));
    }
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
    record(
        &shared,
        "/v1/models",
        &headers,
        "authorization",
        &Value::Null,
    );
    axum::Json(json!({ "object": "list", "data": [
        { "id": "fake-model", "object": "model", "owned_by": "fake" },
        { "id": "other-model", "object": "model", "owned_by": "fake" }
    ]}))
    .into_response()
}

// ---- Anthropic ----------------------------------------------------------

fn last_anthropic_user_text(body: &Value) -> String {
    let Some(message) = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
    else {
        return String::new();
    };
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

async fn anthropic_messages(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let error = |status: u16, kind: &str, message: String| {
        let body = json!({ "type": "error", "error": { "type": kind, "message": message } });
        with_retry_after(
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response(),
            status,
        )
    };
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(400, "invalid_request_error", "body is not JSON".into());
    };
    record(&shared, "/v1/messages", &headers, "x-api-key", &body);
    if headers.get("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version header is required".into(),
        );
    }
    if body["max_tokens"].as_u64().is_none() {
        return error(
            400,
            "invalid_request_error",
            "max_tokens: Field required".into(),
        );
    }
    let violations = contract::anthropic_messages().violations(&body);
    if !violations.is_empty() {
        return error(400, "invalid_request_error", violations.join("; "));
    }
    let model_name = body["model"].as_str().unwrap_or_default();
    if let Some(rules) = model_rules("anthropic", model_name) {
        if let (Some(asked), Some(max)) = (body["max_tokens"].as_u64(), rules.max_output_tokens)
            && asked > u64::from(max)
        {
            return error(
                400,
                "invalid_request_error",
                format!(
                    "max_tokens: {asked} > {max}, which is the maximum allowed number of output tokens for {model_name}"
                ),
            );
        }
        if rules.sampling == Some(Sampling::Exclusive)
            && body.get("temperature").is_some()
            && body.get("top_p").is_some()
        {
            return error(
                400,
                "invalid_request_error",
                "`temperature` and `top_p` cannot both be specified for this model. Please use only one.".into(),
            );
        }
        if rules.vision == Some(false) && has_image(&body) {
            return error(
                400,
                "invalid_request_error",
                format!("{model_name} does not support image input."),
            );
        }
    }
    tokio::time::sleep(shared.delay).await;
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let (text, tool, cut) = match plan(&shared, &last_anthropic_user_text(&body)) {
        Plan::Fail(code) => {
            let kind = match code {
                401 => "authentication_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            return error(code, kind, format!("fake error {code}"));
        }
        Plan::Garbage => return (StatusCode::OK, "this is { not json").into_response(),
        Plan::Tool => (String::new(), true, false),
        Plan::Cut(text) => (text, false, true),
        Plan::Echo(text) => (text, false, false),
    };
    if !stream {
        let content = if tool {
            json!([{ "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } }])
        } else {
            json!([{ "type": "text", "text": text }])
        };
        return axum::Json(json!({
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": if tool { "tool_use" } else { "end_turn" }, "stop_sequence": null,
            "usage": { "input_tokens": 11, "output_tokens": 5 }
        }))
        .into_response();
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut frames = vec![event(
        "message_start",
        json!({ "type": "message_start", "message": { "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "usage": { "input_tokens": 11, "output_tokens": 1 } } }),
    )];
    if tool {
        frames.push(event("content_block_start", json!({ "type": "content_block_start", "index": 0,
            "content_block": { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {} } })));
        for part in ["{\"city\":", "\"Paris\"}"] {
            frames.push(event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": 0,
                "delta": { "type": "input_json_delta", "partial_json": part } }),
            ));
        }
    } else {
        frames.push(event("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })));
        frames.push(event("ping", json!({ "type": "ping" })));
        for piece in pieces(&text) {
            frames.push(event("content_block_delta", json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece } })));
            if cut {
                return sse(frames, true);
            }
        }
    }
    frames.push(event(
        "content_block_stop",
        json!({ "type": "content_block_stop", "index": 0 }),
    ));
    frames.push(event("message_delta", json!({ "type": "message_delta",
        "delta": { "stop_reason": if tool { "tool_use" } else { "end_turn" }, "stop_sequence": null }, "usage": { "output_tokens": 5 } })));
    frames.push(event("message_stop", json!({ "type": "message_stop" })));
    sse(frames, false)
}

// ---- Gemini -------------------------------------------------------------

fn last_gemini_user_text(body: &Value) -> String {
    body["contents"]
        .as_array()
        .and_then(|c| c.iter().rev().find(|c| c["role"] == "user"))
        .and_then(|c| c["parts"].as_array())
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default()
}

async fn gemini(
    State(shared): State<Shared>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let error = |code: u16, status: &str, message: String| {
        let body = json!({ "error": { "code": code, "message": message, "status": status } });
        with_retry_after(
            (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response(),
            code,
        )
    };
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(
            400,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.".into(),
        );
    };
    let Some((model, action)) = call.split_once(':') else {
        return error(404, "NOT_FOUND", format!("no method {call}"));
    };
    record(
        &shared,
        &format!("/v1beta/models/{call}"),
        &headers,
        "x-goog-api-key",
        &body,
    );
    if action != "batchEmbedContents" {
        let violations = contract::gemini_generate().violations(&body);
        if !violations.is_empty() {
            return error(400, "INVALID_ARGUMENT", violations.join("; "));
        }
        if let Some(rules) = model_rules("gemini", model)
            && let (Some(asked), Some(max)) = (
                body["generationConfig"]["maxOutputTokens"].as_u64(),
                rules.max_output_tokens,
            )
            && asked > u64::from(max)
        {
            return error(
                400,
                "INVALID_ARGUMENT",
                format!(
                    "The specified max_output_tokens ({asked}) is out of range. The supported range is from 1 (inclusive) to {} (exclusive).",
                    max + 1
                ),
            );
        }
    }
    if action == "batchEmbedContents" {
        let embeddings: Vec<Value> = body["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| json!({ "values": [r["content"]["parts"][0]["text"].as_str().unwrap_or("").len() as f32, 0.25] }))
            .collect();
        return axum::Json(json!({ "embeddings": embeddings })).into_response();
    }
    tokio::time::sleep(shared.delay).await;
    let (text, tool, cut) = match plan(&shared, &last_gemini_user_text(&body)) {
        Plan::Fail(code) => {
            let status = match code {
                401 => "UNAUTHENTICATED",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            return error(code, status, format!("fake error {code}"));
        }
        Plan::Garbage => return (StatusCode::OK, "this is { not json").into_response(),
        Plan::Tool => (String::new(), true, false),
        Plan::Cut(text) => (text, false, true),
        Plan::Echo(text) => (text, false, false),
    };
    let usage = json!({ "promptTokenCount": 11, "candidatesTokenCount": 5, "totalTokenCount": 16 });
    let response = |parts: Value, finish: Option<&str>, usage: Option<&Value>| {
        let mut candidate = json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        let mut response = json!({ "candidates": [candidate], "modelVersion": model });
        if let Some(usage) = usage {
            response["usageMetadata"] = usage.clone();
        }
        response
    };
    let call_part =
        json!([{ "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } }]);
    if action == "generateContent" {
        let parts = if tool {
            call_part
        } else {
            json!([{ "text": text }])
        };
        return axum::Json(response(parts, Some("STOP"), Some(&usage))).into_response();
    }
    if action != "streamGenerateContent" {
        return error(404, "NOT_FOUND", format!("no method {action}"));
    }
    let mut frames = Vec::new();
    if tool {
        frames.push(format!(
            "data: {}\r\n\r\n",
            response(call_part, Some("STOP"), Some(&usage))
        ));
        return sse(frames, false);
    }
    let pieces = pieces(&text);
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let finish = (i == last && !cut).then_some("STOP");
        let usage = (i == last && !cut).then_some(&usage);
        frames.push(format!(
            "data: {}\r\n\r\n",
            response(json!([{ "text": piece }]), finish, usage)
        ));
        if cut {
            return sse(frames, true);
        }
    }
    sse(frames, false)
}
