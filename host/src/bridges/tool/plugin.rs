//! Tool plugins: components exporting `tool-provider` (world
//! `tool-plugin`), loaded with `spellhost run spell.wasm --tool plugin.wasm`.
//! Each call runs in a fresh instance of the plugin's own sandbox
//! ([`PluginSandbox`]), whatever the spell was granted.

use std::sync::Arc;

use serde_json::Value;
use wasmtime::component::Linker;

use crate::bindings::tool::ToolInfo;
use crate::bindings::tool_plugin::{ToolPlugin as Bindings, ToolPluginPre};
use crate::bridges::run::RunCtx;
use crate::sandbox::RunError;
use crate::sandbox::plugin::{PluginSandbox, PluginState};

use super::ToolCallError;

/// A loaded tool plugin and the tools it provides.
pub struct ToolPlugin {
    sandbox: PluginSandbox,
    pre: ToolPluginPre<PluginState>,
    tools: Vec<ToolInfo>,
}

impl ToolPlugin {
    /// Links the plugin and asks it for its tools (one instance).
    pub async fn load(
        linker: &Linker<PluginState>,
        sandbox: PluginSandbox,
    ) -> Result<Arc<Self>, RunError> {
        let pre = sandbox.link(
            linker,
            "tool plugin (it must export spellhost:spell/tool-provider)",
            ToolPluginPre::new,
        )?;
        let mut store = sandbox.store(None).map_err(RunError::Host)?;
        let tools = sandbox
            .guard(async {
                let plugin: Bindings = pre.instantiate_async(&mut store).await?;
                plugin
                    .spellhost_spell_tool_provider()
                    .call_tools(&mut store)
                    .await
            })
            .await
            .map_err(RunError::Failed)?;
        Ok(Arc::new(Self {
            sandbox,
            pre,
            tools,
        }))
    }

    pub fn name(&self) -> &str {
        self.sandbox.name()
    }

    pub fn tools(&self) -> &[ToolInfo] {
        &self.tools
    }

    /// Runs tool `name` in a fresh instance, for `run`.
    pub async fn call(
        &self,
        name: &str,
        arguments: &Value,
        run: &RunCtx,
    ) -> Result<Value, ToolCallError> {
        let mut store = self
            .sandbox
            .store(Some(run))
            .map_err(|e| ToolCallError::Failed(format!("{e:#}")))?;
        let arguments = arguments.to_string();
        let output = self
            .sandbox
            .guard(async {
                let plugin: Bindings = self.pre.instantiate_async(&mut store).await?;
                plugin
                    .spellhost_spell_tool_provider()
                    .call_call(&mut store, name, &arguments)
                    .await
            })
            .await
            .map_err(ToolCallError::Failed)?
            .map_err(ToolCallError::Failed)?;
        serde_json::from_str(&output).map_err(|e| {
            ToolCallError::Failed(format!(
                "tool plugin {} returned a result that is not JSON: {e}",
                self.name()
            ))
        })
    }
}
