//! Hooks: let hook plugins (`--hook plugin.wasm`, world `hook-plugin`)
//! observe, modify or cancel every LLM and tool call of a run.
//!
//! Hooks run in the order given; each sees the payload as the previous one
//! left it. Hooks are guards, so they fail closed: a hook that fails (trap,
//! limit, a `modify` that is not JSON) cancels the call with a message
//! naming the plugin — a spell must not get past a redaction or policy hook
//! by making it crash.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use wasmtime::component::Linker;

use crate::bindings::hook_plugin::{HookPlugin as Bindings, HookPluginPre};
use crate::bindings::hooks::{Decision, HookCall, HookPoint};
use crate::bridges::run::RunCtx;
use crate::sandbox::RunError;
use crate::sandbox::plugin::{PluginSandbox, PluginState};

/// What the hooks decided.
#[derive(Debug, Clone, PartialEq)]
pub enum HookOutcome {
    /// Go on, with this (possibly modified) payload.
    Proceed(Value),
    /// Stop, for this reason.
    Cancel(String),
}

/// The hooks of a run. Cheap to clone; empty by default.
#[derive(Clone, Default)]
pub struct HookSet {
    plugins: Arc<[Arc<HookPlugin>]>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id for a hook call.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl HookSet {
    pub fn new(plugins: Vec<Arc<HookPlugin>>) -> Self {
        Self {
            plugins: plugins.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Runs every hook on `payload` at `point`, for `run`.
    pub async fn run(&self, point: HookPoint, mut payload: Value, run: &RunCtx) -> HookOutcome {
        for plugin in self.plugins.iter() {
            let call = HookCall {
                id: next_id(),
                point,
                payload_json: payload.to_string(),
            };
            match plugin.handle(call, run).await {
                Ok(decision) => match apply(decision, payload) {
                    Ok(HookOutcome::Proceed(next)) => payload = next,
                    Ok(cancel) => return cancel,
                    Err((why, _)) => {
                        return HookOutcome::Cancel(format!(
                            "hook plugin {}: {why}",
                            plugin.name()
                        ));
                    }
                },
                Err(err) => return HookOutcome::Cancel(err),
            }
        }
        HookOutcome::Proceed(payload)
    }
}

/// Applies one decision to `payload`; a bad `modify` gives it back.
pub fn apply(decision: Decision, payload: Value) -> Result<HookOutcome, (String, Value)> {
    match decision {
        Decision::Proceed => Ok(HookOutcome::Proceed(payload)),
        Decision::Cancel(reason) => Ok(HookOutcome::Cancel(reason)),
        Decision::Modify(json) => match serde_json::from_str(&json) {
            Ok(next) => Ok(HookOutcome::Proceed(next)),
            Err(err) => Err((format!("its `modify` payload is not JSON: {err}"), payload)),
        },
    }
}

/// A loaded hook plugin.
pub struct HookPlugin {
    sandbox: PluginSandbox,
    pre: HookPluginPre<PluginState>,
}

impl HookPlugin {
    pub fn load(
        linker: &Linker<PluginState>,
        sandbox: PluginSandbox,
    ) -> Result<Arc<Self>, RunError> {
        let pre = sandbox.link(
            linker,
            "hook plugin (it must export spellhost:spell/hook-handler)",
            HookPluginPre::new,
        )?;
        Ok(Arc::new(Self { sandbox, pre }))
    }

    pub fn name(&self) -> &str {
        self.sandbox.name()
    }

    async fn handle(&self, call: HookCall, run: &RunCtx) -> Result<Decision, String> {
        let mut store = self
            .sandbox
            .store(Some(run))
            .map_err(|e| format!("{e:#}"))?;
        self.sandbox
            .guard(async {
                let plugin: Bindings = self.pre.instantiate_async(&mut store).await?;
                plugin
                    .spellhost_spell_hook_handler()
                    .call_handle(&mut store, &call)
                    .await
            })
            .await
    }
}
