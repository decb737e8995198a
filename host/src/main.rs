//! The `spellhost` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    spellhost::cli::main()
}
