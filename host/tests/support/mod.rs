//! Shared test support: paths of guest components, a fake OpenAI-compatible
//! server, and a runtime wired to temporary state.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

pub mod contract;
pub mod fake_llm;
pub mod listening;
pub mod otlp;
pub mod scripts;
pub mod servers;
pub mod web;

use std::path::PathBuf;

/// Path of a test guest (`tests/guests/src/bin/<name>.rs`) or example spell.
///
/// Guests are built by `just test-guests` (and `just spells`), not by
/// `cargo test`, so the test build never runs a nested cargo.
pub fn guest(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/spell")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "guest component {} is missing: build the guests first with `just test-guests` \
         (cargo build --target wasm32-wasip2 --profile spell -p spellhost-test-guests)",
        path.display()
    );
    path
}

/// A `spellhost` command isolated from the user's files: working in
/// `home`, with its own data and config directories, the tests' compile
/// cache, no models directory of the user's, and no provider variables.
pub fn spellhost_command(home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spellhost"));
    command
        .current_dir(home)
        .env("SPELLHOST_DATA_DIR", home.join("data"))
        .env(
            "SPELLHOST_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("SPELLHOST_MODEL")
        .env_remove("SPELLHOST_MODELS_DIR")
        .env_remove("SPELLHOST_LOG")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("GEMINI_API_KEY")
        .env_remove("GEMINI_BASE_URL")
        .env_remove("OLLAMA_HOST");
    command
}

/// The test host's builder: the runtime's in-process defaults with the
/// compile cache every test process shares. Tests add what they need (a
/// router, a state file, a bus to watch). What spells print becomes log
/// lines, as in a server: floods stay out of the test output.
pub fn test_runtime() -> spellhost::runtime::RuntimeBuilder {
    spellhost::runtime::Runtime::builder()
        .compile_cache(spellhost::cache::CompileCache::at(shared_cache_dir()))
        .guest_stdout(spellhost::sandbox::stdio::GuestStdout::Log)
}

/// A compile cache shared by every test process, so each guest is compiled
/// once per test run rather than once per test.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}
