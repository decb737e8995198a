//! `spellhost:spell/tool` for spells.

use crate::bindings::tool::{self, Error, ToolInfo};

use super::ToolView;

type ToolResult<T> = wasmtime::Result<Result<T, Error>>;

impl tool::Host for ToolView<'_> {
    async fn list_tools(&mut self) -> wasmtime::Result<Vec<(ToolInfo, String)>> {
        Ok(self
            .ctx
            .list()
            .into_iter()
            .map(|entry| (entry.info, entry.provider.label()))
            .collect())
    }

    async fn describe(&mut self, name: String) -> wasmtime::Result<Option<ToolInfo>> {
        Ok(self.ctx.lookup(&name).map(|entry| entry.info))
    }

    async fn call(&mut self, name: String, arguments_json: String) -> ToolResult<String> {
        let arguments = match serde_json::from_str(&arguments_json) {
            Ok(arguments) => arguments,
            Err(err) => {
                return Ok(Err(Error::InvalidArguments(format!(
                    "the arguments of `{name}` are not JSON: {err}"
                ))));
            }
        };
        Ok(self
            .ctx
            .call(&name, arguments)
            .await
            .map(|value| value.to_string())
            .map_err(Error::from))
    }

    async fn register(&mut self, info: ToolInfo) -> ToolResult<()> {
        Ok(self.ctx.register(info).map_err(Error::from))
    }
}
