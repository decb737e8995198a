//! The process-wide wasmtime engine: its configuration, the compile cache,
//! and how a store is metered.
//!
//! Guest code is bounded without a second check on every loop and call
//! (epoch interruption; dropping it made CPU-heavy Lua ~17 % faster):
//! - fuel: the limit itself, and every [`FUEL_YIELD_INTERVAL`] units guest
//!   code hands control back to the async executor — that is where the
//!   tokio timeout around every call (the wall-clock deadline, which also
//!   covers host waits) gets to fire, and other tasks get their turn;
//! - a call hook: host work costs no fuel, so returning from any host call
//!   past the deadline is the timeout too (a loop of expensive host calls
//!   could otherwise run long between two yields).

use std::time::{Duration, Instant};

use crate::cache::CompileCache;
use crate::limits::LimitExceeded;

/// Fuel units guest code runs between two yields to the executor (a few
/// milliseconds of compute): how late a wall-clock deadline can fire.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// Instance slots reserved up front (wasmtime's pooling allocator), for a
/// server that instantiates a spell per request: memories, tables and async
/// stacks are reused from slot to slot instead of mapped and unmapped each
/// time. Slots are address space, not memory: what a run does not touch is
/// never backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePool {
    /// Component instances alive at once: runs, and their plugins' and
    /// workflow steps' instances.
    pub instances: u32,
    /// The most linear memory an instance may have (the largest memory
    /// limit of the spells served).
    pub max_memory_bytes: u64,
}

impl InstancePool {
    /// Core instances a component may have (an interpreter component is
    /// several core modules and adapter shims).
    const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
    /// Table entries per table (QuickJS's function table is the largest).
    const TABLE_ELEMENTS: usize = 64 * 1024;

    fn config(&self) -> wasmtime::PoolingAllocationConfig {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        let n = self.instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_core_instances_per_component(Self::CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .table_elements(Self::TABLE_ELEMENTS)
            .max_memory_size(usize::try_from(self.max_memory_bytes).unwrap_or(usize::MAX));
        pool
    }
}

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
    /// metering on; instances allocated on demand.
    pub fn new(cache: CompileCache) -> anyhow::Result<Self> {
        Self::with_pool(cache, None)
    }

    /// The same, with instances from `pool` when there is one.
    pub fn with_pool(cache: CompileCache, pool: Option<InstancePool>) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        if let Some(pool) = pool {
            config
                .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool.config()));
        }
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            // Interpreters (QuickJS, Lua) recurse on the native wasm stack:
            // 512 KiB (wasmtime's default) ends JS recursion near depth 2000.
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK + (1 << 20));
        // `SPELLHOST_PROFILE=perfmap` names guest functions for `perf`
        // (/tmp/perf-PID.map), as `wasmtime run --profile=perfmap` does.
        if std::env::var_os("SPELLHOST_PROFILE").is_some_and(|v| v == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
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

/// Gives a fresh store its fuel and its deadline, `timeout` from now. The
/// caller also wraps the call in a tokio timeout of the same length: guest
/// code yields to the executor every [`FUEL_YIELD_INTERVAL`] units so that
/// it can fire, and a return from the host past the deadline is
/// [`LimitExceeded::Timeout`].
pub fn meter<T: 'static>(
    store: &mut wasmtime::Store<T>,
    fuel: u64,
    timeout: Duration,
) -> wasmtime::Result<()> {
    store.set_fuel(fuel)?;
    store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))?;
    let deadline = Instant::now() + timeout;
    store.call_hook(move |_, hook| {
        if matches!(hook, wasmtime::CallHook::ReturningFromHost) && Instant::now() >= deadline {
            return Err(LimitExceeded::Timeout { limit: timeout }.into());
        }
        Ok(())
    });
    Ok(())
}
