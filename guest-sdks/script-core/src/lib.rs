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
mod fetch;
#[doc(hidden)]
pub mod fuzzing;
mod ops;

pub use bridge::Bridge;
pub use error::ScriptError;
pub use serde_json::Value;

/// Why a REPL entry gave no value: it is `Incomplete` (read another line)
/// or `Failed` with the language's error.
pub use bindings::exports::spellhost::spell::repl::EntryError;

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
pub fn script() -> (String, Vec<u8>) {
    let source = bindings::spellhost::spell::script::source();
    (source.name, source.code)
}

/// A module of the spell, by its path relative to the spell's directory:
/// `(normalized path, source)`, or why it cannot be loaded (the message
/// says; `Err((true, _))` when the file does not exist, so a language's
/// search can go on to its next candidate).
pub fn load_module(path: &str) -> Result<(String, Vec<u8>), (bool, String)> {
    use bindings::spellhost::spell::script::{self, ModuleError};
    match script::load_module(path) {
        Ok(source) => Ok((source.name, source.code)),
        Err(ModuleError::NotFound(message)) => Err((true, message)),
        Err(ModuleError::Outside(message) | ModuleError::Invalid(message)) => Err((false, message)),
    }
}

/// The path `specifier` (`./util.js`, `../lib/x.js`) names, relative to
/// the module `importer` (`lib/main.js`): joined and normalized, `..`
/// taking back a part. A specifier that climbs out of the spell's
/// directory keeps its leading `..` so the host refuses it by name.
pub fn join_module_path(importer: &str, specifier: &str) -> String {
    let mut parts: Vec<&str> = match importer.rfind('/') {
        Some(i) => importer[..i].split('/').collect(),
        None => Vec::new(),
    };
    let mut climbs = 0;
    for part in specifier.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    climbs += 1;
                }
            }
            part => parts.push(part),
        }
    }
    let mut joined = "../".repeat(climbs);
    joined.push_str(&parts.join("/"));
    joined
}

/// Whether the host asks only to check the script (`spellhost check`).
pub fn checking() -> bool {
    use bindings::spellhost::spell::script::{self, ScriptPurpose};
    script::purpose() == ScriptPurpose::Check
}

/// Exports an interpreter: `$run` is `fn(name: String, code: Vec<u8>,
/// input: String) -> Result<String, String>`; `$check` is `fn(name:
/// String, code: Vec<u8>) -> Result<(), String>`, which compiles the
/// script without running any of it; `$eval` is `fn(entry: String) ->
/// Result<String, EntryError>`, one entry of a REPL session whose state
/// the interpreter keeps from call to call.
#[macro_export]
macro_rules! export_interpreter {
    ($run:path, $check:path, $eval:path) => {
        struct __SpellhostInterpreter;

        impl $crate::bindings::Guest for __SpellhostInterpreter {
            fn run(input: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                let (name, code) = $crate::script();
                if $crate::checking() {
                    return $check(name, code).map(|()| ::std::string::String::new());
                }
                $run(name, code, input)
            }
        }

        impl $crate::bindings::exports::spellhost::spell::repl::Guest for __SpellhostInterpreter {
            fn eval(entry: ::std::string::String) -> ::std::result::Result<::std::string::String, $crate::EntryError> {
                $eval(entry)
            }
        }

        $crate::bindings::__export_interpreter_world!(__SpellhostInterpreter with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn module_paths_join_like_urls() {
        use super::join_module_path as join;
        assert_eq!(join("main.js", "./util.js"), "util.js");
        assert_eq!(join("lib/a.js", "./b.js"), "lib/b.js");
        assert_eq!(join("lib/a.js", "../c.js"), "c.js");
        assert_eq!(join("lib/x/a.js", "../../c.js"), "c.js");
        assert_eq!(join("main.js", "../secret.js"), "../secret.js");
        assert_eq!(join("lib/a.js", "../../../etc/x.js"), "../../etc/x.js");
    }
}
