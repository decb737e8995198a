//! The state bridge: scoped, persistent key-value state for spells.
//!
//! Scopes map to store namespaces: `spell` → `spell/<spell name>` in the
//! persistent store, `shared(n)` → `shared/<n>` in the persistent store
//! (only when granted with `--allow-state-ns n`), and `run` → a fresh
//! in-memory store dropped with the run. Every write is checked against
//! the run's state quota (`--state-quota`, `--state-keys`) for the
//! namespace it goes to — the run scope's too: it is the host's memory.
//! Keys are non-empty UTF-8 without NUL bytes (PostgreSQL text cannot
//! hold them, and the Redis store keeps its counters under NUL-led names). The persistent store is SQLite by
//! default, or Redis or PostgreSQL (`backend`), shared by every process
//! that names it.

pub mod backend;
mod host;
mod postgres;
mod redis;
mod sqlite;
mod store;
mod tenant;

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

use crate::limits::StateQuota;

pub use backend::StateBackend;
pub use postgres::PostgresStore;
pub use redis::RedisStore;
pub use sqlite::SqliteStore;
pub use store::{
    Condition, MemoryStore, QuotaExceeded, StateStore, StoreError, Usage, WriteError, check_quota,
};
pub use tenant::TenantStore;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// Per-instance state context.
pub struct StateCtx {
    /// Store for the `spell` and `shared` scopes.
    pub persistent: Arc<dyn StateStore>,
    /// Store for the `run` scope.
    pub run: Arc<dyn StateStore>,
    /// Name of the spell, which names its private namespace.
    pub spell_name: String,
    /// Shared namespaces the spell was granted (`*` grants all).
    pub shared_grants: Arc<[String]>,
    /// How much each namespace the spell writes to may hold.
    pub quota: StateQuota,
    pub recorder: crate::policy::audit::Recorder,
}

impl StateCtx {
    fn allows_shared(&self, name: &str) -> bool {
        self.shared_grants.iter().any(|g| g == "*" || g == name)
    }
}

/// What the generated `state` traits are implemented on.
pub struct StateView<'a> {
    pub ctx: &'a mut StateCtx,
    pub table: &'a mut ResourceTable,
}

struct StateBridge;

impl HasData for StateBridge {
    type Data<'a> = StateView<'a>;
}

/// Wires `spellhost:spell/state` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> StateView<'_>,
) -> wasmtime::Result<()> {
    crate::bindings::state::add_to_linker::<T, StateBridge>(linker, view)
}

/// An open scope: a store, the namespace within it, and its quota.
pub struct Bucket {
    store: Arc<dyn StateStore>,
    namespace: String,
    quota: StateQuota,
}
