//! # spellhost-script: what every script interpreter shares
//!
//! The Lua and JavaScript interpreter components are thin: each converts
//! its language's values to and from JSON and drives its own scheduler
//! (Lua coroutines, JS promises). Everything else lives here, written once:
//!
//! - [`bindings`]: the `interpreter` world (the `spell` world plus the
//!   `script` import that hands the interpreter its program);
//! - [`Bridge`]: every spellhost bridge as a named operation on JSON
//!   (`"state.get"`, `"llm.start"`, `"tool.start"`, …), with errors as
//!   [`ScriptError`]s that carry the WIT error's kind and message;
//! - operations in flight (LLM requests, streams, agent runs,
//!   subscriptions) as numbered handles a scheduler waits on together
//!   (`"ops.wait"`), so several LLM calls really run at once in the host.
//!
//! The operation names and JSON shapes are the contract the language
//! preludes (`guest-sdks/lua/src/prelude.lua`, `guest-sdks/js/src/prelude.js`)
//! are written against; `docs/lua.md` and `docs/javascript.md` document
//! the APIs they build.

mod bridge;
mod convert;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod ops;

pub use bridge::Bridge;
pub use error::ScriptError;
pub use serde_json::Value;

/// Raw bindings of the `interpreter` world.
pub mod bindings {
    wit_bindgen::generate!({
        world: "interpreter",
        path: "../../wit",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_interpreter_world",
        default_bindings_module: "spellhost_script::bindings",
    });
}

/// The script this run executes: `(file name, source)`.
pub fn script() -> (String, String) {
    let source = bindings::spellhost::spell::script::source();
    (source.name, source.code)
}

/// Exports an interpreter: `$run` is `fn(name: String, code: String,
/// input: String) -> Result<String, String>`.
#[macro_export]
macro_rules! export_interpreter {
    ($run:path) => {
        struct __SpellhostInterpreter;

        impl $crate::bindings::Guest for __SpellhostInterpreter {
            fn run(input: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                let (name, code) = $crate::script();
                $run(name, code, input)
            }
        }

        $crate::bindings::__export_interpreter_world!(__SpellhostInterpreter with_types_in $crate::bindings);
    };
}
