//! `spellhost:spell/agent` for spells.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::DynPollable;

use crate::bindings::agent::{self, AgentConfig, AgentEvent};
use crate::bindings::hooks::{self, Decision};
use crate::bindings::llm::Message;

use super::{AgentHandle, AgentRun, AgentView};

impl agent::Host for AgentView<'_> {}

impl hooks::Host for AgentView<'_> {}

impl agent::HostAgent for AgentView<'_> {
    async fn new(&mut self, config: AgentConfig) -> wasmtime::Result<Resource<AgentHandle>> {
        Ok(self.table.push(AgentHandle::new(config))?)
    }

    async fn start(
        &mut self,
        this: Resource<AgentHandle>,
        input: String,
    ) -> wasmtime::Result<Resource<AgentRun>> {
        let run = self.table.get(&this)?.start_in(self.ctx, input);
        Ok(self.table.push(run)?)
    }

    async fn history(&mut self, this: Resource<AgentHandle>) -> wasmtime::Result<Vec<Message>> {
        Ok(self.table.get(&this)?.history().clone())
    }

    async fn reset(&mut self, this: Resource<AgentHandle>) -> wasmtime::Result<()> {
        self.table.get(&this)?.history().clear();
        Ok(())
    }

    async fn drop(&mut self, this: Resource<AgentHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl agent::HostAgentRun for AgentView<'_> {
    async fn subscribe(
        &mut self,
        this: Resource<AgentRun>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    async fn next(&mut self, this: Resource<AgentRun>) -> wasmtime::Result<Option<AgentEvent>> {
        Ok(self.table.get_mut(&this)?.next_event())
    }

    async fn reply_tool(
        &mut self,
        this: Resource<AgentRun>,
        call_id: String,
        output: Result<String, String>,
    ) -> wasmtime::Result<()> {
        self.table.get(&this)?.reply_tool(&call_id, output);
        Ok(())
    }

    async fn decide(
        &mut self,
        this: Resource<AgentRun>,
        hook_id: u64,
        decision: Decision,
    ) -> wasmtime::Result<()> {
        self.table.get(&this)?.decide(hook_id, decision);
        Ok(())
    }

    async fn drop(&mut self, this: Resource<AgentRun>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
