//! `spellhost serve` in front of the run queue (`[queue] url` in its
//! configuration): a run request is authenticated, checked and admitted as
//! ever, then queued for `spellhost worker`s instead of run here. The
//! worker runs it as the caller's tenant, with the request's vars and
//! lowered limits, and the answer is the worker's result:
//!
//! - a plain request waits for it (the spell's timeout, plus
//!   [`QUEUE_WAIT`] for a worker to take it) — past that it answers `202`
//!   as below;
//! - with `Prefer: respond-async` it answers `202 Accepted` at once, with
//!   the run id and `Location: /v1/runs/{id}`;
//! - with `Accept: text/event-stream` it streams the run's events as they
//!   reach this process (all of them when `[events] url` links the
//!   processes), then the result.
//!
//! `GET /v1/runs/{id}?wait=30s` answers a queued run's result (to its
//! tenant only), waiting up to `wait` for it. A queued run belongs to the
//! queue: a client that goes away does not cancel it.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::{PendingRun, Server};
use crate::policy::manifest::ManifestLimits;
use crate::queue::{Job, RunQueue};

/// How long a plain request waits for a worker to take its run, beyond the
/// spell's own timeout.
pub const QUEUE_WAIT: Duration = Duration::from_secs(60);

/// How long a stream waits, after the result, for the run's last event to
/// come through `[events] url`.
const EVENTS_GRACE: Duration = Duration::from_secs(2);

/// The longest `GET /v1/runs/{id}?wait=` waits.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// Queues an admitted run and answers as the module docs say.
pub async fn enqueue(
    server: Arc<Server>,
    queue: Arc<dyn RunQueue>,
    mut pending: PendingRun,
    vars: std::collections::BTreeMap<String, String>,
    limits: ManifestLimits,
    headers: &HeaderMap,
) -> Response {
    let mut job = Job::new(&pending.name, pending.input.clone());
    job.run_id = pending.run.run_id().to_owned();
    job.tenant = Some(pending.tenant().to_owned());
    job.vars = vars;
    job.limits = (limits != ManifestLimits::default()).then_some(limits);
    let span = tracing::info_span!(
        target: crate::telemetry::TARGET,
        "submit",
        run_id = %job.run_id,
        spell = %job.spell,
        tenant = pending.tenant(),
    );
    job.traceparent = crate::telemetry::traceparent(&span);
    let follow = wants_stream(headers).then(|| pending.follow());
    if let Err(err) = queue.submit(&job).instrument(span.clone()).await {
        server.metrics.rejected("queue-unavailable");
        return unavailable(&err, "the run was not queued; try again");
    }
    let within = pending.limits.timeout + QUEUE_WAIT;
    if let Some(follow) = follow {
        let run_id = job.run_id.clone();
        let linked = pending.bus().is_linked();
        let mut events = pending.bus().receiver();
        let task = wasmtime_wasi::runtime::spawn(
            async move {
                // The admission is held while the run goes on elsewhere.
                let _pending = pending;
                match queue.result(&run_id, within).await {
                    Ok(Some(result)) => {
                        // The result and the run's events travel apart:
                        // its last event may come a moment after it.
                        if linked {
                            let finished = async {
                                while let Ok(event) = events.recv().await {
                                    if event.topic == "spellhost.run.finished"
                                        && event.run_id.as_deref() == Some(run_id.as_str())
                                    {
                                        return;
                                    }
                                }
                            };
                            let _ = tokio::time::timeout(EVENTS_GRACE, finished).await;
                        }
                        result
                    }
                    Ok(None) => accepted_body(&run_id),
                    Err(err) => {
                        tracing::warn!(run_id = %run_id, "{err}");
                        json!({
                            "run_id": run_id, "ok": false,
                            "error": {
                                "kind": "queue-unavailable",
                                "message": format!("the run queue is unavailable; the run may still finish: GET /v1/runs/{run_id}"),
                            },
                        })
                    }
                }
            }
            .instrument(span),
        );
        return super::app::sse(follow, task);
    }
    if prefers_async(headers) {
        return accepted(&job.run_id);
    }
    let waited = queue.result(&job.run_id, within).instrument(span).await;
    drop(pending);
    match waited {
        Ok(Some(result)) => Json(result).into_response(),
        Ok(None) => accepted(&job.run_id),
        Err(err) => unavailable(
            &err,
            &format!(
                "run {} was queued and may still finish: GET /v1/runs/{}",
                job.run_id, job.run_id
            ),
        ),
    }
}

/// `503`: the queue failed. The caller learns what to do; the details
/// (which name the server's settings) go to the server's log.
fn unavailable(err: &crate::queue::QueueError, what_now: &str) -> Response {
    tracing::warn!("{err}");
    super::app::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "queue-unavailable",
        format!("the run queue is unavailable; {what_now}"),
    )
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("respond-async"))
}

fn accepted_body(run_id: &str) -> Value {
    json!({
        "run_id": run_id,
        "status": "queued",
        "result": format!("/v1/runs/{run_id}"),
    })
}

/// `202 Accepted`: where the result will be.
fn accepted(run_id: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/v1/runs/{run_id}"))],
        Json(accepted_body(run_id)),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
pub struct ResultQuery {
    /// How long to wait for the result (`30s`); at once by default.
    wait: Option<String>,
}

/// `GET /v1/runs/{id}`: a queued run's result, to its own tenant.
pub async fn run_result(
    State(server): State<Arc<Server>>,
    Path(run_id): Path<String>,
    Query(query): Query<ResultQuery>,
    headers: HeaderMap,
) -> Response {
    let tenant = match server.authenticate(super::app::authorization(&headers)) {
        Ok(tenant) => tenant,
        Err(refused) => return super::app::refusal(&server, refused),
    };
    let Some(queue) = server.queue() else {
        return super::app::error(
            StatusCode::NOT_FOUND,
            "no-queue",
            "this server runs spells itself: a run's result is the answer to its request \
             (results are kept when [queue] url sends runs to workers)",
        );
    };
    let well_formed = !run_id.is_empty()
        && run_id.len() <= 64
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !well_formed {
        return super::app::error(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("`{run_id}` is not a run id"),
        );
    }
    let wait = match query.wait.as_deref().map(humantime::parse_duration) {
        None => Duration::ZERO,
        Some(Ok(wait)) => wait.min(MAX_WAIT),
        Some(Err(err)) => {
            return super::app::error(
                StatusCode::BAD_REQUEST,
                "bad-request",
                format!("wait: {err} (e.g. ?wait=30s)"),
            );
        }
    };
    match queue.result(&run_id, wait).await {
        Ok(Some(result)) if result["tenant"] == json!(tenant.name) => Json(result).into_response(),
        Ok(_) => super::app::error(
            StatusCode::NOT_FOUND,
            "unknown-run",
            format!(
                "no result for run {run_id}: it is queued or running, or it is not one of yours \
                 (results are kept a week)"
            ),
        ),
        Err(err) => unavailable(&err, "try again"),
    }
}
