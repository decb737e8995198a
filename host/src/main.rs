//! The `spellhost` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    // SAFETY: the first thing the process does; no other thread exists.
    unsafe { spellhost::bridges::llm::local::settle_thread_counts() };
    spellhost::cli::main()
}
