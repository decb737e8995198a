//! The data a spell's `Store` holds: one context per bridge, the resource
//! table they share, WASI, and the limiter.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use crate::bridges::agent::AgentCtx;
use crate::bridges::config::ConfigCtx;
use crate::bridges::event::EventCtx;
use crate::bridges::http::HttpCtx;
use crate::bridges::llm::LlmCtx;
use crate::bridges::log::LogCtx;
use crate::bridges::script::ScriptCtx;
use crate::bridges::state::StateCtx;
use crate::bridges::tool::ToolCtx;
use crate::bridges::workflow::WorkflowCtx;
use crate::limits::RunLimiter;

/// `T` in `Store<T>` for a spell instance.
pub struct SpellState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: HttpCtx,
    pub llm: LlmCtx,
    pub state: StateCtx,
    pub events: EventCtx,
    pub log: LogCtx,
    pub config: ConfigCtx,
    pub script: ScriptCtx,
    pub tools: ToolCtx,
    pub agent: AgentCtx,
    pub workflow: WorkflowCtx,
    pub limiter: RunLimiter,
}

impl WasiView for SpellState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for SpellState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.wasi,
            table: &mut self.table,
            hooks: &mut self.http.hooks,
        }
    }
}
