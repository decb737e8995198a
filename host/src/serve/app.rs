//! The HTTP API (see `docs/serve.md`):
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | `ok` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /v1/spells` | the spells: name, description, grants, input schema |
//! | `POST /v1/spells/{name}/runs` | run one: `{input, vars, limits}` → the result; with `Accept: text/event-stream`, the run's events as SSE, then the result; queued for workers when `[queue] url` is set (`super::queued`) |
//! | `GET /v1/runs/{id}` | a queued run's result (`?wait=30s`) |
//!
//! A run that finished answers 200 with `ok` true or false; what stopped a
//! request from running answers 4xx with `{"error": {"kind", "message"}}`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::follow::{Follow, Seen};
use super::{Refusal, RequestError, Server};
use crate::bridges::run::RunSignal;
use crate::runtime::{RunError, RunReport};

/// The server's routes.
pub fn router(server: Arc<Server>) -> Router {
    let max_body = server.options().max_body;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/spells", get(list_spells))
        .route("/v1/spells/{name}/runs", post(run_spell))
        .route("/v1/runs/{id}", get(super::queued::run_result))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(server)
}

/// A request turned away: status and `{"error": {kind, message}}`.
pub(super) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "kind": kind, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

/// Counts a refusal and renders it.
pub(super) fn refusal(server: &Server, refused: Refusal) -> Response {
    server.metrics.rejected(match refused {
        Refusal::Unauthorized(_) => "unauthorized",
        Refusal::Busy(_) => "busy",
    });
    refusal_response(refused)
}

/// A refusal as 401 (with `WWW-Authenticate`) or 429 (with `Retry-After`).
fn refusal_response(refused: Refusal) -> Response {
    match refused {
        Refusal::Unauthorized(message) => {
            let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("header"));
            response
        }
        Refusal::Busy(message) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "busy", message);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().expect("header"));
            response
        }
    }
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        server.metrics.render(),
    )
        .into_response()
}

pub(super) fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn list_spells(State(server): State<Arc<Server>>, headers: HeaderMap) -> Response {
    if let Err(refused) = server.authenticate(authorization(&headers)) {
        return refusal(&server, refused);
    }
    let spells: Vec<Value> = server
        .spells()
        .iter()
        .map(|(name, served)| {
            json!({
                "name": name,
                "description": served.description,
                "requested_grants": served.requested,
                "grants": served.granted,
                "allowed_vars": served.allowed_vars,
                "input_schema": served.input_schema.clone().unwrap_or_else(default_input_schema),
                "limits": {
                    "fuel": served.limits.fuel,
                    "memory_bytes": served.limits.memory_bytes,
                    "timeout_ms": served.limits.timeout.as_millis() as u64,
                    "max_output_bytes": served.limits.max_output_bytes,
                    "max_llm_tokens": served.limits.max_llm_tokens,
                    "max_llm_cost_usd": served.limits.max_llm_cost_usd,
                    "max_handles": served.limits.max_handles,
                    "state_quota_bytes": served.limits.state_bytes,
                    "state_quota_keys": served.limits.state_keys,
                    "max_log_bytes": served.limits.max_log_bytes,
                    "max_event_rate": served.limits.max_event_rate,
                },
            })
        })
        .collect();
    axum::Json(json!({ "spells": spells })).into_response()
}

/// The input of a spell whose manifest declares no schema: a string.
pub fn default_input_schema() -> Value {
    json!({ "type": "object", "properties": { "input": { "type": "string" } } })
}

/// The body of `POST /v1/spells/{name}/runs`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    /// A string goes to the spell as it is; any other JSON as its text.
    #[serde(default)]
    input: Value,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    /// Lower limits for this run (never higher than the server's).
    #[serde(default)]
    limits: crate::policy::manifest::ManifestLimits,
}

async fn run_spell(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Who asks comes first: a stranger's body is never read.
    let tenant = match server.authenticate(authorization(&headers)) {
        Ok(tenant) => tenant,
        Err(refused) => return refusal(&server, refused),
    };
    let max_body = server.options().max_body;
    let body: Bytes = match axum::body::to_bytes(body, max_body).await {
        Ok(body) => body,
        Err(err) => {
            server.metrics.rejected("too-large");
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body could not be read within this server's {max_body} bytes: {err}"),
            );
        }
    };
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(err) => {
                server.metrics.rejected("bad-request");
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    format!(
                        "the body is not a run request ({{\"input\": …, \"vars\": {{…}}, \"limits\": {{…}}}}): {err}"
                    ),
                );
            }
        }
    };
    let asked = match request.limits.overrides() {
        Ok(asked) => asked,
        Err(err) => {
            server.metrics.rejected("bad-request");
            return error(StatusCode::BAD_REQUEST, "bad-request", format!("{err:#}"));
        }
    };
    let input = match request.input {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let pending = match server.prepare_run(tenant, &name, input, &request.vars, asked) {
        Ok(pending) => pending,
        Err(RequestError::UnknownSpell(message)) => {
            return error(StatusCode::NOT_FOUND, "unknown-spell", message);
        }
        Err(RequestError::VarNotAllowed(message)) => {
            return error(StatusCode::BAD_REQUEST, "var-not-allowed", message);
        }
        // Counted by `prepare_run`.
        Err(RequestError::Refused(refused)) => return refusal_response(refused),
    };
    if let Some(queue) = server.queue().cloned() {
        return super::queued::enqueue(
            server,
            queue,
            pending,
            request.vars,
            request.limits,
            &headers,
        )
        .await;
    }
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !streaming {
        // Dropped with the request when the client goes away: the run is
        // cancelled with it.
        let report = server.execute(pending).await;
        return axum::Json(report_json(&name, &report)).into_response();
    }
    stream_run(server, pending)
}

/// Runs while streaming the run as SSE: its events (`event: <topic>`), its
/// log lines, streamed text and denials (`event: log|token|denial`), then
/// `event: result` with what a plain request answers. A client that falls
/// behind is told how much it missed (`event: lagged`). The run is a task
/// the stream owns: a client that goes away cancels it.
fn stream_run(server: Arc<Server>, mut pending: super::PendingRun) -> Response {
    let name = pending.name.clone();
    let follow = pending.follow();
    let task = wasmtime_wasi::runtime::spawn(async move {
        let report = server.execute(pending).await;
        report_json(&name, &report)
    });
    sse(follow, task)
}

/// Streams what `follow` sees until `task` gives the result, then the
/// result (`event: result`).
pub(super) fn sse(
    follow: Follow,
    task: wasmtime_wasi::runtime::AbortOnDropJoinHandle<Value>,
) -> Response {
    let pump = Pump {
        follow,
        task: Some(task),
        result: None,
    };
    let stream = futures::stream::unfold(pump, |mut pump| async move {
        let next = pump.next().await?;
        Some((Ok::<_, Infallible>(next), pump))
    });
    Sse::new(stream)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response()
}

/// A streamed run: what is seen of it, then its result.
struct Pump {
    follow: Follow,
    task: Option<wasmtime_wasi::runtime::AbortOnDropJoinHandle<Value>>,
    result: Option<Value>,
}

impl Pump {
    /// The next SSE event; `None` after the result.
    async fn next(&mut self) -> Option<SseEvent> {
        if let Some(task) = self.task.as_mut() {
            tokio::select! {
                seen = self.follow.next() => return Some(seen_sse(&seen)),
                result = task => {
                    self.task = None;
                    self.result = Some(result);
                }
            }
        }
        // The run is over: what it published is already queued.
        if let Some(seen) = self.follow.next_queued() {
            return Some(seen_sse(&seen));
        }
        let result = self.result.take()?.to_string();
        Some(SseEvent::default().event("result").data(result))
    }
}

/// One thing seen of the run as an SSE event: `event: <topic>` for an
/// event, `log|token|denial` for what its watch shows, `lagged` for what a
/// slow client missed.
fn seen_sse(seen: &Seen) -> SseEvent {
    let (kind, data) = match seen {
        Seen::Event(event) => (event.topic.as_str(), serde_json::to_string(event)),
        Seen::Watched(watched) => (
            match &watched.signal {
                RunSignal::Log { .. } => "log",
                RunSignal::Token { .. } => "token",
                RunSignal::Denial(_) => "denial",
            },
            serde_json::to_string(watched),
        ),
        Seen::Lagged { of, missed } => (
            "lagged",
            Ok(json!({ "of": of, "missed": missed }).to_string()),
        ),
    };
    SseEvent::default()
        .event(kind)
        .data(data.unwrap_or_default())
}

/// A finished run as JSON: its output or error, denials and stats.
pub fn report_json(spell: &str, report: &RunReport) -> Value {
    let mut body = json!({
        "run_id": report.stats.run_id,
        "spell": spell,
        "ok": report.result.is_ok(),
        "denials": report.denials,
        "stats": report.stats,
    });
    match &report.result {
        Ok(output) => body["output"] = json!(output),
        Err(err) => {
            let mut error = json!({ "kind": super::error_kind(err), "message": err.to_string() });
            if let RunError::Limit(limit) = err {
                error["limit"] = json!(limit.name());
                error["message"] = json!(format!(
                    "{}; the server's limits for `{spell}` set it (a request may lower limits, not raise them)",
                    limit.summary()
                ));
            }
            body["error"] = error;
        }
    }
    body
}
