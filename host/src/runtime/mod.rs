//! Loading and running spells.
//!
//! Lifetimes, after Spin's factors:
//! - [`Runtime::new`] wires every bridge into one `Linker` (once per process);
//! - [`Runtime::load`] compiles (or loads from cache), type-checks and
//!   pre-instantiates a component, and fixes its grants ([`Spell`], once per
//!   spell);
//! - [`Runtime::run`] builds fresh per-instance state, a `Store` with the
//!   run's limits, instantiates and calls `run` (once per run).

mod builder;
pub mod prepared;
mod session;
mod state;
mod sub_spells;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument as _;
use wasmtime::Store;
use wasmtime::component::{Linker, ResourceTable};

pub use crate::sandbox::plugin;
use crate::sandbox::wasi;
pub use crate::sandbox::{RunError, check_component_header};
pub use builder::RuntimeBuilder;
pub use session::{EntryError, EntryReport, Restart, Session};
pub use state::SpellState;

use crate::bindings::{Spell as SpellBindings, SpellPre};
use crate::bridges::agent::{self, AgentCtx, AgentEnv, AgentView};
use crate::bridges::config::{self, ConfigCtx};
use crate::bridges::event::{self, EventBus, EventCtx, EventRate, EventView};
use crate::bridges::hooks::{HookPlugin, HookSet};
use crate::bridges::http::{HttpCtx, NetClient};
use crate::bridges::llm::{
    self, Budget, LlmCtx, LlmView, ModelCatalog, ModelPolicy, ModelRouter, UsageMeter, UsageTotals,
};
use crate::bridges::log::{self, LogCtx};
use crate::bridges::run::RunCtx;
use crate::bridges::script::ScriptCtx;
use crate::bridges::state::{self as state_bridge, MemoryStore, StateCtx, StateStore, StateView};
use crate::bridges::tool::{
    self, FileGrants, NetFetcher, StateMemory, ToolCatalog, ToolContext, ToolCtx, ToolPlugin,
    ToolView,
};
use crate::bridges::workflow::{self, WorkflowCtx, WorkflowEnv};
use crate::cache::CompileSource;
use crate::engine::{self, SpellEngine};
use crate::limits::{LimitExceeded, Limits, LogBudget, RunLimiter, RunMemory};
use crate::policy::audit::{Audit, Denial, Recorder};
use crate::policy::net::{NetPolicy, SecretHeader};
use crate::sandbox::stdio::GuestStdout;
use crate::scripts::{Language, Modules, ScriptSource};
use plugin::{PluginConfig, PluginSandbox, PluginState};
pub use prepared::PreparedComponent;
use sub_spells::SubSpells;

/// Long-lived services shared by every spell the runtime runs.
#[derive(Clone)]
pub struct HostServices {
    pub router: Arc<ModelRouter>,
    /// Store behind the `spell` and `shared` state scopes.
    pub store: Arc<dyn StateStore>,
    pub bus: EventBus,
    /// Where the buses a server makes for its tenants go besides in
    /// process.
    pub events: crate::bridges::event::EventsBackend,
    /// What each model accepts and costs (limits, capabilities, prices).
    pub catalog: Arc<ModelCatalog>,
    /// The deployment's audit trail (`[audit] url`), for spells loaded
    /// without one of their own.
    pub audit: Option<Audit>,
    /// Pulled packages, for workflow steps that name `oci://` references
    /// (none: such steps are refused).
    pub packages: Option<Arc<dyn crate::market::Packages>>,
    /// Where spells' stdout goes (`print`, `console.log`, `println!`).
    pub guest_stdout: GuestStdout,
}

pub use crate::policy::Grants;

/// The name a spell loaded from `path` gets unless told otherwise: its
/// file name without the extension (`summarize` for `summarize.wasm`).
pub fn name_from_path(path: &std::path::Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("spell")
        .to_owned()
}

/// A spell's configuration, fixed when it is loaded.
#[derive(Clone, Default)]
pub struct SpellConfig {
    /// What the user granted, beyond the defaults.
    pub grants: Grants,
    /// `--var key=value` settings.
    pub vars: BTreeMap<String, String>,
    /// Where to record capability uses and denials.
    pub audit: Option<Audit>,
    /// How its denials name the grant that would allow them.
    pub grant_wording: crate::policy::GrantWording,
    /// Host names pinned to addresses instead of DNS (`[net.hosts]`).
    pub net_pins: BTreeMap<String, Vec<IpAddr>>,
    /// Credentials the host adds to requests, by host (`[net.secrets]`).
    pub net_secrets: BTreeMap<String, SecretHeader>,
    /// Tool plugins loaded for the spell (`--tool`).
    pub tool_plugins: Vec<Arc<ToolPlugin>>,
    /// Hook plugins that see the spell's LLM and tool calls (`--hook`).
    pub hook_plugins: Vec<Arc<HookPlugin>>,
}

/// A deployment of a prepared component: the component (shared with every
/// other deployment of it) with a name, grants, vars, plugins and an audit
/// log; ready to be run any number of times. Clones are cheap.
#[derive(Clone)]
pub struct Spell {
    name: String,
    prepared: Arc<PreparedComponent>,
    policy: Arc<ModelPolicy>,
    state_grants: Arc<[String]>,
    vars: Arc<BTreeMap<String, String>>,
    grants: Grants,
    net: Arc<NetPolicy>,
    tools: Arc<ToolCatalog>,
    hooks: HookSet,
    audit: Option<Audit>,
    grant_wording: crate::policy::GrantWording,
    script: Option<Arc<ScriptSource>>,
    /// How the component was obtained for this load, and how long that took.
    pub compile_source: CompileSource,
    pub compile_time: Duration,
}

impl Spell {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prepared component this spell runs.
    pub fn prepared(&self) -> &Arc<PreparedComponent> {
        &self.prepared
    }

    /// The same deployment with `vars` set over its own.
    pub fn with_vars(&self, vars: &BTreeMap<String, String>) -> Spell {
        let mut merged = (*self.vars).clone();
        merged.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        Spell {
            vars: Arc::new(merged),
            ..self.clone()
        }
    }

    /// The `--var`s it runs with.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }
}

/// Measurements of one run, printed by `spellhost run --stats`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunStats {
    pub spell: String,
    pub run_id: String,
    pub compile: CompileSource,
    pub compile_ms: f64,
    pub instantiate_ms: f64,
    pub run_ms: f64,
    pub fuel_consumed: u64,
    /// The most the spell's own memories held at once.
    pub peak_memory_bytes: u64,
    /// The most the run's memory budget held at once: the spell's
    /// memories and what the host held for it (tool results, unread
    /// streams, jq sandboxes, spells it ran), which `--memory` bounds.
    pub run_memory_peak_bytes: u64,
    pub llm: UsageTotals,
}

impl RunStats {
    fn empty(spell: &Spell, run_id: String) -> Self {
        Self {
            spell: spell.name.clone(),
            run_id,
            compile: spell.compile_source,
            compile_ms: millis(spell.compile_time),
            instantiate_ms: 0.0,
            run_ms: 0.0,
            fuel_consumed: 0,
            peak_memory_bytes: 0,
            run_memory_peak_bytes: 0,
            llm: UsageTotals::default(),
        }
    }
}

/// The outcome of a run: the output or why there is none, the stats, and
/// what the spell tried and was refused.
pub struct RunReport {
    pub result: Result<String, RunError>,
    pub stats: RunStats,
    pub denials: Vec<Denial>,
}

/// Where a run comes from.
pub(crate) enum Origin {
    /// A run of its own (the CLI's, a server request's).
    Top(RunCtx),
    /// A workflow step of another run.
    Step(Inherited),
}

/// What a spell run as a workflow step takes from the run that started it.
#[derive(Clone)]
pub(crate) struct Inherited {
    /// The run that started it.
    pub run: RunCtx,
    pub meter: Arc<UsageMeter>,
    pub hooks: HookSet,
    pub recorder: Recorder,
    /// How many spells deep this run is (the top run is 0).
    pub depth: u32,
    /// The run's memory, log and event budgets: a child spends the
    /// caller's, as it spends its LLM budget.
    pub memory: RunMemory,
    pub log: LogBudget,
    pub events: EventRate,
}

/// A run's host side before its instance (see [`Runtime::open_run`]).
pub(crate) struct OpenRun {
    pub store: Store<SpellState>,
    /// The run's LLM usage, shared with the spells it runs.
    pub meter: Arc<UsageMeter>,
    pub memory: RunMemory,
    /// Its capability uses and denials.
    pub recorder: Recorder,
}

/// Runs spells: one per process, shared by every spell it loads. Clones
/// share the engine and linkers.
#[derive(Clone)]
pub struct Runtime {
    engine: SpellEngine,
    linker: Arc<Linker<SpellState>>,
    /// Components prepared by this process, shared by their deployments.
    prepared: Arc<prepared::PreparedTable>,
    /// Built on first use: most runs load no plugins.
    plugin_linker: Arc<std::sync::OnceLock<Linker<PluginState>>>,
    /// Where `json_query` evaluates (compiled on first use).
    jq: Arc<crate::sandbox::jq::JqSandbox>,
    services: HostServices,
}

impl Runtime {
    /// A builder with in-process defaults (see [`RuntimeBuilder`]).
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Wires WASI and every bridge into the linker.
    pub fn new(engine: SpellEngine, services: HostServices) -> anyhow::Result<Self> {
        let mut linker = Linker::<SpellState>::new(engine.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        llm::add_to_linker(&mut linker, |s| LlmView {
            ctx: &mut s.llm,
            table: &mut s.table,
        })?;
        state_bridge::add_to_linker(&mut linker, |s| StateView {
            ctx: &mut s.state,
            table: &mut s.table,
        })?;
        event::add_to_linker(&mut linker, |s| EventView {
            ctx: &mut s.events,
            table: &mut s.table,
        })?;
        log::add_to_linker(&mut linker, |s| &mut s.log)?;
        config::add_to_linker(&mut linker, |s| &mut s.config)?;
        crate::bridges::script::add_to_linker(&mut linker, |s| &mut s.script)?;
        tool::add_to_linker(&mut linker, |s| ToolView {
            ctx: &mut s.tools,
            table: &mut s.table,
        })?;
        agent::add_to_linker(&mut linker, |s| AgentView {
            ctx: &mut s.agent,
            table: &mut s.table,
        })?;
        workflow::add_to_linker(&mut linker, |s| &mut s.workflow)?;
        let jq =
            crate::sandbox::jq::JqSandbox::new(engine.engine().clone(), engine.cache().clone());
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            prepared: Arc::default(),
            plugin_linker: Arc::default(),
            jq,
            services,
        })
    }

    /// Loads a tool plugin (`--tool`) with its own grants and limits.
    pub async fn load_tool_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        config: PluginConfig,
    ) -> Result<Arc<ToolPlugin>, RunError> {
        let sandbox = PluginSandbox::load(&self.engine, name, bytes, config)?;
        ToolPlugin::load(self.plugin_linker().map_err(RunError::Host)?, sandbox).await
    }

    /// Loads a hook plugin (`--hook`) with its own grants and limits.
    pub fn load_hook_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        config: PluginConfig,
    ) -> Result<Arc<HookPlugin>, RunError> {
        let sandbox = PluginSandbox::load(&self.engine, name, bytes, config)?;
        HookPlugin::load(self.plugin_linker().map_err(RunError::Host)?, sandbox)
    }

    /// The same runtime (engine, linker, prepared components, router and
    /// catalog) with its own state store and event bus: what a server gives
    /// each tenant, so no tenant reads another's state or events.
    pub fn with_state_and_events(&self, store: Arc<dyn StateStore>, bus: EventBus) -> Runtime {
        let mut runtime = self.clone();
        runtime.services.store = store;
        runtime.services.bus = bus;
        runtime
    }

    /// The same runtime with other providers, aliases and default model
    /// (`spellhost test`: a replaying or recording router per test).
    pub fn with_router(&self, router: ModelRouter) -> Runtime {
        let mut runtime = self.clone();
        runtime.services.router = Arc::new(router);
        runtime
    }

    /// How many prepared components this process holds (those some
    /// deployment still uses).
    pub fn prepared_components(&self) -> usize {
        self.prepared.len()
    }

    pub fn engine(&self) -> &SpellEngine {
        &self.engine
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }

    pub fn linker(&self) -> &Linker<SpellState> {
        &self.linker
    }

    /// The linker plugins (tool and hook components) are linked with.
    pub fn plugin_linker(&self) -> anyhow::Result<&Linker<PluginState>> {
        if let Some(linker) = self.plugin_linker.get() {
            return Ok(linker);
        }
        let linker = plugin::linker(self.engine.engine())?;
        Ok(self.plugin_linker.get_or_init(|| linker))
    }

    /// Loads the spell file at `path` (its contents in `bytes`): a script
    /// by its extension or `#!` line (see [`Language::detect`]), else a
    /// component. A script's modules come from the directory `path` is in.
    pub fn load_file(
        &self,
        name: &str,
        path: &std::path::Path,
        bytes: Vec<u8>,
        config: SpellConfig,
    ) -> Result<Spell, RunError> {
        self.load_bytes(name, path, bytes, config, Modules::beside(path))
    }

    /// Loads a spell from `bytes`, `file_name`'s extension (or a `#!`
    /// line) saying whether it is a script, whose modules come from
    /// `modules` (a pulled package: [`Modules::None`]).
    pub fn load_bytes(
        &self,
        name: &str,
        file_name: &std::path::Path,
        bytes: Vec<u8>,
        config: SpellConfig,
        modules: Modules,
    ) -> Result<Spell, RunError> {
        match Language::detect(file_name, &bytes) {
            Some(language) => {
                // A source the language cannot read is not a spell (exit 3).
                let source = ScriptSource::from_file(file_name, bytes, language, modules)
                    .map_err(RunError::NotAComponent)?;
                self.load_script(name, language, source, config)
            }
            None => self.load(name, &bytes, config),
        }
    }

    /// Compiles (or loads from cache) and links a spell.
    pub fn load(&self, name: &str, bytes: &[u8], config: SpellConfig) -> Result<Spell, RunError> {
        self.load_component(name, bytes, config, None)
    }

    fn load_component(
        &self,
        name: &str,
        bytes: &[u8],
        config: SpellConfig,
        script: Option<(Language, Arc<ScriptSource>)>,
    ) -> Result<Spell, RunError> {
        let (key, script) = match script {
            // The interpreters are hashed once per process, not per load.
            Some((language, source)) => (language.interpreter_digest().to_owned(), Some(source)),
            None => (prepared::digest(bytes), None),
        };
        let (prepared, fresh) = self.prepare_keyed(key, bytes)?;
        let mut spell = self.deploy(name, prepared, config, script)?;
        if !fresh {
            spell.compile_source = CompileSource::Memory;
            spell.compile_time = Duration::ZERO;
        }
        Ok(spell)
    }

    /// Compiles (or loads from the compile cache), type-checks and
    /// pre-instantiates a component — or returns the one this process
    /// already prepared from the same bytes.
    pub fn prepare(&self, bytes: &[u8]) -> Result<Arc<PreparedComponent>, RunError> {
        self.prepare_keyed(prepared::digest(bytes), bytes)
            .map(|(prepared, _)| prepared)
    }

    /// `prepare` under a known digest; also says whether it was prepared
    /// just now.
    fn prepare_keyed(
        &self,
        digest: String,
        bytes: &[u8],
    ) -> Result<(Arc<PreparedComponent>, bool), RunError> {
        if let Some(prepared) = self.prepared.get(&digest) {
            return Ok((prepared, false));
        }
        check_component_header(bytes)?;
        let loaded = self
            .engine
            .cache()
            .load(self.engine.engine(), bytes)
            .map_err(|e| RunError::Invalid(format!("{e:#}")))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&loaded.component)
            .map_err(RunError::from_link)?;
        let pre = SpellPre::new(instance_pre).map_err(|e| RunError::NotASpell(format!("{e:#}")))?;
        Ok(self.prepared.insert(PreparedComponent {
            digest,
            pre,
            source: loaded.source,
            compile_time: loaded.elapsed,
        }))
    }

    /// A deployment of `prepared`: its name, grants, vars, plugins and
    /// audit log (`script`: the source an interpreter component runs).
    pub fn deploy(
        &self,
        name: &str,
        prepared: Arc<PreparedComponent>,
        config: SpellConfig,
        script: Option<Arc<ScriptSource>>,
    ) -> Result<Spell, RunError> {
        let net = NetPolicy::new(&config.grants.net, config.net_pins)
            .map_err(|e| RunError::Host(anyhow::anyhow!(e)))?
            .with_secrets(config.net_secrets);
        let mut tools = ToolCatalog::builtins();
        for plugin in config.tool_plugins {
            tools.add_plugin(plugin).map_err(RunError::Host)?;
        }
        Ok(Spell {
            name: name.to_owned(),
            compile_source: prepared.source,
            compile_time: prepared.compile_time,
            prepared,
            policy: Arc::new(ModelPolicy::new(config.grants.models.clone())),
            state_grants: config.grants.state_namespaces.clone().into(),
            vars: Arc::new(config.vars),
            grants: config.grants,
            net: Arc::new(net),
            tools: Arc::new(tools),
            hooks: HookSet::new(config.hook_plugins),
            audit: config.audit.or_else(|| self.services.audit.clone()),
            grant_wording: config.grant_wording,
            script,
        })
    }

    /// Loads a script spell: the interpreter component for `language`
    /// (compiled once and cached like any spell) running `source`.
    pub fn load_script(
        &self,
        name: &str,
        language: Language,
        source: ScriptSource,
        config: SpellConfig,
    ) -> Result<Spell, RunError> {
        self.load_component(
            name,
            language.interpreter(),
            config,
            Some((language, Arc::new(source))),
        )
    }

    /// Waits (at most `within` each) until the events published and the
    /// audit records written so far have reached the servers that share
    /// them; at once when nothing is shared.
    pub async fn flush_shared(&self, within: Duration) {
        self.services.bus.flush(within).await;
        if let Some(audit) = &self.services.audit {
            audit.flush(within).await;
        }
    }

    /// Checks `spell` without running it: a component was type-checked
    /// against the `spell` world when it was loaded; a script is compiled
    /// by its interpreter, none of it run (a syntax error is
    /// [`RunError::Failed`] with its file and line).
    pub async fn check(&self, spell: &Spell) -> Result<(), RunError> {
        let Some(source) = &spell.script else {
            return Ok(());
        };
        let mut checking = spell.clone();
        checking.script = Some(Arc::new(ScriptSource {
            purpose: crate::scripts::Purpose::Check,
            ..ScriptSource::clone(source)
        }));
        self.run(&checking, "", &Limits::default())
            .await
            .result
            .map(|_| ())
    }

    /// Runs `spell` once on `input` within `limits`.
    pub async fn run(&self, spell: &Spell, input: &str, limits: &Limits) -> RunReport {
        self.run_nested(spell, input, limits, Origin::Top(RunCtx::new(&spell.name)))
            .await
    }

    /// Runs `spell` as the run `run` (a caller's tenant, say); the run's
    /// spell name should be `spell.name()`.
    pub async fn run_as(
        &self,
        spell: &Spell,
        input: &str,
        limits: &Limits,
        run: RunCtx,
    ) -> RunReport {
        self.run_nested(spell, input, limits, Origin::Top(run))
            .await
    }

    /// Runs `spell`, as a step of another spell's workflow if `parent` is
    /// given: then it shares the parent's LLM budget, hooks and audit
    /// trail, one level deeper.
    pub(crate) async fn run_nested(
        &self,
        spell: &Spell,
        input: &str,
        limits: &Limits,
        origin: Origin,
    ) -> RunReport {
        let (run, parent) = match origin {
            Origin::Top(run) => (run, None),
            Origin::Step(parent) => (parent.run.child(&spell.name), Some(parent)),
        };
        let span = tracing::info_span!(
            target: crate::telemetry::TARGET,
            "run",
            run_id = %run.run_id(),
            spell = %spell.name,
            tenant = run.tenant().unwrap_or_default(),
            ok = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        let report = self
            .run_in(spell, input, limits, run, parent)
            .instrument(span.clone())
            .await;
        span.record("ok", report.result.is_ok());
        if let Err(err) = &report.result {
            span.record("error", err.to_string());
        }
        report
    }

    /// A run's host side, before its instance: the per-instance state of
    /// every bridge in a store bounded by `limits` (its fuel and deadline
    /// are set per call, see [`engine::meter`]), or the report of a run
    /// that could not start.
    ///
    /// A top-level run spends `meter`'s LLM budget when given one (a REPL
    /// session's, kept across its instances), else a fresh one.
    pub(crate) async fn open_run(
        &self,
        spell: &Spell,
        limits: &Limits,
        run: &RunCtx,
        parent: Option<Inherited>,
        meter: Option<Arc<UsageMeter>>,
    ) -> Result<OpenRun, RunReport> {
        if parent.is_none() {
            // Events shared with other processes: the bus first takes its
            // place in the shared log (once per process; at once after),
            // so the spell's subscriptions miss nothing published from now.
            self.services.bus.following(Duration::from_secs(5)).await;
        }
        let run_id = run.run_id().to_owned();
        let recorder = match &parent {
            Some(parent) => parent.recorder.for_run(run.clone()),
            None => Recorder::new(spell.audit.clone())
                .with_wording(spell.grant_wording.clone())
                .for_run(run.clone()),
        };
        let (memory, log, events) = match &parent {
            Some(parent) => (
                parent.memory.clone(),
                parent.log.clone(),
                parent.events.clone(),
            ),
            None => (
                RunMemory::new(limits.memory_bytes),
                LogBudget::new(limits.max_log_bytes),
                EventRate::new(limits.max_event_rate),
            ),
        };
        let output = wasi::Output {
            stdout: self.services.guest_stdout,
            budget: &log,
            run: Some(run),
        };
        let wasi = match wasi::build(&spell.name, &spell.grants, &spell.net, &recorder, output) {
            Ok(wasi) => wasi,
            Err(err) => {
                return Err(RunReport {
                    result: Err(RunError::Host(err)),
                    stats: RunStats::empty(spell, run_id),
                    denials: Vec::new(),
                });
            }
        };
        let budget = Budget {
            max_tokens: limits.max_llm_tokens,
            max_cost_usd: limits.max_llm_cost_usd,
        };
        let meter = match (&parent, meter) {
            (Some(parent), _) => parent.meter.clone(),
            (None, Some(meter)) => meter,
            (None, None) => Arc::new(UsageMeter::new(budget, self.services.catalog.clone())),
        };
        // A child spell is loaded without plugins: the caller's hooks guard it.
        let hooks = match &parent {
            Some(parent) => parent.hooks.clone(),
            None => spell.hooks.clone(),
        };
        let depth = parent.as_ref().map_or(0, |p| p.depth);
        let bus = &self.services.bus;
        let net = NetClient::new(spell.net.clone(), recorder.clone());
        let llm = LlmCtx {
            router: self.services.router.clone(),
            catalog: self.services.catalog.clone(),
            policy: spell.policy.clone(),
            meter: meter.clone(),
            events: bus.clone(),
            run: run.clone(),
            recorder: recorder.clone(),
            hooks: hooks.clone(),
            memory: memory.clone(),
        };
        let tools = match self.tool_ctx(spell, &net, &llm, limits) {
            Ok(tools) => tools,
            Err(err) => {
                return Err(RunReport {
                    result: Err(RunError::Host(err)),
                    stats: RunStats::empty(spell, run_id),
                    denials: recorder.denials(),
                });
            }
        };
        let agents = AgentEnv {
            llm: llm.clone(),
            tools: tools.clone(),
            events: bus.clone(),
            run: run.clone(),
        };
        let spells = SubSpells::new(
            self.clone(),
            spell,
            limits,
            Inherited {
                run: run.clone(),
                meter: meter.clone(),
                hooks: hooks.clone(),
                recorder: recorder.clone(),
                depth: depth + 1,
                memory: memory.clone(),
                log: log.clone(),
                events: events.clone(),
            },
        );
        let data = SpellState {
            table: handle_table(limits.max_handles),
            wasi,
            http: HttpCtx::new(net),
            llm,
            tools,
            agent: AgentCtx::new(agents.clone()),
            workflow: WorkflowCtx {
                env: WorkflowEnv {
                    agents,
                    spells: Some(Arc::new(spells)),
                },
            },
            state: StateCtx {
                persistent: self.services.store.clone(),
                run: Arc::new(MemoryStore::new()),
                spell_name: spell.name.clone(),
                shared_grants: spell.state_grants.clone(),
                quota: limits.state_quota(),
                recorder: recorder.clone(),
            },
            events: EventCtx {
                bus: bus.clone(),
                source: format!("spell:{}", spell.name),
                run_id: Some(run_id.clone()),
                rate: events,
            },
            log: LogCtx::new(spell.name.clone(), Some(run.clone()), log),
            config: ConfigCtx {
                vars: spell.vars.clone(),
            },
            script: ScriptCtx {
                source: spell.script.clone(),
            },
            limiter: RunLimiter::within(limits.memory_bytes, memory.clone()),
        };
        let mut store = Store::new(self.engine.engine(), data);
        store.limiter(|s| &mut s.limiter);
        store.set_max_component_handles(limits.max_handles as usize);
        Ok(OpenRun {
            store,
            meter,
            memory,
            recorder,
        })
    }

    /// [`Self::run_nested`] within its span.
    async fn run_in(
        &self,
        spell: &Spell,
        input: &str,
        limits: &Limits,
        run: RunCtx,
        parent: Option<Inherited>,
    ) -> RunReport {
        let OpenRun {
            mut store,
            meter,
            memory,
            recorder,
        } = match self.open_run(spell, limits, &run, parent, None).await {
            Ok(open) => open,
            Err(report) => return report,
        };
        let run_id = run.run_id().to_owned();
        let bus = &self.services.bus;
        engine::meter(&mut store, limits.fuel, limits.timeout)
            .expect("fuel is enabled on the engine");

        run.publish(bus, "spellhost.run.started", serde_json::json!({}));
        let started = Instant::now();
        let mut instantiate_time = Duration::ZERO;
        let call = async {
            let instance: SpellBindings = spell.prepared.pre.instantiate_async(&mut store).await?;
            instantiate_time = started.elapsed();
            instance.call_run(&mut store, input).await
        };
        // The deadline: guest code yields to the executor every few
        // milliseconds of fuel (see `engine::meter`), so this timeout stops
        // it as well as the host waiting on an LLM or an event for it; a
        // return from a host call past it is a trap with the same error.
        let outcome = tokio::time::timeout(limits.timeout, call).await;
        let elapsed = started.elapsed();

        let result = match outcome {
            Err(_) => Err(RunError::Limit(LimitExceeded::Timeout {
                limit: limits.timeout,
            })),
            Ok(Err(err)) => Err(call_error(err, limits)),
            Ok(Ok(Err(message))) => Err(RunError::Failed(message)),
            Ok(Ok(Ok(output))) if output.len() as u64 > limits.max_output_bytes => {
                Err(RunError::Limit(LimitExceeded::Output {
                    limit: limits.max_output_bytes,
                    size: output.len() as u64,
                }))
            }
            Ok(Ok(Ok(output))) => Ok(output),
        };

        let stats = RunStats {
            spell: spell.name.clone(),
            run_id: run_id.clone(),
            compile: spell.compile_source,
            compile_ms: millis(spell.compile_time),
            instantiate_ms: millis(instantiate_time),
            run_ms: millis(elapsed.saturating_sub(instantiate_time)),
            fuel_consumed: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            peak_memory_bytes: store.data().limiter.peak_memory,
            run_memory_peak_bytes: memory.peak(),
            llm: meter.totals(),
        };
        run.publish(
            bus,
            "spellhost.run.finished",
            serde_json::json!({
                "ok": result.is_ok(),
                "error": result.as_ref().err().map(ToString::to_string),
                "elapsed_ms": stats.instantiate_ms + stats.run_ms,
            }),
        );
        RunReport {
            result,
            stats,
            denials: recorder.denials(),
        }
    }
}

impl Runtime {
    /// The tools of one instance: the spell's catalogue, with its file and
    /// network grants and its private state for the `memory` tool, in the
    /// run `llm` belongs to (its hooks, audit log and memory).
    fn tool_ctx(
        &self,
        spell: &Spell,
        net: &NetClient,
        llm: &LlmCtx,
        limits: &Limits,
    ) -> anyhow::Result<ToolCtx> {
        let quota = limits.state_quota();
        let files = FileGrants::new(&spell.grants.read, &spell.grants.write)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let context = ToolContext {
            files,
            fetcher: Some(Arc::new(NetFetcher { net: net.clone() })),
            memory: Some(Arc::new(StateMemory {
                store: self.services.store.clone(),
                namespace: format!("spell/{}", spell.name),
                quota,
            })),
            jq: Some(self.jq.for_run(llm.memory.clone())),
        };
        Ok(ToolCtx::new(
            spell.tools.clone(),
            context,
            llm.hooks.clone(),
            self.services.bus.clone(),
            llm.recorder.clone(),
            llm.run.clone(),
            llm.memory.clone(),
        ))
    }
}

/// What a trap or host error from calling into a spell stands for, with
/// the run's own numbers on the limit it hit.
pub(crate) fn call_error(err: wasmtime::Error, limits: &Limits) -> RunError {
    match RunError::from_wasm(err) {
        RunError::Limit(LimitExceeded::Fuel { .. }) => {
            RunError::Limit(LimitExceeded::Fuel { limit: limits.fuel })
        }
        RunError::Limit(LimitExceeded::Timeout { .. }) => RunError::Limit(LimitExceeded::Timeout {
            limit: limits.timeout,
        }),
        RunError::Limit(LimitExceeded::Handles { .. }) => RunError::Limit(LimitExceeded::Handles {
            limit: limits.max_handles,
        }),
        other => other,
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// The host's side of a run's handles, bounded like the guest's.
pub(crate) fn handle_table(max_handles: u32) -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(max_handles as usize);
    table
}
