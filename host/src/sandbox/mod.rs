//! The sandbox every guest runs in, below the bridges and the runtime that
//! composes them: the WASI context a set of grants allows ([`wasi`]), the
//! sandbox of plugin components — tool providers and hook handlers, one
//! fresh instance per call ([`plugin`]) — the jq sandbox the `json_query`
//! tool evaluates in ([`jq`]), and the errors a run ends with
//! ([`RunError`]).
//!
//! Bridges that call plugins (`bridges::hooks`, `bridges::tool::plugin`)
//! use this module; nothing here uses the bridges that need it, nor
//! `runtime`.

mod error;
pub mod jq;
pub mod plugin;
pub mod stdio;
pub mod wasi;

pub use error::{RunError, check_component_header};
