//! The process-wide wasmtime engine: configuration, the epoch ticker that
//! drives wall-clock deadlines, and the compile cache.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::CompileCache;

/// How often the engine's epoch advances. Deadlines are rounded up to it.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One per process: compiling and running components share it.
#[derive(Clone)]
pub struct SpellEngine {
    engine: wasmtime::Engine,
    cache: CompileCache,
    _ticker: Arc<EpochTicker>,
}

/// The native stack a guest may use.
pub const MAX_WASM_STACK: usize = 8 << 20;

impl SpellEngine {
    /// Builds the engine: component model, async host calls, fuel metering
    /// and epoch interruption all on.
    pub fn new(cache: CompileCache) -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            // Interpreters (QuickJS, Lua) recurse on the native wasm stack:
            // 512 KiB (wasmtime's default) ends JS recursion near depth 2000.
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK + (1 << 20));
        let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;
        let ticker = Arc::new(EpochTicker::start(engine.clone()));
        Ok(Self {
            engine,
            cache,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub fn cache(&self) -> &CompileCache {
        &self.cache
    }
}

/// A background thread that increments the engine epoch every `EPOCH_TICK`
/// and stops when dropped.
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("spellhost-epoch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
