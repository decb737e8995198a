//! `spellhost:spell/tool` for spells.

use serde_json::Value;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynPollable, subscribe};

use crate::bindings::tool::{self, Error, ToolInfo};

use super::{PendingCall, ToolCallError, ToolView};

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
        let arguments = match parse_arguments(&name, &arguments_json) {
            Ok(arguments) => arguments,
            Err(err) => return Ok(Err(err.into())),
        };
        Ok(self
            .ctx
            .call(&name, arguments)
            .await
            .map(|value| value.to_string())
            .map_err(Error::from))
    }

    async fn start_call(
        &mut self,
        name: String,
        arguments_json: String,
    ) -> wasmtime::Result<Resource<PendingCall>> {
        let pending = match parse_arguments(&name, &arguments_json) {
            Ok(arguments) => self.ctx.start(name, arguments),
            Err(err) => PendingCall::failed(err),
        };
        Ok(self.table.push(pending)?)
    }

    async fn register(&mut self, info: ToolInfo) -> ToolResult<()> {
        Ok(self.ctx.register(info).map_err(Error::from))
    }
}

impl tool::HostPendingCall for ToolView<'_> {
    async fn subscribe(
        &mut self,
        this: Resource<PendingCall>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, this)
    }

    async fn get(
        &mut self,
        this: Resource<PendingCall>,
    ) -> wasmtime::Result<Option<Result<String, Error>>> {
        Ok(self
            .table
            .get_mut(&this)?
            .take()
            .map(|outcome| outcome.map(|value| value.to_string()).map_err(Error::from)))
    }

    async fn drop(&mut self, this: Resource<PendingCall>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

fn parse_arguments(name: &str, arguments_json: &str) -> Result<Value, ToolCallError> {
    serde_json::from_str(arguments_json).map_err(|err| {
        ToolCallError::InvalidArguments(format!("the arguments of `{name}` are not JSON: {err}"))
    })
}
