//! How many threads the local model computes with, settled once per
//! process.
//!
//! candle asks for its thread count on every matrix product and, unless
//! `RAYON_NUM_THREADS` is set, works it out each time by parsing
//! `/proc/cpuinfo`: sixty reads per generated token for SmolLM2, ~2.3 ms of
//! an ~11 ms token on a 2-core machine. Setting the variables once, to what
//! candle would have found, makes every later ask an environment look-up and
//! changes nothing else for candle.

/// Sets `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS`, each unless the user
/// has set it to a thread count, to candle's default: the physical cores
/// (it honours a user's `RAYON_NUM_THREADS`). rayon's global pool, where wasmtime compiles
/// in parallel, takes the same size: on a machine with two hardware threads
/// per core, half its logical CPUs.
///
/// # Safety
/// Sets environment variables: call it first thing in `main`, before any
/// other thread exists.
pub unsafe fn settle_thread_counts() {
    let unset: Vec<&str> = ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"]
        .into_iter()
        .filter(|var| {
            std::env::var(var)
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .is_none_or(|n| n == 0)
        })
        .collect();
    // A value candle would ignore (0, not a number) is replaced too; it
    // must be gone before candle works out its default.
    for var in &unset {
        // SAFETY: the caller guarantees no other thread exists yet.
        unsafe { std::env::remove_var(var) };
    }
    let threads = candle_core::utils::get_num_threads().to_string();
    for var in &unset {
        // SAFETY: as above.
        unsafe { std::env::set_var(var, &threads) };
    }
}
