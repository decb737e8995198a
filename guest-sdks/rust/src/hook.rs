//! Hook plugins: components that see every LLM and tool call of a run and
//! let it proceed, change it or cancel it (`spellhost run spell.wasm --hook
//! plugin.wasm`).
//!
//! ```ignore
//! use spellhost_sdk::hook::{Decision, HookCall, HookHandler, HookPoint};
//!
//! struct NoFiles;
//! impl HookHandler for NoFiles {
//!     fn handle(call: HookCall) -> Decision {
//!         match call.point {
//!             HookPoint::BeforeTool if call.payload_json.contains("\"read_file\"") => {
//!                 Decision::Cancel("files are off limits".into())
//!             }
//!             _ => Decision::Proceed,
//!         }
//!     }
//! }
//! spellhost_sdk::export_hook_plugin!(NoFiles);
//! ```

/// Raw bindings of the `hook-plugin` world.
pub mod bindings {
    wit_bindgen::generate!({
        world: "hook-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_hook_plugin_world",
        default_bindings_module: "spellhost_sdk::hook::bindings",
    });
}

pub use bindings::spellhost::spell::hooks::{Decision, HookCall, HookPoint};

/// What a hook plugin implements.
pub trait HookHandler {
    /// Decides on one call. `call.payload_json` is the request or response
    /// (LLM points) or `{name, arguments[, output]}` (tool points).
    fn handle(call: HookCall) -> Decision;
}

/// Exports a [`HookHandler`] as the component's `hook-handler`.
#[macro_export]
macro_rules! export_hook_plugin {
    ($handler:ty) => {
        struct __SpellhostHookPlugin;

        impl $crate::hook::bindings::exports::spellhost::spell::hook_handler::Guest for __SpellhostHookPlugin {
            fn handle(call: $crate::hook::HookCall) -> $crate::hook::Decision {
                <$handler as $crate::hook::HookHandler>::handle(call)
            }
        }

        $crate::hook::bindings::__export_hook_plugin_world!(__SpellhostHookPlugin with_types_in $crate::hook::bindings);
    };
}
