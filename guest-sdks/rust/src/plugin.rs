//! Tool plugins: components that provide tools to spells and their agents
//! (`spellhost run spell.wasm --tool plugin.wasm`).
//!
//! ```ignore
//! use serde_json::{Value, json};
//! use spellhost_sdk::plugin::{ToolInfo, ToolProvider};
//!
//! struct Stats;
//! impl ToolProvider for Stats {
//!     fn tools() -> Vec<ToolInfo> { vec![ToolInfo::new("word_stats", "Counts words", json!({"type": "object"}))] }
//!     fn call(name: &str, args: Value) -> Result<Value, String> { Ok(json!({ "name": name })) }
//! }
//! spellhost_sdk::export_tool_plugin!(Stats);
//! ```
//!
//! A plugin runs in its own sandbox: it gets files or network only through
//! the grants its manifest asks for and the user approves.

use serde_json::Value;

/// Raw bindings of the `tool-plugin` world.
pub mod bindings {
    wit_bindgen::generate!({
        world: "tool-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_tool_plugin_world",
        default_bindings_module: "spellhost_sdk::plugin::bindings",
        // `tool` (whose types a plugin uses) mentions `wasi:io` pollables.
        with: { "wasi:io/poll@0.2.12": crate::bindings::wasi::io::poll },
    });
}

pub use bindings::spellhost::spell::tool::ToolInfo;

impl ToolInfo {
    /// A tool description with a JSON Schema for its arguments.
    pub fn new(name: &str, description: &str, parameters: Value) -> Self {
        ToolInfo {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters_schema: parameters.to_string(),
        }
    }
}

/// What a tool plugin implements.
pub trait ToolProvider {
    /// The tools this plugin provides.
    fn tools() -> Vec<ToolInfo>;
    /// Runs tool `name` on arguments already checked against its schema.
    fn call(name: &str, arguments: Value) -> Result<Value, String>;
}

/// Exports a [`ToolProvider`] as the component's `tool-provider`.
#[macro_export]
macro_rules! export_tool_plugin {
    ($provider:ty) => {
        struct __SpellhostToolPlugin;

        impl $crate::plugin::bindings::exports::spellhost::spell::tool_provider::Guest for __SpellhostToolPlugin {
            fn tools() -> ::std::vec::Vec<$crate::plugin::ToolInfo> {
                <$provider as $crate::plugin::ToolProvider>::tools()
            }

            fn call(name: ::std::string::String, arguments_json: ::std::string::String) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                let arguments = ::serde_json::from_str(&arguments_json).map_err(|e| e.to_string())?;
                <$provider as $crate::plugin::ToolProvider>::call(&name, arguments).map(|v| v.to_string())
            }
        }

        $crate::plugin::bindings::__export_tool_plugin_world!(__SpellhostToolPlugin with_types_in $crate::plugin::bindings);
    };
}
