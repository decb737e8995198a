//! The script bridge: hands an interpreter component the script it runs.
//!
//! Only the prebuilt interpreters import `spellhost:spell/script`; a run
//! of a `.lua` or `.js` file carries its source here, and its modules
//! (`require`, `import`) are read through it from the spell's directory
//! ([`crate::scripts::Modules`]).

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::script;
use crate::scripts::{ModuleError, Purpose, ScriptSource};

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

    async fn purpose(&mut self) -> wasmtime::Result<script::ScriptPurpose> {
        Ok(match self.source.as_ref().map(|s| s.purpose) {
            Some(Purpose::Check) => script::ScriptPurpose::Check,
            _ => script::ScriptPurpose::Run,
        })
    }

    async fn load_module(
        &mut self,
        path: String,
    ) -> wasmtime::Result<Result<script::ScriptSource, script::ModuleError>> {
        let Some(source) = &self.source else {
            return Ok(Err(script::ModuleError::NotFound(format!(
                "no module {path}: there is no script in this run"
            ))));
        };
        // The directory is read on the blocking pool: a slow disk must not
        // stall the runtime's workers.
        let modules = source.modules.clone();
        let loaded = tokio::task::spawn_blocking(move || modules.load(&path)).await?;
        Ok(match loaded {
            Ok((name, code)) => Ok(script::ScriptSource { name, code }),
            Err(ModuleError::NotFound(m)) => Err(script::ModuleError::NotFound(m)),
            Err(ModuleError::Outside(m)) => Err(script::ModuleError::Outside(m)),
            Err(ModuleError::Invalid(m)) => Err(script::ModuleError::Invalid(m)),
        })
    }
}
