//! The script bridge: hands an interpreter component the script it runs.
//!
//! Only the prebuilt interpreters import `spellhost:spell/script`; a run
//! of a `.lua` or `.js` file carries its source here.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::script;
use crate::scripts::ScriptSource;

/// Per-instance context: the script of this run, if it is a script run.
pub struct ScriptCtx {
    pub source: Option<Arc<ScriptSource>>,
}

struct ScriptBridge;

impl HasData for ScriptBridge {
    type Data<'a> = &'a mut ScriptCtx;
}

/// Wires `spellhost:spell/script` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> &mut ScriptCtx,
) -> wasmtime::Result<()> {
    script::add_to_linker::<T, ScriptBridge>(linker, view)
}

impl script::Host for &mut ScriptCtx {
    async fn source(&mut self) -> wasmtime::Result<script::ScriptSource> {
        match &self.source {
            Some(source) => Ok(script::ScriptSource {
                name: source.name.clone(),
                code: source.code.clone(),
            }),
            None => Err(wasmtime::Error::msg(
                "this component is a script interpreter and there is no script to run: \
                 run the script itself (`spellhost run spell.lua`)",
            )),
        }
    }
}
