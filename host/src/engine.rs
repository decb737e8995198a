//! The process-wide wasmtime engines: their configuration, the compile
//! cache, and how a store is metered.
//!
//! Guest code is bounded in one of two ways ([`Metering`]), each compiled
//! by an engine of its own (the compile cache keeps both):
//! - **deadline** (the default): epoch interruption. A ticker thread
//!   advances the engine's epoch every [`EPOCH_TICK`]; at each tick the
//!   guest yields to the async executor and the deadline is checked, so a
//!   runaway spell ends at `--timeout` and never holds a thread. Code pays
//!   one check per loop and call (measured: CPU-heavy Lua ~12 % faster
//!   than under fuel, see the README's design section);
//! - **fuel** (when a fuel limit is asked for, `--fuel` or a manifest's
//!   `fuel`): every instruction is counted, the limit is exact, and every
//!   [`FUEL_YIELD_INTERVAL`] units the guest yields to the executor so the
//!   deadline can fire.
//!
//! Either way a call hook ends the run when a host call returns past the
//! deadline (host work is not guest code: a loop of expensive host calls
//! could otherwise run long between two checks), and memory is bounded by
//! the store's limiter.

use std::time::{Duration, Instant};

use crate::cache::CompileCache;
use crate::limits::LimitExceeded;

/// Fuel units guest code runs between two yields to the executor (a few
/// milliseconds of compute): how late a wall-clock deadline can fire.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// How often the deadline engine's epoch advances: how late a deadline
/// can fire, and how long guest code runs between two yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How a store bounds guest code (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metering {
    /// Instructions counted against a fuel limit.
    Fuel,
    /// Only the wall clock (epoch interruption).
    Deadline,
}

impl Metering {
    /// The metering a run with this fuel limit needs: fuel only when there
    /// is a limit ([`crate::limits::Limits::NO_FUEL`] is none).
    pub fn for_fuel(fuel: u64) -> Metering {
        if fuel == crate::limits::Limits::NO_FUEL {
            Metering::Deadline
        } else {
            Metering::Fuel
        }
    }
}

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

/// One per process: compiling and running components share it. Clones
/// share the engines.
#[derive(Clone)]
pub struct SpellEngine {
    /// Fuel-metered: runs with a fuel limit, plugins and `json_query`.
    engine: wasmtime::Engine,
    /// Deadline-only (epoch interruption): runs without a fuel limit.
    deadline: wasmtime::Engine,
    cache: CompileCache,
}

/// The native stack a guest may use.
pub const MAX_WASM_STACK: usize = 8 << 20;

impl SpellEngine {
    /// Builds the engines: component model and async host calls on;
    /// instances allocated on demand.
    pub fn new(cache: CompileCache) -> anyhow::Result<Self> {
        Self::with_pool(cache, None)
    }

    /// The same, with instances from `pool` when there is one.
    pub fn with_pool(cache: CompileCache, pool: Option<InstancePool>) -> anyhow::Result<Self> {
        let build = |metering: Metering| {
            let mut config = wasmtime::Config::new();
            if let Some(pool) = pool {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
                    pool.config(),
                ));
            }
            config
                .wasm_component_model(true)
                .consume_fuel(metering == Metering::Fuel)
                .epoch_interruption(metering == Metering::Deadline)
                .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable)
                .cranelift_opt_level(wasmtime::OptLevel::Speed)
                // Interpreters (QuickJS, Lua) recurse on the native wasm
                // stack: 512 KiB (wasmtime's default) ends JS recursion near
                // depth 2000.
                .max_wasm_stack(MAX_WASM_STACK)
                .async_stack_size(MAX_WASM_STACK + (1 << 20));
            wasmtime::Engine::new(&config).map_err(anyhow::Error::from)
        };
        let engine = build(Metering::Fuel)?;
        let deadline = build(Metering::Deadline)?;
        tick(&deadline);
        Ok(Self {
            engine,
            deadline,
            cache,
        })
    }

    /// The fuel-metered engine (plugins, `json_query`, inspection).
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// The engine that compiles and runs code metered as `metering`.
    pub fn for_metering(&self, metering: Metering) -> &wasmtime::Engine {
        match metering {
            Metering::Fuel => &self.engine,
            Metering::Deadline => &self.deadline,
        }
    }

    pub fn cache(&self) -> &CompileCache {
        &self.cache
    }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread of its own,
/// until the engine is dropped.
fn tick(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("spellhost-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("starting the epoch ticker thread");
}

/// Gives a store its limit on guest code and its deadline, `timeout` from
/// now, as `metering` (the store's engine's) says: fuel (`fuel` units,
/// yielding every [`FUEL_YIELD_INTERVAL`]) or epoch ticks (yielding and
/// checking the deadline at each). The caller also wraps the call in a
/// tokio timeout of the same length, which the yields let fire; a return
/// from the host past the deadline is [`LimitExceeded::Timeout`].
pub fn meter<T: 'static>(
    store: &mut wasmtime::Store<T>,
    metering: Metering,
    fuel: u64,
    timeout: Duration,
) -> wasmtime::Result<()> {
    let deadline = Instant::now() + timeout;
    match metering {
        Metering::Fuel => {
            store.set_fuel(fuel)?;
            store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))?;
        }
        Metering::Deadline => {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline {
                    return Err(LimitExceeded::Timeout { limit: timeout }.into());
                }
                Ok(wasmtime::UpdateDeadline::Yield(1))
            });
        }
    }
    store.call_hook(move |_, hook| {
        if matches!(hook, wasmtime::CallHook::ReturningFromHost) && Instant::now() >= deadline {
            return Err(LimitExceeded::Timeout { limit: timeout }.into());
        }
        Ok(())
    });
    Ok(())
}
