//! The agent bridge: `agent` and `agent-run` resources over the host-side
//! loop in [`run`].
//!
//! An [`AgentHandle`] keeps its configuration and, with `memory`, the
//! conversation across runs. `start` spawns the loop on a host task and
//! returns an [`AgentRun`]: the spell polls it for events (its own tool
//! calls, hook decisions, the result) and answers through it. Several runs
//! may be in flight at once; each is aborted when the spell drops it.

mod host;
pub mod run;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Instrument as _;

use tokio::sync::mpsc;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;

use crate::bindings::agent::{AgentConfig, AgentEvent};
use crate::bindings::llm::Message;
pub use run::{AgentEnv, Pending, SpellLink, run_agent};

/// Agent runs one instance may have in flight (not yet dropped).
pub const MAX_RUNS_IN_FLIGHT: usize = 32;

/// Per-instance agent context.
pub struct AgentCtx {
    pub env: AgentEnv,
    /// Runs started and not yet dropped.
    pub in_flight: Arc<AtomicUsize>,
}

impl AgentCtx {
    pub fn new(env: AgentEnv) -> Self {
        Self {
            env,
            in_flight: Arc::default(),
        }
    }
}

/// Counts a run in flight until it is dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An agent (the `agent` resource).
pub struct AgentHandle {
    config: Arc<AgentConfig>,
    history: Arc<Mutex<Vec<Message>>>,
}

impl AgentHandle {
    pub fn new(config: AgentConfig) -> Self {
        Self {
            config: Arc::new(config),
            history: Arc::default(),
        }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, Vec<Message>> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a run on a host task, unless `ctx` has too many in flight
    /// (then the run reports that as its result).
    pub fn start_in(&self, ctx: &AgentCtx, input: String) -> AgentRun {
        let counted = InFlight(ctx.in_flight.clone());
        if ctx.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_RUNS_IN_FLIGHT {
            let (events, rx) = mpsc::unbounded_channel();
            let _ = events.send(AgentEvent::Done(Err(crate::bindings::agent::Error::Invalid(
                format!(
                    "a spell may have {MAX_RUNS_IN_FLIGHT} agent runs in flight; wait for (and drop) some first"
                ),
            ))));
            return AgentRun {
                rx,
                ready: None,
                finished: false,
                pending: Arc::default(),
                _task: wasmtime_wasi::runtime::spawn(async {}),
                _counted: counted,
            };
        }
        self.start(ctx.env.clone(), input, counted)
    }

    /// Starts a run on a host task.
    fn start(&self, env: AgentEnv, input: String, counted: InFlight) -> AgentRun {
        let (events, rx) = mpsc::unbounded_channel();
        let link = SpellLink {
            events,
            pending: Arc::default(),
        };
        let pending = link.pending.clone();
        let config = self.config.clone();
        let history = self.history.clone();
        let start_from = if config.memory {
            self.history().clone()
        } else {
            Vec::new()
        };
        // The agent's steps are spans of the run that started it.
        let task = wasmtime_wasi::runtime::spawn(
            async move {
                let (result, conversation) =
                    run_agent(&env, &config, start_from, input, &link).await;
                if config.memory {
                    *history.lock().unwrap_or_else(|e| e.into_inner()) = conversation;
                }
                let _ = link.events.send(AgentEvent::Done(result));
            }
            .in_current_span(),
        );
        AgentRun {
            rx,
            ready: None,
            finished: false,
            pending,
            _task: task,
            _counted: counted,
        }
    }
}

/// A run in progress (the `agent-run` resource).
pub struct AgentRun {
    rx: mpsc::UnboundedReceiver<AgentEvent>,
    ready: Option<AgentEvent>,
    finished: bool,
    pending: Arc<Mutex<Pending>>,
    _task: AbortOnDropJoinHandle<()>,
    _counted: InFlight,
}

impl AgentRun {
    /// The next event if there is one; after `done`, nothing.
    pub fn next_event(&mut self) -> Option<AgentEvent> {
        if self.ready.is_none() && !self.finished {
            self.ready = match self.rx.try_recv() {
                Ok(event) => Some(event),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => Some(ended_without_result()),
            };
        }
        let event = self.ready.take();
        if matches!(event, Some(AgentEvent::Done(_))) {
            self.finished = true;
        }
        event
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers a `call-tool` event; unknown ids are ignored.
    pub fn reply_tool(&self, call_id: &str, output: Result<String, String>) {
        if let Some(tx) = self.pending().tools.remove(call_id) {
            let _ = tx.send(output);
        }
    }

    /// Answers a `hook` event; unknown ids are ignored.
    pub fn decide(&self, hook_id: u64, decision: crate::bindings::hooks::Decision) {
        if let Some(tx) = self.pending().hooks.remove(&hook_id) {
            let _ = tx.send(decision);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for AgentRun {
    async fn ready(&mut self) {
        if self.ready.is_none() && !self.finished {
            match self.rx.recv().await {
                Some(event) => self.ready = Some(event),
                None => self.ready = Some(ended_without_result()),
            }
        }
    }
}

/// The `done` a run reports if its task ended without one (a host bug):
/// the spell must never wait forever.
fn ended_without_result() -> AgentEvent {
    AgentEvent::Done(Err(crate::bindings::agent::Error::Invalid(
        "the agent run ended without a result (a host error; see the host's log)".into(),
    )))
}

/// What the generated `agent` traits are implemented on.
pub struct AgentView<'a> {
    pub ctx: &'a mut AgentCtx,
    pub table: &'a mut ResourceTable,
}

struct AgentBridge;

impl HasData for AgentBridge {
    type Data<'a> = AgentView<'a>;
}

/// Wires `spellhost:spell/agent` (and the types-only `hooks`) into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> AgentView<'_>,
) -> wasmtime::Result<()> {
    crate::bindings::agent::add_to_linker::<T, AgentBridge>(linker, view)?;
    crate::bindings::hooks::add_to_linker::<T, AgentBridge>(linker, view)
}
