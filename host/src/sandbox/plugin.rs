//! Plugin sandboxes: components that serve a spell (tool providers, hook
//! handlers) rather than run as one.
//!
//! A plugin is compiled and linked once ([`PluginSandbox::load`]); each call
//! gets a fresh instance in a fresh `Store` with the plugin's own WASI
//! (deny by default: only the grants given to the plugin, never the
//! spell's), its own limits and logging, and its own `config` values (the
//! CLI gives plugins none: a spell's `--var`s stay the spell's). Instances are cheap
//! (tens of microseconds), and a fresh one per call means a crashed or
//! poisoned instance is never reused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bridges::config::{self, ConfigCtx};
use crate::bridges::log::{self, LogCtx};
use crate::bridges::run::RunCtx;
use crate::engine::SpellEngine;
use crate::limits::{LimitExceeded, Limits, LogBudget, RunLimiter};
use crate::policy::Grants;
use crate::policy::audit::Recorder;
use crate::policy::net::NetPolicy;

use super::RunError;
use super::stdio::GuestStdout;
use super::wasi;

/// `T` in `Store<T>` for a plugin instance, and for the host's own
/// sandboxed helpers (the jq evaluator): one store type, so WASI's host
/// functions are compiled once for all of them.
pub struct PluginState {
    table: ResourceTable,
    wasi: WasiCtx,
    log: LogCtx,
    config: ConfigCtx,
    pub(super) limiter: RunLimiter,
}

impl PluginState {
    /// A store's state for a component the host ships to work for it: WASI
    /// with nothing in it (no files, no environment, no network, output
    /// discarded), no log and no `config` values.
    pub(super) fn isolated(name: &str, limiter: RunLimiter) -> Self {
        Self {
            table: ResourceTable::new(),
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
            log: LogCtx::new(name.to_owned(), None, LogBudget::new(0)),
            config: ConfigCtx {
                vars: Arc::default(),
            },
            limiter,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker every plugin world uses: WASI, log and config.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<PluginState>> {
    let mut linker = Linker::<PluginState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    log::add_to_linker(&mut linker, |s| &mut s.log)?;
    config::add_to_linker(&mut linker, |s| &mut s.config)?;
    Ok(linker)
}

/// What a plugin may use.
#[derive(Clone, Default)]
pub struct PluginConfig {
    pub grants: Grants,
    pub vars: BTreeMap<String, String>,
    pub limits: Limits,
    pub recorder: Recorder,
}

/// A compiled plugin and its sandbox settings.
pub struct PluginSandbox {
    name: String,
    engine: wasmtime::Engine,
    component: Component,
    grants: Grants,
    net: Arc<NetPolicy>,
    vars: Arc<BTreeMap<String, String>>,
    limits: Limits,
    recorder: Recorder,
}

impl PluginSandbox {
    /// Compiles (or loads from cache) a plugin component.
    pub fn load(
        engine: &SpellEngine,
        name: &str,
        bytes: &[u8],
        config: PluginConfig,
    ) -> Result<Self, RunError> {
        super::check_component_header(bytes)?;
        let loaded = engine
            .cache()
            .load(engine.engine(), bytes)
            .map_err(|e| RunError::Invalid(format!("{e:#}")))?;
        let net = NetPolicy::new(&config.grants.net, BTreeMap::new())
            .map_err(|e| RunError::Host(anyhow::anyhow!(e)))?;
        Ok(Self {
            name: name.to_owned(),
            engine: engine.engine().clone(),
            component: loaded.component,
            grants: config.grants,
            net: Arc::new(net),
            vars: Arc::new(config.vars),
            limits: config.limits,
            recorder: config.recorder,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Links the plugin; `world` names what it must export, for the error.
    pub fn link<P>(
        &self,
        linker: &Linker<PluginState>,
        world: &str,
        pre: impl FnOnce(InstancePre<PluginState>) -> wasmtime::Result<P>,
    ) -> Result<P, RunError> {
        let instance_pre = linker
            .instantiate_pre(&self.component)
            .map_err(RunError::from_link)?;
        pre(instance_pre)
            .map_err(|e| RunError::NotASpell(format!("{} is not a {world}: {e:#}", self.name)))
    }

    /// A fresh store for one call, with the plugin's grants and limits; a
    /// call made for `run` is audited, logged and watched as part of it.
    pub fn store(&self, run: Option<&RunCtx>) -> anyhow::Result<Store<PluginState>> {
        let recorder = match run {
            Some(run) => self.recorder.for_run(run.clone()),
            None => self.recorder.clone(),
        };
        let log = LogBudget::new(self.limits.max_log_bytes);
        let output = wasi::Output {
            stdout: GuestStdout::Stderr,
            budget: &log,
            run: None,
        };
        let wasi = wasi::build(&self.name, &self.grants, &self.net, &recorder, output)
            .with_context(|| format!("setting up plugin {}", self.name))?;
        let state = PluginState {
            table: crate::runtime::handle_table(self.limits.max_handles),
            wasi,
            log: LogCtx::new(format!("plugin:{}", self.name), run.cloned(), log),
            config: ConfigCtx {
                vars: self.vars.clone(),
            },
            limiter: RunLimiter::new(self.limits.memory_bytes),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_max_component_handles(self.limits.max_handles as usize);
        crate::engine::meter(&mut store, self.limits.fuel, self.limits.timeout)?;
        Ok(store)
    }

    /// Runs `call` within the plugin's wall-clock limit, turning traps and
    /// limits into one sentence.
    pub async fn guard<T>(
        &self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.limits.timeout, call).await {
            Err(_) => Err(format!(
                "plugin {}: {}",
                self.name,
                LimitExceeded::Timeout {
                    limit: self.limits.timeout
                }
            )),
            Ok(Err(err)) => {
                let cause = err.root_cause().to_string();
                Err(match RunError::from_wasm(err) {
                    RunError::Trap(_) => format!("plugin {} crashed: {cause}", self.name),
                    RunError::Limit(LimitExceeded::Fuel { .. }) => format!(
                        "plugin {} ran out of fuel ({} units)",
                        self.name, self.limits.fuel
                    ),
                    RunError::Limit(LimitExceeded::Handles { .. }) => format!(
                        "plugin {}: {}",
                        self.name,
                        LimitExceeded::Handles {
                            limit: self.limits.max_handles
                        }
                    ),
                    other => format!("plugin {}: {other}", self.name),
                })
            }
            Ok(Ok(value)) => Ok(value),
        }
    }
}

/// Limits for plugins unless configured: tighter than a spell's, since a
/// plugin call is one step of a spell.
pub fn default_plugin_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(60),
        ..Limits::default()
    }
}
