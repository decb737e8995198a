//! Workflows run by the host: sequences, real concurrency, conditions and
//! bounded loops over LLM calls, tools, agents and other spells. Build the
//! definition with these helpers (or write the JSON of
//! `docs/workflows.md` directly) and [`run`] it.
//!
//! ```ignore
//! use spellhost_sdk::workflow::{self, llm, parallel, sequence};
//! let flow = sequence([
//!     parallel([llm("Pros of {{ input }}").id("pros"), llm("Cons of {{ input }}").id("cons")]),
//!     llm("Weigh: {{ steps.pros }} vs {{ steps.cons }}"),
//! ]);
//! let out = workflow::run(&flow, "remote work")?;
//! println!("{}", out["output"]);
//! ```

use serde_json::{Value, json};

use crate::Result;
use crate::bindings::spellhost::spell::workflow as raw;

pub use raw::Error;

/// Runs `definition` on `input`; returns `{"output", "steps"}`.
pub fn run(definition: &Value, input: &str) -> Result<Value> {
    let output = raw::run(&definition.to_string(), input)?;
    Ok(serde_json::from_str(&output)?)
}

/// Adds an `id` to a step so later steps can use its output as `steps.<id>`.
pub trait StepExt {
    fn id(self, id: &str) -> Value;
}

impl StepExt for Value {
    fn id(mut self, id: &str) -> Value {
        self["id"] = id.into();
        self
    }
}

/// An LLM call; `prompt` is a template.
pub fn llm(prompt: &str) -> Value {
    json!({ "llm": { "prompt": prompt } })
}

/// A tool call; string arguments are templates.
pub fn tool(name: &str, arguments: Value) -> Value {
    json!({ "tool": { "name": name, "arguments": arguments } })
}

/// An agent run with `tools` on `input` (a template).
pub fn agent(input: &str, tools: &[&str]) -> Value {
    json!({ "agent": { "input": input, "tools": tools } })
}

/// Another spell (a `.wasm` under a read grant) on `input` (a template).
pub fn spell(path: &str, input: &str) -> Value {
    json!({ "spell": { "path": path, "input": input } })
}

pub fn sequence(steps: impl IntoIterator<Item = Value>) -> Value {
    json!({ "sequence": steps.into_iter().collect::<Vec<_>>() })
}

/// Steps run concurrently in the host.
pub fn parallel(steps: impl IntoIterator<Item = Value>) -> Value {
    json!({ "parallel": steps.into_iter().collect::<Vec<_>>() })
}

/// `step` once per item of `over` (an expression giving a list),
/// concurrently; the step sees `item` and `index`.
pub fn map(over: &str, step: Value) -> Value {
    json!({ "map": { "over": over, "step": step } })
}

/// `then` if `condition` (an expression) holds, else `otherwise`.
pub fn when(condition: &str, then: Value, otherwise: Option<Value>) -> Value {
    let mut step = json!({ "if": { "condition": condition, "then": then } });
    if let Some(otherwise) = otherwise {
        step["if"]["else"] = otherwise;
    }
    step
}

/// `step` up to `max` times, stopping early once `until` holds.
pub fn repeat(max: u32, step: Value, until: Option<&str>) -> Value {
    let mut looped = json!({ "loop": { "max": max, "step": step } });
    if let Some(until) = until {
        looped["loop"]["until"] = until.into();
    }
    looped
}
