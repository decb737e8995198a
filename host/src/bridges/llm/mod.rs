//! The LLM bridge: routes a spell's chat, stream and embedding requests to
//! providers, enforces the model allow-list, meters usage, and exposes
//! in-flight requests and streams as `wasi:io` pollables.

pub mod anthropic;
pub mod catalog;
pub mod gemini;
pub mod hook_json;
mod host;
pub mod http;
pub mod local;
pub mod meter;
pub mod openai;
pub mod provider;
pub mod replay;
pub mod router;
pub mod sse;
pub mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::Instrument as _;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;

pub use catalog::{ModelCatalog, ModelSpec};
pub use meter::{Budget, CallRecord, UsageMeter, UsageTotals};
pub use provider::{ChatRequest, ChatResponse, EventStream, LlmError, LlmProvider, StreamEvent};
pub use router::{ModelPolicy, ModelRouter, Route};

use crate::bindings::hooks::HookPoint;
use crate::bridges::event::EventBus;
use crate::bridges::hooks::{HookOutcome, HookSet};
use crate::bridges::pending::Pending;
use crate::bridges::run::{RunCtx, RunSignal};
use crate::limits::{Held, RunMemory};
use crate::policy::audit::Recorder;

/// How a call cancelled by a hook is described: the WIT `llm.error` has
/// no case of its own for it, so it is a `denied` with this prefix.
pub const HOOK_CANCELLED: &str = "cancelled by a hook: ";

/// The hook's reason, if `err` is a hook's cancellation.
pub fn hook_cancellation(err: &LlmError) -> Option<&str> {
    match err {
        LlmError::Denied(message) => message.strip_prefix(HOOK_CANCELLED),
        _ => None,
    }
}

/// Per-instance LLM context; clones share its meter and policy (agents
/// and workflows take one into their tasks).
#[derive(Clone)]
pub struct LlmCtx {
    pub router: Arc<ModelRouter>,
    /// What each model accepts (output limits, capabilities, prices).
    pub catalog: Arc<ModelCatalog>,
    pub policy: Arc<ModelPolicy>,
    pub meter: Arc<UsageMeter>,
    pub events: EventBus,
    /// The run the calls belong to.
    pub run: RunCtx,
    pub recorder: Recorder,
    /// Hook plugins that see every LLM call.
    pub hooks: HookSet,
    /// Where streamed answers wait for the spell to read them.
    pub memory: RunMemory,
}

impl LlmCtx {
    /// Resolves a model name and checks the spell may use it.
    pub fn route(&self, requested: Option<&str>) -> Result<Call, LlmError> {
        let route = self.router.resolve(requested)?;
        let checked = self
            .policy
            .check(&route.id, self.router.default_model().as_deref());
        if let Err(LlmError::Denied(message)) = checked {
            return Err(LlmError::Denied(self.recorder.denied(
                "llm",
                "use-model",
                &route.id,
                &message,
                Some(crate::policy::Grant::Model(route.id.clone())),
            )));
        }
        checked?;
        self.recorder.allowed("llm", "use-model", &route.id, None);
        let span = tracing::info_span!(
            target: crate::telemetry::TARGET,
            "llm.call",
            run_id = %self.run.run_id(),
            gen_ai.system = route.provider.id(),
            gen_ai.request.model = %route.id,
            kind = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        Ok(Call {
            span,
            spec: self.catalog.get(&route.id),
            route,
            meter: self.meter.clone(),
            events: self.events.clone(),
            run: self.run.clone(),
            hooks: self.hooks.clone(),
            reserved: AtomicU32::new(0),
        })
    }
}

/// One routed request with what it needs to account for itself; cheap to
/// move into a background task.
pub struct Call {
    /// The call's span: open from routing until the answer is complete.
    pub span: tracing::Span,
    pub route: Route,
    /// The model's catalog entry, if the catalog knows it.
    pub spec: Option<ModelSpec>,
    meter: Arc<UsageMeter>,
    events: EventBus,
    run: RunCtx,
    hooks: HookSet,
    /// Output tokens reserved by `admit`, released when the call finishes
    /// or is dropped (a stream the spell let go of).
    reserved: AtomicU32,
}

impl Drop for Call {
    fn drop(&mut self) {
        self.release();
    }
}

impl Call {
    /// Shapes the request to what the model accepts (`catalog::shape`),
    /// checks the run's budget, decides the output limit sent, and reserves
    /// it until the call finishes.
    pub async fn admit(&mut self, request: &mut ChatRequest) -> Result<(), LlmError> {
        let shaped = catalog::shape_request(&self.route.id, self.spec.as_ref(), request)?;
        for warning in &shaped.warnings {
            tracing::warn!(spell = %self.run.spell(), run_id = %self.run.run_id(), "{warning}");
        }
        let required = self.route.provider.requires_output_limit();
        let mut wanted_shape = shaped.clone();
        if required && wanted_shape.wanted.is_none() {
            wanted_shape.wanted = Some(catalog::shape::DEFAULT_REQUIRED_OUTPUT);
        }
        let reservation = self
            .meter
            .admit_reserving(&self.route.id, wanted_shape.wanted)
            .await?;
        if let Some(reservation) = reservation {
            self.reserved.fetch_add(reservation.held, Ordering::Relaxed);
        }
        let limit =
            catalog::OutputLimit::decide(&wanted_shape, reservation.map(|r| r.granted), required);
        request.options.max_tokens = limit.tokens();
        Ok(())
    }

    /// Gives back what `admit` reserved (once).
    fn release(&self) {
        let held = self.reserved.swap(0, Ordering::Relaxed);
        if held > 0 {
            self.meter.release(held);
        }
    }

    pub async fn chat(self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let span = self.span.clone();
        self.chat_in_span(request).instrument(span).await
    }

    async fn chat_in_span(mut self, mut request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        self.before_hooks(&mut request).await?;
        if let Err(err) = self.admit(&mut request).await {
            self.finished("chat", started, Err(&err));
            return Err(err);
        }
        let result = self.route.provider.chat(&self.route.model, &request).await;
        let result = result.map(|mut response| {
            response.model = self.qualify(&response.model);
            response
        });
        self.finished("chat", started, result.as_ref().map(|r| &r.usage));
        let mut response = result?;
        self.after_hooks(&mut response).await?;
        Ok(response)
    }

    /// Whether hook plugins watch this call.
    pub fn has_hooks(&self) -> bool {
        !self.hooks.is_empty()
    }

    /// Lets hook plugins see and change (or cancel) a request.
    pub async fn before_hooks(&self, request: &mut ChatRequest) -> Result<(), LlmError> {
        if self.hooks.is_empty() {
            return Ok(());
        }
        let payload = hook_json::request_to_json(request);
        match self
            .hooks
            .run(HookPoint::BeforeLlm, payload.clone(), &self.run)
            .await
        {
            // Unchanged: keep the request as it is (images and all).
            HookOutcome::Proceed(value) if value == payload => Ok(()),
            HookOutcome::Proceed(value) => {
                hook_json::apply_request_json(request, &value).map_err(|why| {
                    LlmError::InvalidRequest(format!("a hook changed the request: {why}"))
                })
            }
            HookOutcome::Cancel(reason) => {
                Err(LlmError::Denied(format!("{HOOK_CANCELLED}{reason}")))
            }
        }
    }

    /// Lets hook plugins see and change (or cancel) a response.
    pub async fn after_hooks(&self, response: &mut ChatResponse) -> Result<(), LlmError> {
        if self.hooks.is_empty() {
            return Ok(());
        }
        let payload = hook_json::response_to_json(response);
        match self
            .hooks
            .run(HookPoint::AfterLlm, payload, &self.run)
            .await
        {
            HookOutcome::Proceed(value) => {
                hook_json::apply_response_json(response, &value);
                Ok(())
            }
            HookOutcome::Cancel(reason) => {
                Err(LlmError::Denied(format!("{HOOK_CANCELLED}{reason}")))
            }
        }
    }

    /// Records a finished call: usage, and a `spellhost.llm.completed` event.
    fn finished(&self, kind: &str, started: Instant, outcome: Result<&provider::Usage, &LlmError>) {
        let elapsed_ms = started.elapsed().as_millis() as u64;
        self.meter.record(&self.route.id, kind, elapsed_ms, outcome);
        self.span.record("kind", kind);
        match outcome {
            Ok(usage) => {
                self.span
                    .record("gen_ai.usage.input_tokens", usage.input_tokens);
                self.span
                    .record("gen_ai.usage.output_tokens", usage.output_tokens);
            }
            Err(err) => {
                self.span.record("error", err.describe());
            }
        }
        self.release();
        let mut payload = serde_json::json!({
            "kind": kind,
            "model": self.route.id,
            "elapsed_ms": elapsed_ms,
        });
        match outcome {
            Ok(usage) => {
                payload["input_tokens"] = usage.input_tokens.into();
                payload["output_tokens"] = usage.output_tokens.into();
            }
            Err(err) => payload["error"] = err.describe().into(),
        }
        self.run
            .publish(&self.events, "spellhost.llm.completed", payload);
    }

    /// `provider/model` for a provider-local model name.
    fn qualify(&self, model: &str) -> String {
        let provider = self.route.provider.id();
        if model.starts_with(&format!("{provider}/")) {
            model.to_owned()
        } else {
            format!("{provider}/{model}")
        }
    }
}

/// What the generated `llm` traits are implemented on.
pub struct LlmView<'a> {
    pub ctx: &'a mut LlmCtx,
    pub table: &'a mut ResourceTable,
}

struct LlmBridge;

impl HasData for LlmBridge {
    type Data<'a> = LlmView<'a>;
}

/// Wires `spellhost:spell/llm` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> LlmView<'_>,
) -> wasmtime::Result<()> {
    crate::bindings::llm::add_to_linker::<T, LlmBridge>(linker, view)
}

/// A chat request running on a host task (the `pending-chat` resource).
pub struct PendingChat(Pending<Result<ChatResponse, LlmError>>);

impl PendingChat {
    pub fn spawn(call: Call, request: ChatRequest) -> Self {
        Self(Pending::spawn(call.chat(request)))
    }

    pub fn failed(error: LlmError) -> Self {
        Self(Pending::ready(Err(error)))
    }

    /// The result if it has arrived; `None` while in flight.
    pub fn take(&mut self) -> Option<Result<ChatResponse, LlmError>> {
        self.0.take(|| {
            Err(LlmError::InvalidRequest(
                "the result of this pending-chat was already taken".into(),
            ))
        })
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for PendingChat {
    async fn ready(&mut self) {
        self.0.ready_wait().await
    }
}

/// A streamed answer (the `chat-stream` resource): a host task pumps the
/// provider's stream into a channel; one event of look-ahead makes it
/// pollable.
///
/// The channel is unbounded so the pump always reaches the end of the
/// answer and gives back the call's budget hold, even while the spell is
/// not reading (it may be waiting for another call that needs that budget).
/// What it buffers is one answer, and what the spell has not read of it
/// counts against the run's memory: an answer that does not fit ends the
/// stream with `budget-exceeded`.
pub struct ChatStream {
    rx: mpsc::UnboundedReceiver<Buffered>,
    peeked: Option<Option<Buffered>>,
    over: bool,
    _pump: AbortOnDropJoinHandle<()>,
}

/// A stream event waiting for the spell, and the run memory it holds
/// until the spell reads it.
type Buffered = (Result<StreamEvent, LlmError>, Option<Held>);

impl ChatStream {
    /// Starts pumping `events` (already connected) for `call`; text the
    /// spell has not read yet counts against `memory`.
    pub fn spawn(call: Call, mut events: EventStream, started: Instant, memory: RunMemory) -> Self {
        use futures::StreamExt as _;
        let (tx, rx) = mpsc::unbounded_channel();
        let span = call.span.clone();
        let pump = wasmtime_wasi::runtime::spawn(
            async move {
                while let Some(item) = events.next().await {
                    let last = match &item {
                        Ok(StreamEvent::Finish(end)) => {
                            call.finished("stream", started, Ok(&end.usage));
                            true
                        }
                        Err(err) => {
                            call.finished("stream", started, Err(err));
                            true
                        }
                        Ok(_) => false,
                    };
                    let item = item.map(|event| match event {
                        StreamEvent::Finish(mut end) => {
                            end.model = call.qualify(&end.model);
                            StreamEvent::Finish(end)
                        }
                        other => other,
                    });
                    // What the spell has not read yet counts against the
                    // run's memory; the end of the answer always gets through.
                    let size = match &item {
                        Ok(StreamEvent::Text(text)) => Some(text.len()),
                        Ok(StreamEvent::ToolCall(c)) => Some(c.arguments_json.len() + c.name.len()),
                        _ => None,
                    };
                    let held = match size.map(|size| memory.hold(size as u64 + 64)) {
                        None => None,
                        Some(Ok(held)) => Some(held),
                        Some(Err(_)) => {
                            let err = LlmError::BudgetExceeded(memory.no_room(
                                "the unread part of this streamed answer",
                                "read the stream as it arrives",
                            ));
                            call.finished("stream", started, Err(&err));
                            let _ = tx.send((Err(err), None));
                            return;
                        }
                    };
                    if let Ok(StreamEvent::Text(text)) = &item {
                        call.run.signal(|| RunSignal::Token {
                            model: call.route.id.clone(),
                            text: text.clone(),
                        });
                    }
                    if tx.send((item, held)).is_err() || last {
                        return;
                    }
                }
            }
            .instrument(span),
        );
        Self {
            rx,
            peeked: None,
            over: false,
            _pump: pump,
        }
    }

    /// A stream of an answer that is already complete (accounted for by
    /// `Call::chat`): used when hook plugins must see the whole answer
    /// before the spell sees any of it.
    pub fn whole(response: ChatResponse) -> Self {
        let mut events = Vec::new();
        if !response.text.is_empty() {
            events.push(Ok(StreamEvent::Text(response.text)));
        }
        events.extend(
            response
                .tool_calls
                .into_iter()
                .map(|c| Ok(StreamEvent::ToolCall(c))),
        );
        events.push(Ok(StreamEvent::Finish(provider::StreamEnd {
            finish_reason: response.finish_reason,
            usage: response.usage,
            model: response.model,
        })));
        let (tx, rx) = mpsc::unbounded_channel();
        for event in events {
            let _ = tx.send((event, None));
        }
        Self {
            rx,
            peeked: None,
            over: false,
            _pump: wasmtime_wasi::runtime::spawn(async {}),
        }
    }

    fn accept(&mut self, item: Option<Buffered>) -> Result<Option<StreamEvent>, LlmError> {
        if self.over {
            return Ok(None);
        }
        // The spell has the event now: what it held goes back to the run.
        match item.map(|(event, _held)| event) {
            Some(Ok(event)) => {
                self.over = matches!(event, StreamEvent::Finish(_));
                Ok(Some(event))
            }
            Some(Err(err)) => {
                self.over = true;
                Err(err)
            }
            None => {
                self.over = true;
                Err(LlmError::Unavailable(
                    "the stream ended before the answer was complete".into(),
                ))
            }
        }
    }

    /// The next event without waiting; `Ok(None)` when nothing is buffered
    /// or the stream is over.
    pub fn try_next(&mut self) -> Result<Option<StreamEvent>, LlmError> {
        if self.over {
            return Ok(None);
        }
        let item = match self.peeked.take() {
            Some(item) => item,
            None => match self.rx.try_recv() {
                Ok(item) => Some(item),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            },
        };
        self.accept(item)
    }

    /// Waits for the next event; `Ok(None)` once the stream is over.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, LlmError> {
        if self.over {
            return Ok(None);
        }
        let item = match self.peeked.take() {
            Some(item) => item,
            None => self.rx.recv().await,
        };
        self.accept(item)
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for ChatStream {
    async fn ready(&mut self) {
        if self.over || self.peeked.is_some() {
            return;
        }
        self.peeked = Some(self.rx.recv().await);
    }
}
