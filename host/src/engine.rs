//! The process-wide wasmtime engine: its configuration, the compile cache,
//! and how a store is metered.
//!
//! One mechanism bounds guest code: fuel. Besides the fuel limit itself,
//! guest code hands control back to the async executor every
//! [`FUEL_YIELD_INTERVAL`] units, which is where the tokio timeout around
//! every call (the wall-clock deadline, which also covers host waits) gets
//! to fire and where other tasks get their turn. Epoch interruption would
//! do the same job at a second check on every loop and call: measured on
//! the Lua interpreter, dropping it made CPU-heavy scripts ~17 % faster.

use crate::cache::CompileCache;

/// Fuel units guest code runs between two yields to the executor (a few
/// milliseconds of compute): how late a wall-clock deadline can fire.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// One per process: compiling and running components share it.
#[derive(Clone)]
pub struct SpellEngine {
    engine: wasmtime::Engine,
    cache: CompileCache,
}

/// The native stack a guest may use.
pub const MAX_WASM_STACK: usize = 8 << 20;

impl SpellEngine {
    /// Builds the engine: component model, async host calls and fuel
    /// metering on.
    pub fn new(cache: CompileCache) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            // Interpreters (QuickJS, Lua) recurse on the native wasm stack:
            // 512 KiB (wasmtime's default) ends JS recursion near depth 2000.
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK + (1 << 20));
        let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;
        Ok(Self { engine, cache })
    }

    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub fn cache(&self) -> &CompileCache {
        &self.cache
    }
}

/// Gives a fresh store its fuel and makes its guest code yield to the
/// executor every [`FUEL_YIELD_INTERVAL`] units, so that a timeout around
/// the call can stop a guest that never calls the host.
pub fn meter<T>(store: &mut wasmtime::Store<T>, fuel: u64) -> wasmtime::Result<()> {
    store.set_fuel(fuel)?;
    store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))
}
