//! Host capabilities offered to spells, one module per WIT interface.
//!
//! Each bridge follows the same shape: a shared, per-spell part built once
//! (`XBridge` or a backend behind a trait), a per-instance context stored in
//! the wasmtime `Store` (`XCtx`), a borrowed view over that context and the
//! resource table (`XView`) that implements the generated host traits, and
//! an `add_to_linker` that wires it into a linker.

pub mod agent;
pub mod config;
pub mod event;
pub mod hooks;
pub mod http;
pub mod llm;
pub mod log;
pub mod pending;
pub mod run;
pub mod script;
pub mod state;
pub mod tool;
pub mod workflow;
