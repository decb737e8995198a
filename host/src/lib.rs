//! spellhost: run LLM programs ("spells") as WebAssembly components in a
//! capability sandbox.
//!
//! The crate is organised by lifetime and capability, after Spin's factors:
//!
//! - [`engine`] owns the process-wide wasmtime `Engine`, how a store is
//!   metered, and the on-disk compile [`cache`];
//! - [`runtime`] wires the linker once, prepares each component once
//!   ([`runtime::PreparedComponent`]), deploys it with grants
//!   ([`runtime::Spell`]) and builds per-run state ([`runtime::SpellState`]);
//! - [`sandbox`] is below both: the WASI context grants allow, plugin
//!   sandboxes, and the errors a run ends with;
//! - [`bridges`] holds one module per capability a spell imports (`llm`,
//!   `state`, `event`, `log`, `config`, `tool`, `agent`, `workflow`), each
//!   with its host-side state and its implementation of the generated WIT
//!   traits; they read one per-run context (`bridges::run`) and never use
//!   `runtime`;
//! - [`limits`] defines the resource limits of a run and the errors that
//!   name them; [`policy`] the grants that widen what a spell may do, its
//!   manifest, and the audit log;
//! - [`cli`] is the `spellhost` command line.

pub mod authoring;
pub mod bindings;
pub mod bridges;
pub mod cache;
pub mod cli;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod inspect;
pub mod limits;
pub mod market;
pub mod mcp;
pub mod pg;
pub mod policy;
pub mod queue;
pub mod runtime;
pub mod sandbox;
pub mod scripts;
pub mod serve;
pub mod settings;
pub mod telemetry;
pub mod testing;
