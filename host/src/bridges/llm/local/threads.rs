//! How many threads the local model computes with, settled once per
//! process.
//!
//! candle asks for its thread count on every matrix product and, unless
//! `RAYON_NUM_THREADS` is set, works it out each time by parsing
//! `/proc/cpuinfo`: sixty reads per generated token for SmolLM2, ~2.3 ms of
//! an ~11 ms token on a 2-core machine. Setting the variables once makes
//! every later ask an environment look-up.

/// Sets, when the user has not:
/// - `CANDLE_NUM_THREADS` (candle's worker pool for quantized products,
///   where nearly all of a token's time goes) to the count candle would
///   have found, the physical cores;
/// - `RAYON_NUM_THREADS` to every logical CPU, the size rayon's pools take
///   without it (wasmtime's parallel compilation uses the global one), now
///   also candle's float products.
///
/// # Safety
/// Sets environment variables: call it first thing in `main`, before any
/// other thread exists.
pub unsafe fn settle_thread_counts() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        let physical = candle_core::utils::get_num_threads();
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", physical.to_string()) };
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: as above.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", logical.to_string()) };
    }
}
