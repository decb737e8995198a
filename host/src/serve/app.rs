//! The HTTP API (see `docs/serve.md`):
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | `ok` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /v1/spells` | the spells: name, description, grants, input schema |
//! | `POST /v1/spells/{name}/runs` | run one: `{input, vars, limits}` → the result; with `Accept: text/event-stream`, the run's events as SSE, then the result |
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

use super::{Refusal, RequestError, Server};
use crate::runtime::{RunError, RunReport};

/// The server's routes.
pub fn router(server: Arc<Server>) -> Router {
    let max_body = server.options().max_body;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/spells", get(list_spells))
        .route("/v1/spells/{name}/runs", post(run_spell))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(server)
}

/// A request turned away: status and `{"error": {kind, message}}`.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": { "kind": kind, "message": message.into() } });
    (status, axum::Json(body)).into_response()
}

/// Counts a refusal and renders it.
fn refusal(server: &Server, refused: Refusal) -> Response {
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

fn authorization(headers: &HeaderMap) -> Option<&str> {
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

/// Runs while streaming the run's events as SSE (`event: <topic>`), then
/// `event: result` with what a plain request answers. The run is a task the
/// stream owns: a client that goes away cancels it.
fn stream_run(server: Arc<Server>, pending: super::PendingRun) -> Response {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    let run_id = pending.run.run_id().to_owned();
    let name = pending.name.clone();
    // Subscribed before the run starts, so no event of it is missed.
    let events = pending.bus().receiver();
    let task = wasmtime_wasi::runtime::spawn(async move {
        let report = server.execute(pending).await;
        report_json(&name, &report)
    });
    // The run's events and those of the spells it runs as workflow steps
    // (each names its parent run when it starts).
    let family = std::sync::Mutex::new(std::collections::HashSet::from([run_id]));
    let ours = move |event: &crate::bridges::event::Event| {
        let mut family = family.lock().unwrap_or_else(|e| e.into_inner());
        let Some(id) = event.run_id.as_deref() else {
            return false;
        };
        if family.contains(id) {
            return true;
        }
        let parent = event.payload.get("parent_run_id").and_then(Value::as_str);
        if parent.is_some_and(|p| family.contains(p)) {
            family.insert(id.to_owned());
            return true;
        }
        false
    };
    let to_sse = |event: &crate::bridges::event::Event| {
        SseEvent::default()
            .event(event.topic.clone())
            .data(serde_json::to_string(event).unwrap_or_default())
    };
    let lagged = |missed: u64| {
        SseEvent::default()
            .event("lagged")
            .data(json!({ "missed": missed }).to_string())
    };
    struct Pump<F> {
        events: tokio::sync::broadcast::Receiver<Arc<crate::bridges::event::Event>>,
        task: Option<wasmtime_wasi::runtime::AbortOnDropJoinHandle<Value>>,
        result: Option<Value>,
        ours: F,
    }
    let pump = Pump {
        events,
        task: Some(task),
        result: None,
        ours,
    };
    let stream = futures::stream::unfold(pump, move |mut pump| async move {
        loop {
            if let Some(result) = pump.result.take() {
                // The run is over: what it published is already queued.
                match pump.events.try_recv() {
                    Ok(event) if (pump.ours)(&event) => {
                        pump.result = Some(result);
                        return Some((Ok::<_, Infallible>(to_sse(&event)), pump));
                    }
                    Ok(_) => pump.result = Some(result),
                    Err(TryRecvError::Lagged(missed)) => {
                        pump.result = Some(result);
                        return Some((Ok(lagged(missed)), pump));
                    }
                    Err(_) => {
                        let last = SseEvent::default().event("result").data(result.to_string());
                        return Some((Ok(last), pump));
                    }
                }
                continue;
            }
            let task = pump.task.as_mut()?;
            tokio::select! {
                received = pump.events.recv() => match received {
                    Ok(event) if (pump.ours)(&event) => return Some((Ok(to_sse(&event)), pump)),
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => return Some((Ok(lagged(missed)), pump)),
                    Err(RecvError::Closed) => {
                        let result = pump.task.take()?.await;
                        pump.result = Some(result);
                    }
                },
                result = task => {
                    pump.task = None;
                    pump.result = Some(result);
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response()
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
