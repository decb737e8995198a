//! The one place that runs `bindgen!` over `wit/`: the `spell` world, and
//! the `tool-plugin` and `hook-plugin` worlds sharing its types.
//!
//! Every interface of `spellhost:spell` gets async, trappable host traits
//! (a trap is reserved for host bugs and forged handles; everything a guest
//! can handle is a WIT error). Resources map to the host types that back
//! them, and `wasi:io` is shared with `wasmtime-wasi` so our pollables and
//! WASI's mix in one `poll` call.

wasmtime::component::bindgen!({
    world: "spell",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "spellhost:spell/llm.pending-chat": crate::bridges::llm::PendingChat,
        "spellhost:spell/llm.chat-stream": crate::bridges::llm::ChatStream,
        "spellhost:spell/tool.pending-call": crate::bridges::tool::PendingCall,
        "spellhost:spell/state.bucket": crate::bridges::state::Bucket,
        "spellhost:spell/event.subscription": crate::bridges::event::Subscription,
        "spellhost:spell/agent.agent": crate::bridges::agent::AgentHandle,
        "spellhost:spell/agent.agent-run": crate::bridges::agent::AgentRun,
    },
    additional_derives: [PartialEq],
});

pub use self::spellhost::spell::{agent, config, event, hooks, llm, log, state, tool, workflow};

/// The `tool-plugin` world: components that provide tools.
pub mod tool_plugin {
    wasmtime::component::bindgen!({
        world: "tool-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "spellhost:spell/log": crate::bindings::log,
            "spellhost:spell/config": crate::bindings::config,
            "spellhost:spell/tool": crate::bindings::tool,
        },
    });
}

/// The `hook-plugin` world: components that decide on LLM and tool calls.
pub mod hook_plugin {
    wasmtime::component::bindgen!({
        world: "hook-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "spellhost:spell/log": crate::bindings::log,
            "spellhost:spell/config": crate::bindings::config,
            "spellhost:spell/hooks": crate::bindings::hooks,
        },
    });
}

/// The `interpreter` world: a spell that imports `script` to get the
/// program it runs (the prebuilt Lua and JavaScript interpreters).
pub mod interpreter {
    wasmtime::component::bindgen!({
        world: "interpreter",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "spellhost:spell/llm": crate::bindings::llm,
            "spellhost:spell/state": crate::bindings::state,
            "spellhost:spell/event": crate::bindings::event,
            "spellhost:spell/log": crate::bindings::log,
            "spellhost:spell/config": crate::bindings::config,
            "spellhost:spell/tool": crate::bindings::tool,
            "spellhost:spell/hooks": crate::bindings::hooks,
            "spellhost:spell/agent": crate::bindings::agent,
            "spellhost:spell/workflow": crate::bindings::workflow,
        },
    });
}

pub use self::interpreter::spellhost::spell::script;
