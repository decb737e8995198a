//! Prepared components: compiled (or loaded from the compile cache),
//! type-checked against the spell world and pre-instantiated with every
//! bridge linked — once per distinct component per process, however many
//! deployments (a name, grants, vars, plugins, an audit log) use it. A
//! server that runs one spell for many callers, or many script spells on
//! one interpreter, prepares each component once.
//!
//! The in-memory table is keyed by the SHA-256 of the component's bytes and
//! holds its entries weakly: a component no deployment uses any more is
//! freed, and a later load prepares it again (from the compile cache).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::SpellState;
use crate::bindings::SpellPre;
use crate::cache::CompileSource;

/// A component ready to be instantiated by any number of runs.
pub struct PreparedComponent {
    /// SHA-256 of the component's bytes (hex).
    pub digest: String,
    pub(crate) pre: SpellPre<SpellState>,
    /// How it was obtained when first prepared.
    pub source: CompileSource,
    /// How long that took.
    pub compile_time: Duration,
}

/// The hex SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Prepared components of this process, by digest (see the module docs).
#[derive(Default)]
pub(crate) struct PreparedTable {
    entries: Mutex<HashMap<String, Weak<PreparedComponent>>>,
}

impl PreparedTable {
    /// The component with `digest` if a deployment still uses it.
    pub fn get(&self, digest: &str) -> Option<Arc<PreparedComponent>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(digest).and_then(Weak::upgrade)
    }

    /// Keeps `prepared` — or returns the one another thread kept first,
    /// with `false` — and forgets entries nobody uses any more.
    pub fn insert(&self, prepared: PreparedComponent) -> (Arc<PreparedComponent>, bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = entries.get(&prepared.digest).and_then(Weak::upgrade) {
            return (existing, false);
        }
        entries.retain(|_, entry| entry.strong_count() > 0);
        let prepared = Arc::new(prepared);
        entries.insert(prepared.digest.clone(), Arc::downgrade(&prepared));
        (prepared, true)
    }

    /// How many prepared components are alive.
    pub fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.values().filter(|e| e.strong_count() > 0).count()
    }
}
