//! spellhost: run LLM programs ("spells") as WebAssembly components in a
//! capability sandbox.
//!
//! The crate is organised by lifetime and capability, after Spin's factors:
//!
//! - [`engine`] owns the process-wide wasmtime `Engine`, how a store is
//!   metered, and the on-disk compile [`cache`];
//! - [`runtime`] wires the linker once, prepares a spell once
//!   ([`runtime::Spell`]) and builds per-run state ([`runtime::SpellState`]);
//! - [`bridges`] holds one module per capability a spell imports (`llm`,
//!   `state`, `event`, `log`, `config`), each with its host-side state and
//!   its implementation of the generated WIT traits;
//! - [`limits`] defines the resource limits of a run and the errors that
//!   name them; [`policy`] the grants that widen what a spell may do, its
//!   manifest, and the audit log;
//! - [`cli`] is the `spellhost` command line.

pub mod bindings;
pub mod bridges;
pub mod cache;
pub mod cli;
pub mod engine;
pub mod inspect;
pub mod limits;
pub mod policy;
pub mod runtime;
pub mod scripts;
pub mod settings;
