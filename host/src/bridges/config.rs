//! The config bridge: read-only `--var key=value` settings for a spell.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::config;

/// Per-instance config context; the map is shared by every run of a spell.
pub struct ConfigCtx {
    pub vars: Arc<BTreeMap<String, String>>,
}

struct ConfigBridge;

impl HasData for ConfigBridge {
    type Data<'a> = &'a mut ConfigCtx;
}

/// Wires `spellhost:spell/config` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> &mut ConfigCtx,
) -> wasmtime::Result<()> {
    config::add_to_linker::<T, ConfigBridge>(linker, view)
}

impl config::Host for &mut ConfigCtx {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.vars.get(&key).cloned())
    }

    async fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
