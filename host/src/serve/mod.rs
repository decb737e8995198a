//! `spellhost serve`: one long-lived host for many runs, over HTTP.
//!
//! Spells are loaded once at start (each component prepared once, see
//! `runtime::prepared`); each request runs a fresh instance under the
//! spell's configured grants and limits, for the tenant its bearer token
//! names. Tenants are isolated: each gets its own view of the state store
//! (`TenantStore`) and its own event bus, so one tenant can neither read
//! another's state nor see its events. The API is described in
//! `docs/serve.md`.

mod app;
pub mod config;
pub mod follow;
pub mod load;
pub mod metrics;
mod queued;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use app::{default_input_schema, report_json, router};
pub use load::{SpellSpec, load_spell};

use crate::bridges::event::EventBus;
use crate::bridges::run::RunCtx;
use crate::bridges::state::TenantStore;
use crate::limits::Limits;
use crate::policy::Grants;
use crate::policy::resolve::LimitOverrides;
use crate::runtime::{RunError, RunReport, Runtime, Spell};
use metrics::Metrics;

/// One served spell: its deployment and what a request may change.
pub struct Served {
    pub spell: Spell,
    /// The most a run may use; a request may lower these, never raise them.
    pub limits: Limits,
    /// Vars a request may set.
    pub allowed_vars: Vec<String>,
    pub description: Option<String>,
    /// What its manifest asks for, and what the server granted.
    pub requested: Grants,
    pub granted: Grants,
    /// JSON Schema of its input, from the manifest.
    pub input_schema: Option<serde_json::Value>,
}

/// How the server admits requests.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub max_concurrent_runs: usize,
    pub max_runs_per_tenant: usize,
    pub max_body: usize,
    /// Requests without a token run as tenant `anonymous`.
    pub anonymous: bool,
    /// Token digests (hex SHA-256) and their tenants.
    pub tokens: Vec<(String, String)>,
}

/// A tenant: a runtime over its own state and events, and its share of runs.
pub struct Tenant {
    pub name: String,
    pub runtime: Runtime,
    pub bus: EventBus,
    slots: Arc<Semaphore>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No or an unknown token.
    Unauthorized(String),
    /// Too many runs at once (`global` or for the tenant).
    Busy(String),
}

impl Refusal {
    /// What to tell the caller.
    pub fn message(&self) -> &str {
        match self {
            Refusal::Unauthorized(m) | Refusal::Busy(m) => m,
        }
    }
}

/// Why a run request did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// No such spell; the message lists those there are.
    UnknownSpell(String),
    /// A var the spell does not take from requests.
    VarNotAllowed(String),
    Refused(Refusal),
}

/// A run the server admitted, holding its slots until it has run.
pub struct PendingRun {
    pub name: String,
    pub spell: Spell,
    pub input: String,
    pub limits: Limits,
    pub run: RunCtx,
    admission: Admission,
}

impl PendingRun {
    /// The tenant it runs as.
    pub fn tenant(&self) -> &str {
        &self.admission.tenant.name
    }

    /// The bus the run publishes on (its tenant's).
    pub fn bus(&self) -> &EventBus {
        &self.admission.tenant.bus
    }

    /// Starts following the run (before it starts, so nothing is missed).
    pub fn follow(&mut self) -> follow::Follow {
        let bus = self.admission.tenant.bus.clone();
        follow::Follow::start(&mut self.run, bus)
    }
}

/// What an admitted run holds until it ends.
pub struct Admission {
    pub tenant: Arc<Tenant>,
    _global: OwnedSemaphorePermit,
    _tenant: OwnedSemaphorePermit,
}

/// The server's state, shared by every request.
pub struct Server {
    base: Runtime,
    /// Swapped whole when `--watch` reloads a spell; a run keeps the
    /// deployment it started with.
    spells: std::sync::RwLock<Arc<BTreeMap<String, Arc<Served>>>>,
    tenants: Mutex<HashMap<String, Arc<Tenant>>>,
    tokens: HashMap<String, String>,
    options: ServerOptions,
    slots: Arc<Semaphore>,
    pub metrics: Metrics,
    /// Where HTTP runs go when a queue is configured (workers run them).
    queue: std::sync::OnceLock<Arc<dyn crate::queue::RunQueue>>,
}

impl Server {
    pub fn new(base: Runtime, spells: BTreeMap<String, Served>, options: ServerOptions) -> Self {
        let spells = spells.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        Self {
            tokens: options.tokens.iter().cloned().collect(),
            slots: Arc::new(Semaphore::new(options.max_concurrent_runs)),
            base,
            spells: std::sync::RwLock::new(Arc::new(spells)),
            tenants: Mutex::default(),
            options,
            metrics: Metrics::default(),
            queue: std::sync::OnceLock::new(),
        }
    }

    /// Sends the runs HTTP requests ask for to `queue`, for workers to run
    /// (set once, before serving).
    pub fn send_runs_to(&self, queue: Arc<dyn crate::queue::RunQueue>) {
        let _ = self.queue.set(queue);
    }

    /// The queue runs go to, if any.
    pub fn queue(&self) -> Option<&Arc<dyn crate::queue::RunQueue>> {
        self.queue.get()
    }

    /// The runtime spells are loaded with.
    pub fn runtime(&self) -> &Runtime {
        &self.base
    }

    /// The spells served now.
    pub fn spells(&self) -> Arc<BTreeMap<String, Arc<Served>>> {
        self.spells
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `served` as `name` from now on (runs already going keep the
    /// deployment they started with).
    pub fn replace_spell(&self, name: &str, served: Served) {
        let mut spells = self.spells.write().unwrap_or_else(|e| e.into_inner());
        let mut next = (**spells).clone();
        next.insert(name.to_owned(), Arc::new(served));
        *spells = Arc::new(next);
    }

    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// The tenant a request's `Authorization` header names.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Arc<Tenant>, Refusal> {
        let token = authorization.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        });
        let tenant = match token {
            Some(token) => self
                .tokens
                .get(&config::token_digest(token.trim()))
                .cloned()
                .ok_or_else(|| {
                    Refusal::Unauthorized("the bearer token is not one this server knows".into())
                })?,
            None if self.options.anonymous => config::ANONYMOUS.to_owned(),
            None if self.tokens.is_empty() => {
                return Err(Refusal::Unauthorized(
                    "this server takes no anonymous requests and has no tokens: add [[serve.tokens]] to its configuration, or start it with --anonymous".into(),
                ));
            }
            None => {
                return Err(Refusal::Unauthorized(
                    "send `Authorization: Bearer TOKEN`".into(),
                ));
            }
        };
        Ok(self.tenant(&tenant))
    }

    /// Waits (at most `within` each) until what the tenants' runs
    /// published, and the audit records so far, have reached the servers
    /// that share them.
    pub async fn flush_shared(&self, within: std::time::Duration) {
        let buses: Vec<EventBus> = self
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|tenant| tenant.bus.clone())
            .collect();
        for bus in buses {
            bus.flush(within).await;
        }
        self.base.flush_shared(within).await;
    }

    /// The tenant `name` (created on first use).
    pub fn tenant(&self, name: &str) -> Arc<Tenant> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        tenants
            .entry(name.to_owned())
            .or_insert_with(|| {
                let bus = self
                    .base
                    .services()
                    .events
                    .bus(Some(name))
                    .unwrap_or_else(|err| {
                        tracing::warn!("tenant `{name}`'s events stay in this process: {err}");
                        EventBus::default()
                    });
                let store = Arc::new(TenantStore::new(self.base.services().store.clone(), name));
                Arc::new(Tenant {
                    name: name.to_owned(),
                    runtime: self.base.with_state_and_events(store, bus.clone()),
                    bus,
                    slots: Arc::new(Semaphore::new(self.options.max_runs_per_tenant)),
                })
            })
            .clone()
    }

    /// Checks a run request of `tenant` for spell `name` and admits it: the
    /// vars must be ones the spell takes, the limits are the spell's lowered
    /// to `asked`, and a slot must be free.
    pub fn prepare_run(
        &self,
        tenant: Arc<Tenant>,
        name: &str,
        input: String,
        vars: &BTreeMap<String, String>,
        asked: LimitOverrides,
    ) -> Result<PendingRun, RequestError> {
        let spells = self.spells();
        let Some(served) = spells.get(name) else {
            self.metrics.rejected("unknown-spell");
            let known: Vec<&String> = spells.keys().collect();
            return Err(RequestError::UnknownSpell(format!(
                "no spell `{name}` here; this server runs: {known:?}"
            )));
        };
        if let Some(key) = vars.keys().find(|k| !served.allowed_vars.contains(k)) {
            self.metrics.rejected("bad-request");
            return Err(RequestError::VarNotAllowed(format!(
                "spell `{name}` takes no var `{key}` from requests; it takes: {:?} (the server's allowed_vars)",
                served.allowed_vars
            )));
        }
        let admission = self.admit(tenant).map_err(|refused| {
            self.metrics.rejected(match refused {
                Refusal::Unauthorized(_) => "unauthorized",
                Refusal::Busy(_) => "busy",
            });
            RequestError::Refused(refused)
        })?;
        let spell = if vars.is_empty() {
            served.spell.clone()
        } else {
            served.spell.with_vars(vars)
        };
        Ok(PendingRun {
            name: name.to_owned(),
            spell,
            input,
            limits: asked.lower(&served.limits),
            run: RunCtx::new(name).with_tenant(admission.tenant.name.clone()),
            admission,
        })
    }

    /// Runs an admitted run and counts it. Dropping the future cancels the
    /// run (and still counts it out of the runs in flight).
    pub async fn execute(&self, pending: PendingRun) -> RunReport {
        /// Counts the run as `cancelled` if it is dropped unfinished.
        struct Cancelled<'a> {
            metrics: &'a Metrics,
            name: &'a str,
            started: Instant,
            armed: bool,
        }
        impl Drop for Cancelled<'_> {
            fn drop(&mut self) {
                if self.armed {
                    let seconds = self.started.elapsed().as_secs_f64();
                    self.metrics
                        .finished(self.name, "cancelled", seconds, 0, 0, 0.0);
                }
            }
        }
        let _in_flight = self.metrics.start_run();
        let mut cancelled = Cancelled {
            metrics: &self.metrics,
            name: &pending.name,
            started: Instant::now(),
            armed: true,
        };
        let report = pending
            .admission
            .tenant
            .runtime
            .run_as(
                &pending.spell,
                &pending.input,
                &pending.limits,
                pending.run.clone(),
            )
            .await;
        cancelled.armed = false;
        let outcome = match &report.result {
            Ok(_) => "ok",
            Err(err) => error_kind(err),
        };
        self.metrics.finished(
            &pending.name,
            outcome,
            cancelled.started.elapsed().as_secs_f64(),
            report.stats.llm.input_tokens,
            report.stats.llm.output_tokens,
            report.stats.llm.cost_usd,
        );
        report
    }

    /// A slot for one run of `tenant`, or why there is none now.
    pub fn admit(&self, tenant: Arc<Tenant>) -> Result<Admission, Refusal> {
        let global = self.slots.clone().try_acquire_owned().map_err(|_| {
            Refusal::Busy(format!(
                "the server runs {} spells at once; try again shortly",
                self.options.max_concurrent_runs
            ))
        })?;
        let own = tenant.slots.clone().try_acquire_owned().map_err(|_| {
            Refusal::Busy(format!(
                "tenant `{}` runs {} spells at once; try again shortly",
                tenant.name, self.options.max_runs_per_tenant
            ))
        })?;
        Ok(Admission {
            tenant,
            _global: global,
            _tenant: own,
        })
    }
}

/// A short name for what ended a run: `failed`, `limit`, `crashed`,
/// `host-error`, `not-a-spell`.
pub fn error_kind(err: &RunError) -> &'static str {
    match err {
        RunError::Failed(_) => "failed",
        RunError::Limit(_) => "limit",
        RunError::Trap(_) => "crashed",
        RunError::Host(_) => "host-error",
        _ => "not-a-spell",
    }
}
