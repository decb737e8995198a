//! The one place that runs `bindgen!` over `wit/`.
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
        "spellhost:spell/state.bucket": crate::bridges::state::Bucket,
        "spellhost:spell/event.subscription": crate::bridges::event::Subscription,
    },
    additional_derives: [PartialEq],
});

pub use self::spellhost::spell::{config, event, llm, log, state};
