//! The tool bridge: the tools a spell and its agents may call.
//!
//! Lifetimes, as for the other bridges:
//! - [`ToolCatalog`] (once per spell): the built-in tools of
//!   `spellhost-tools` and the tool plugins loaded for the spell;
//! - [`ToolCtx`] (once per instance): the catalogue, the tools the spell
//!   registered itself, and what a tool call may use — the spell's file and
//!   network grants, its private state for the `memory` tool — plus hooks,
//!   events and the audit trail. Cheap to clone into agent tasks.
//!
//! Every call is checked in the same order: the tool exists, the arguments
//! match its schema, `before-tool` hooks agree; then it runs, within the
//! grants, and `after-tool` hooks see the result. Each call publishes a
//! `spellhost.tool.called` event.

mod adapters;
mod host;
pub mod plugin;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument as _;

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::bindings::hooks::HookPoint;
use crate::bindings::tool::{Error as WitToolError, ToolInfo};
use crate::bridges::event::EventBus;
use crate::bridges::hooks::{HookOutcome, HookSet};
use crate::bridges::pending::Pending;
use crate::bridges::run::RunCtx;
use crate::limits::{Held, RunMemory};
use crate::policy::audit::Recorder;
pub use adapters::{NetFetcher, StateMemory};
pub use plugin::ToolPlugin;
pub use spellhost_tools::{FileGrants, ToolContext};

/// What provides a tool.
#[derive(Clone)]
pub enum Provider {
    /// Built into the host (`spellhost-tools`).
    Builtin(Arc<dyn spellhost_tools::Tool>),
    /// A tool plugin component.
    Plugin(Arc<ToolPlugin>),
    /// The spell itself (`tool.register`); only agents call these, through
    /// the agent run.
    Spell,
}

impl Provider {
    /// `builtin`, `plugin:<name>` or `spell`.
    pub fn label(&self) -> String {
        match self {
            Provider::Builtin(_) => "builtin".into(),
            Provider::Plugin(plugin) => format!("plugin:{}", plugin.name()),
            Provider::Spell => "spell".into(),
        }
    }
}

/// A tool and what provides it.
#[derive(Clone)]
pub struct ToolEntry {
    pub info: ToolInfo,
    /// The parsed `info.parameters_schema`.
    pub schema: Arc<Value>,
    pub provider: Provider,
}

/// Why a tool call failed (the tools crate's error, with the host's
/// `Cancelled`); becomes the WIT `tool.error`.
pub use spellhost_tools::ToolError as ToolCallError;

impl From<ToolCallError> for WitToolError {
    fn from(err: ToolCallError) -> Self {
        match err {
            ToolCallError::NotFound(m) => WitToolError::NotFound(format!("unknown tool `{m}`")),
            ToolCallError::InvalidArguments(m) => WitToolError::InvalidArguments(m),
            ToolCallError::Denied(m) => WitToolError::Denied(m),
            ToolCallError::Failed(m) => WitToolError::Failed(m),
            ToolCallError::Cancelled(m) => WitToolError::Cancelled(m),
        }
    }
}

/// The tools fixed when a spell is loaded.
#[derive(Clone, Default)]
pub struct ToolCatalog {
    entries: BTreeMap<String, ToolEntry>,
}

impl ToolCatalog {
    /// The built-in tools.
    pub fn builtins() -> Self {
        let mut catalog = Self::default();
        for tool in spellhost_tools::builtins() {
            let info = tool.info();
            catalog.entries.insert(
                info.name.clone(),
                ToolEntry {
                    info: ToolInfo {
                        name: info.name,
                        description: info.description,
                        parameters_schema: info.parameters.to_string(),
                    },
                    schema: Arc::new(info.parameters),
                    provider: Provider::Builtin(tool),
                },
            );
        }
        catalog
    }

    /// Adds a plugin's tools; a name already taken is an error naming both.
    pub fn add_plugin(&mut self, plugin: Arc<ToolPlugin>) -> anyhow::Result<()> {
        for info in plugin.tools() {
            if let Some(existing) = self.entries.get(&info.name) {
                anyhow::bail!(
                    "tool plugin {} provides `{}`, which {} already provides",
                    plugin.name(),
                    info.name,
                    existing.provider.label()
                );
            }
            let schema = parse_schema(&info.parameters_schema).map_err(|e| {
                anyhow::anyhow!("tool plugin {}: tool `{}`: {e}", plugin.name(), info.name)
            })?;
            self.entries.insert(
                info.name.clone(),
                ToolEntry {
                    info: info.clone(),
                    schema: Arc::new(schema),
                    provider: Provider::Plugin(plugin.clone()),
                },
            );
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// Per-instance tool state. Clones share it.
#[derive(Clone)]
pub struct ToolCtx {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Arc<ToolCatalog>,
    /// Bounds the calls a spell has started and not collected.
    in_flight: Arc<Semaphore>,
    registered: Mutex<BTreeMap<String, ToolEntry>>,
    context: ToolContext,
    hooks: HookSet,
    events: EventBus,
    recorder: Recorder,
    run: RunCtx,
    /// Where finished results wait to be collected.
    memory: RunMemory,
}

impl ToolCtx {
    pub fn new(
        catalog: Arc<ToolCatalog>,
        context: ToolContext,
        hooks: HookSet,
        events: EventBus,
        recorder: Recorder,
        run: RunCtx,
        memory: RunMemory,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                catalog,
                in_flight: Arc::new(Semaphore::new(MAX_CALLS_IN_FLIGHT)),
                registered: Mutex::default(),
                context,
                hooks,
                events,
                recorder,
                run,
                memory,
            }),
        }
    }

    pub fn hooks(&self) -> &HookSet {
        &self.inner.hooks
    }

    /// A tool by name: the spell's own first, then the catalogue.
    pub fn lookup(&self, name: &str) -> Option<ToolEntry> {
        let registered = self.registered();
        registered
            .get(name)
            .cloned()
            .or_else(|| self.inner.catalog.get(name).cloned())
    }

    /// Every tool the spell can see.
    pub fn list(&self) -> Vec<ToolEntry> {
        let mut all: BTreeMap<String, ToolEntry> = self.inner.catalog.entries.clone();
        all.extend(self.registered().clone());
        all.into_values().collect()
    }

    /// Adds one of the spell's functions as a tool.
    pub fn register(&self, info: ToolInfo) -> Result<(), ToolCallError> {
        check_name(&info.name)?;
        let schema =
            parse_schema(&info.parameters_schema).map_err(ToolCallError::InvalidArguments)?;
        if self.inner.catalog.get(&info.name).is_some() {
            return Err(ToolCallError::InvalidArguments(format!(
                "a tool named `{}` already exists; pick another name",
                info.name
            )));
        }
        self.registered().insert(
            info.name.clone(),
            ToolEntry {
                info,
                schema: Arc::new(schema),
                provider: Provider::Spell,
            },
        );
        Ok(())
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ToolEntry>> {
        self.inner
            .registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a call before it runs: the arguments parse and match the
    /// schema, and `before-tool` hooks agree (possibly changing them).
    pub async fn prepare(
        &self,
        entry: &ToolEntry,
        arguments: Value,
    ) -> Result<Value, ToolCallError> {
        // Models often send `null` for a tool that takes no arguments.
        let arguments = if arguments.is_null() {
            Value::Object(Default::default())
        } else {
            arguments
        };
        spellhost_tools::validate(&entry.schema, &arguments).map_err(|why| {
            ToolCallError::InvalidArguments(format!("tool `{}`: {why}", entry.info.name))
        })?;
        let payload = json!({ "name": entry.info.name, "arguments": arguments });
        match self
            .inner
            .hooks
            .run(HookPoint::BeforeTool, payload, &self.inner.run)
            .await
        {
            HookOutcome::Proceed(payload) => {
                let arguments = payload.get("arguments").cloned().unwrap_or(Value::Null);
                spellhost_tools::validate(&entry.schema, &arguments).map_err(|why| {
                    ToolCallError::InvalidArguments(format!(
                        "tool `{}` (arguments changed by a hook): {why}",
                        entry.info.name
                    ))
                })?;
                Ok(arguments)
            }
            HookOutcome::Cancel(reason) => Err(ToolCallError::Cancelled(reason)),
        }
    }

    /// Lets `after-tool` hooks see (and change) a result, and records it.
    pub async fn finish(
        &self,
        name: &str,
        arguments: &Value,
        output: Result<Value, ToolCallError>,
        started: Instant,
    ) -> Result<Value, ToolCallError> {
        let output = match output {
            Ok(value) => {
                let payload = json!({ "name": name, "arguments": arguments, "output": value });
                match self
                    .inner
                    .hooks
                    .run(HookPoint::AfterTool, payload, &self.inner.run)
                    .await
                {
                    HookOutcome::Proceed(payload) => {
                        Ok(payload.get("output").cloned().unwrap_or(value))
                    }
                    HookOutcome::Cancel(reason) => Err(ToolCallError::Cancelled(reason)),
                }
            }
            Err(err) => Err(err),
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        match &output {
            Ok(_) => self.inner.recorder.allowed("tool", "call", name, None),
            Err(ToolCallError::Denied(message)) => {
                self.inner
                    .recorder
                    .denied("tool", "call", name, message, None);
            }
            Err(_) => {}
        }
        self.inner.run.publish(
            &self.inner.events,
            "spellhost.tool.called",
            json!({
                "tool": name,
                "ok": output.is_ok(),
                "error": output.as_ref().err().map(ToString::to_string),
                "elapsed_ms": elapsed_ms,
            }),
        );
        output
    }

    /// Calls a host-side tool (built-in or plugin) by name, with every
    /// check. The spell's own tools are not callable here.
    pub async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolCallError> {
        let span = self.span(name);
        let result = self
            .call_in_span(name, arguments)
            .instrument(span.clone())
            .await;
        if let Err(err) = &result {
            span.record("error", err.to_string());
        }
        result
    }

    /// The span of a call to `name` (`error` recorded by the caller).
    pub fn span(&self, name: &str) -> tracing::Span {
        tracing::info_span!(
            target: crate::telemetry::TARGET,
            "tool.call",
            run_id = %self.inner.run.run_id(),
            tool = name,
            error = tracing::field::Empty,
        )
    }

    async fn call_in_span(&self, name: &str, arguments: Value) -> Result<Value, ToolCallError> {
        let started = Instant::now();
        let Some(entry) = self.lookup(name) else {
            return Err(ToolCallError::NotFound(name.to_owned()));
        };
        let arguments = match self.prepare(&entry, arguments).await {
            Ok(arguments) => arguments,
            Err(err) => return self.finish(name, &Value::Null, Err(err), started).await,
        };
        let output = self.run(&entry, arguments.clone()).await;
        self.finish(name, &arguments, output, started).await
    }

    /// Starts [`ToolCtx::call`] on its own task (`tool.start-call`). At
    /// most [`MAX_CALLS_IN_FLIGHT`] calls per instance run or wait to be
    /// collected; further ones wait for a slot. The arguments of a call
    /// count against the run's memory until it finishes, its result until
    /// it is collected.
    pub fn start(&self, name: String, arguments: Value) -> PendingCall {
        let bytes = footprint(&arguments);
        let waiting = match self.inner.memory.hold(bytes) {
            Ok(held) => held,
            Err(_) => {
                let what = format!("the arguments of `{name}` ({bytes} bytes)");
                return PendingCall::failed(self.does_not_fit(&what));
            }
        };
        let ctx = self.clone();
        PendingCall(Pending::spawn(async move {
            let slot = ctx.inner.in_flight.clone().acquire_owned().await.ok();
            let mut running = Running::new(&ctx, &name);
            let result = ctx.call(&name, arguments).await;
            running.finished();
            drop(waiting);
            let (result, held) = ctx.hold(&name, result);
            (result, slot, held)
        }))
    }

    /// The error for what the run's memory has no room left for.
    fn does_not_fit(&self, what: &str) -> ToolCallError {
        let advice = "collect finished calls before starting more";
        ToolCallError::Failed(self.inner.memory.no_room(what, advice))
    }

    /// Keeps a finished result against the run's memory: one that would
    /// take the run past its limit is dropped for a failure that says so.
    fn hold(
        &self,
        name: &str,
        result: Result<Value, ToolCallError>,
    ) -> (Result<Value, ToolCallError>, Option<Held>) {
        let Ok(value) = &result else {
            return (result, None);
        };
        let bytes = footprint(value);
        match self.inner.memory.hold(bytes) {
            Ok(held) => (result, Some(held)),
            Err(_) => {
                let what = format!("the result of `{name}` ({bytes} bytes)");
                (Err(self.does_not_fit(&what)), None)
            }
        }
    }

    /// Runs a host-side tool on checked arguments (no hooks, no events).
    pub async fn run(&self, entry: &ToolEntry, arguments: Value) -> Result<Value, ToolCallError> {
        let name = &entry.info.name;
        match &entry.provider {
            Provider::Builtin(tool) => tool.call(&self.inner.context, arguments).await,
            Provider::Plugin(plugin) => plugin.call(name, &arguments, &self.inner.run).await,
            Provider::Spell => Err(ToolCallError::Failed(format!(
                "`{name}` is the spell's own tool: call the function directly (agents call it through their run)"
            ))),
        }
    }
}

/// Tool calls one instance may have running at once (`start-call`).
pub const MAX_CALLS_IN_FLIGHT: usize = 64;

/// A tool call running on a host task (the `pending-call` resource): its
/// outcome, and the in-flight slot it holds until the outcome is collected.
pub struct PendingCall(Pending<CallOutcome>);

/// A finished call: its result, its in-flight slot and the memory its
/// result holds, both given back when it is collected.
type CallOutcome = (
    Result<Value, ToolCallError>,
    Option<OwnedSemaphorePermit>,
    Option<Held>,
);

impl PendingCall {
    /// A call refused before it started.
    pub fn failed(error: ToolCallError) -> Self {
        Self(Pending::ready((Err(error), None, None)))
    }

    /// The outcome if the call has finished; `None` while it runs.
    pub fn take(&mut self) -> Option<Result<Value, ToolCallError>> {
        let taken = || {
            let error = "the result of this pending-call was already taken";
            (Err(ToolCallError::Failed(error.into())), None, None)
        };
        self.0.take(taken).map(|(outcome, _slot, _held)| outcome)
    }
}

/// About how many bytes `value` takes in memory: a `Value` per node plus
/// the text of its strings and keys.
fn footprint(value: &Value) -> u64 {
    let node = std::mem::size_of::<Value>() as u64;
    node + match value {
        Value::String(text) => text.len() as u64,
        Value::Array(items) => items.iter().map(footprint).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(key, item)| node + key.len() as u64 + footprint(item))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// A started call that has not finished: if its task is dropped (the spell
/// dropped the `pending-call`, or the run ended) the event stream and the
/// audit log still learn that it ran, and that it was cut short.
struct Running {
    ctx: ToolCtx,
    name: String,
    started: Instant,
    finished: bool,
}

impl Running {
    fn new(ctx: &ToolCtx, name: &str) -> Self {
        Self {
            ctx: ctx.clone(),
            name: name.to_owned(),
            started: Instant::now(),
            finished: false,
        }
    }

    fn finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let why = "cancelled before it finished: the spell dropped the call or its run ended";
        let inner = &self.ctx.inner;
        inner
            .recorder
            .allowed("tool", "call", &self.name, Some(why));
        inner.run.publish(
            &inner.events,
            "spellhost.tool.called",
            json!({
                "tool": self.name,
                "ok": false,
                "error": why,
                "elapsed_ms": self.started.elapsed().as_secs_f64() * 1e3,
            }),
        );
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for PendingCall {
    async fn ready(&mut self) {
        self.0.ready_wait().await
    }
}

/// Tool names as LLM APIs accept them.
fn check_name(name: &str) -> Result<(), ToolCallError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ToolCallError::InvalidArguments(format!(
            "`{name}` is not a tool name: use 1–64 letters, digits, `_` or `-`"
        )))
    }
}

fn parse_schema(text: &str) -> Result<Value, String> {
    let schema: Value = serde_json::from_str(text)
        .map_err(|e| format!("the parameters schema is not JSON: {e}"))?;
    if !schema.is_object() {
        return Err("the parameters schema must be a JSON object".into());
    }
    Ok(schema)
}

/// What the generated `tool` traits are implemented on.
pub struct ToolView<'a> {
    pub ctx: &'a mut ToolCtx,
    pub table: &'a mut ResourceTable,
}

struct ToolBridge;

impl HasData for ToolBridge {
    type Data<'a> = ToolView<'a>;
}

/// Wires `spellhost:spell/tool` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ToolView<'_>,
) -> wasmtime::Result<()> {
    crate::bindings::tool::add_to_linker::<T, ToolBridge>(linker, view)
}
