//! # spellhost SDK for Rust
//!
//! Write spells — LLM programs that run as sandboxed WebAssembly components
//! under `spellhost run` — in plain Rust:
//!
//! ```ignore
//! use spellhost_sdk::{export_spell, llm};
//!
//! fn run(input: String) -> spellhost_sdk::Result<String> {
//!     let question = if input.is_empty() { "What is WebAssembly?".into() } else { input };
//!     llm::ask(&question)
//! }
//!
//! export_spell!(run);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2` (crate type `cdylib`) and
//! run the `.wasm` with `spellhost run`.
//!
//! Modules mirror the WIT bridges: [`llm`] (chat, concurrent requests,
//! streaming, embeddings), [`state`] (scoped key-value state with JSON
//! helpers), [`event`] (publish/subscribe), [`log`] and [`config`]; [`http`]
//! makes outgoing requests through `wasi:http` within the `--allow-net` grants. The raw
//! generated bindings are in [`bindings`] for anything the wrappers do not
//! cover.

pub mod agent;
pub mod config;
mod error;
pub mod event;
pub mod hook;
pub mod http;
pub mod llm;
pub mod log;
pub mod plugin;
pub mod state;
pub mod tool;
mod wait;
pub mod workflow;

pub use error::{Error, Result};

/// Raw bindings generated from spellhost's WIT (`spell` world).
pub mod bindings {
    wit_bindgen::generate!({
        world: "spell",
        path: "../../wit",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_spell_world",
        default_bindings_module: "spellhost_sdk::bindings",
    });
}

/// Exports a function `fn(String) -> Result<impl Into<String>, impl Display>`
/// as the spell's `run`.
///
/// The `Ok` value becomes the spell's output; an `Err` is shown to the user
/// and makes `spellhost run` exit with code 1.
#[macro_export]
macro_rules! export_spell {
    ($run:path) => {
        struct __SpellhostSpell;

        impl $crate::bindings::Guest for __SpellhostSpell {
            fn run(input: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $run(input).map(::std::convert::Into::into).map_err(|e| ::std::string::ToString::to_string(&e))
            }
        }

        $crate::bindings::__export_spell_world!(__SpellhostSpell with_types_in $crate::bindings);
    };
}
