//! The one way to wire a [`Runtime`]: an engine with its compile cache, the
//! model router, the state store, the event bus and the model catalog.
//! Everything has an in-process default, so a test or an embedder names only
//! what it changes:
//!
//! | part | default |
//! |---|---|
//! | compile cache | none (compiled in memory) |
//! | model router | no providers, no default model |
//! | state store | in memory ([`MemoryStore`]) |
//! | event bus | in process |
//! | model catalog | the built-in one |
//! | audit trail | none (a spell may bring its own) |
//! | instances | allocated on demand (a server may pool them) |
//! | pulled packages | none (`oci://` workflow steps refused) |

use std::sync::Arc;

use super::{HostServices, Runtime};
use crate::bridges::event::{EventBus, EventsBackend};
use crate::bridges::llm::{ModelCatalog, ModelRouter};
use crate::bridges::state::{MemoryStore, StateStore};
use crate::cache::CompileCache;
use crate::engine::{InstancePool, SpellEngine};
use crate::sandbox::stdio::GuestStdout;

/// Builds a [`Runtime`]; see the module docs for the defaults.
#[must_use]
pub struct RuntimeBuilder {
    cache: CompileCache,
    router: ModelRouter,
    store: Arc<dyn StateStore>,
    bus: EventBus,
    events: EventsBackend,
    catalog: Arc<ModelCatalog>,
    audit: Option<crate::policy::audit::Audit>,
    pool: Option<InstancePool>,
    packages: Option<Arc<dyn crate::market::Packages>>,
    guest_stdout: GuestStdout,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            cache: CompileCache::disabled(),
            router: ModelRouter::new(),
            store: Arc::new(MemoryStore::new()),
            bus: EventBus::default(),
            events: EventsBackend::Local,
            catalog: Arc::default(),
            audit: None,
            pool: None,
            packages: None,
            guest_stdout: GuestStdout::default(),
        }
    }
}

impl RuntimeBuilder {
    /// Pulled packages workflow steps may run (`oci://` references).
    pub fn packages(mut self, packages: Option<Arc<dyn crate::market::Packages>>) -> Self {
        self.packages = packages;
        self
    }

    /// Where compiled components are kept between processes.
    pub fn compile_cache(mut self, cache: CompileCache) -> Self {
        self.cache = cache;
        self
    }

    /// Providers, aliases and the default model.
    pub fn router(mut self, router: ModelRouter) -> Self {
        self.router = router;
        self
    }

    /// The store behind the `spell` and `shared` state scopes.
    pub fn state(self, store: impl StateStore) -> Self {
        self.shared_state(Arc::new(store))
    }

    /// The same, from a store already shared (as [`StateBackend::open`]
    /// gives one).
    ///
    /// [`StateBackend::open`]: crate::bridges::state::StateBackend::open
    pub fn shared_state(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = store;
        self
    }

    /// The bus host and spell events go through (keep a clone to watch it).
    /// Where the buses a server makes per tenant go besides in process
    /// (in process only by default).
    pub fn events_backend(mut self, events: EventsBackend) -> Self {
        self.events = events;
        self
    }

    pub fn events(mut self, bus: EventBus) -> Self {
        self.bus = bus;
        self
    }

    /// What each model accepts and costs.
    pub fn catalog(mut self, catalog: ModelCatalog) -> Self {
        self.catalog = Arc::new(catalog);
        self
    }

    /// The deployment's audit trail, for every spell loaded without one of
    /// its own.
    pub fn audit(mut self, audit: Option<crate::policy::audit::Audit>) -> Self {
        self.audit = audit;
        self
    }

    /// Instances from a pool of slots reserved up front, for a server
    /// (on demand by default).
    pub fn instance_pool(mut self, pool: Option<InstancePool>) -> Self {
        self.pool = pool;
        self
    }

    /// Where spells' stdout goes (default: the host's stderr, so the
    /// host's stdout stays its own).
    pub fn guest_stdout(mut self, to: GuestStdout) -> Self {
        self.guest_stdout = to;
        self
    }

    /// Creates the engine and wires every bridge.
    pub fn build(self) -> anyhow::Result<Runtime> {
        let engine = SpellEngine::with_pool(self.cache, self.pool)?;
        let services = HostServices {
            router: Arc::new(self.router),
            store: self.store,
            bus: self.bus,
            events: self.events,
            catalog: self.catalog,
            audit: self.audit,
            packages: self.packages,
            guest_stdout: self.guest_stdout,
        };
        Runtime::new(engine, services)
    }
}
