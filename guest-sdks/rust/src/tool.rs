//! Tools: call the host's tools (built-ins and plugins), and offer the
//! spell's own functions as tools to its agents.
//!
//! ```ignore
//! let sum = tool::call("calculator", &json!({ "expression": "6 * 7" }))?;
//!
//! // Several calls at once (they run in the host while the spell waits):
//! let pages = tool::wait_all(urls.iter()
//!     .map(|url| tool::start("http_fetch", &json!({ "url": url })))
//!     .collect());
//!
//! tool::register("lookup_order", "Finds an order by id",
//!     json!({ "type": "object", "properties": { "id": { "type": "string" } }, "required": ["id"] }),
//!     |args| Ok(json!({ "status": "shipped", "id": args["id"] })))?;
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use crate::Result;
use crate::bindings::spellhost::spell::tool as raw;
use crate::bindings::wasi::io::poll::Pollable;

pub use raw::{Error, ToolInfo};

type Handler = Rc<dyn Fn(Value) -> std::result::Result<Value, String>>;

thread_local! {
    static HANDLERS: RefCell<BTreeMap<String, Handler>> = RefCell::default();
}

/// Every tool the spell can use, with where it comes from (`builtin`,
/// `plugin:<name>`, `spell`).
pub fn list() -> Vec<(ToolInfo, String)> {
    raw::list_tools()
}

/// One tool's description.
pub fn describe(name: &str) -> Option<ToolInfo> {
    raw::describe(name)
}

/// Calls a host tool with JSON arguments.
pub fn call(name: &str, arguments: &Value) -> Result<Value> {
    let output = raw::call(name, &arguments.to_string())?;
    Ok(serde_json::from_str(&output)?)
}

/// Starts a host tool call without waiting for it; see [`wait_all`].
pub fn start(name: &str, arguments: &Value) -> PendingCall {
    PendingCall(raw::start_call(name, &arguments.to_string()))
}

/// A tool call running in the host; dropping it cancels the call.
pub struct PendingCall(raw::PendingCall);

impl PendingCall {
    /// The result if the call has finished, without waiting.
    pub fn try_get(&self) -> Option<Result<Value>> {
        self.0
            .get()
            .map(|r| Ok(serde_json::from_str(&r.map_err(crate::Error::from)?)?))
    }

    /// Waits for the result.
    pub fn wait(self) -> Result<Value> {
        crate::wait::wait_all(std::slice::from_ref(&self), Self::try_get, Self::subscribe)
            .pop()
            .expect("one call, one result")
    }

    /// A pollable that is ready when the call has finished, to combine
    /// with other `wasi:io` pollables.
    pub fn subscribe(&self) -> Pollable {
        self.0.subscribe()
    }
}

/// Waits for every call, returning results in the same order. The calls
/// run concurrently in the host while this waits.
pub fn wait_all(pending: Vec<PendingCall>) -> Vec<Result<Value>> {
    crate::wait::wait_all(&pending, PendingCall::try_get, PendingCall::subscribe)
}

/// Registers `handler` as tool `name` for the spell's agents.
pub fn register(
    name: &str,
    description: &str,
    parameters: Value,
    handler: impl Fn(Value) -> std::result::Result<Value, String> + 'static,
) -> Result<()> {
    raw::register(&ToolInfo {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters_schema: parameters.to_string(),
    })?;
    HANDLERS.with(|h| h.borrow_mut().insert(name.to_owned(), Rc::new(handler)));
    Ok(())
}

/// Runs the spell's own tool for an agent.
pub(crate) fn dispatch(name: &str, arguments_json: &str) -> std::result::Result<String, String> {
    let handler = HANDLERS
        .with(|h| h.borrow().get(name).cloned())
        .ok_or_else(|| format!("the spell has no tool `{name}`"))?;
    let arguments: Value =
        serde_json::from_str(arguments_json).map_err(|e| format!("arguments are not JSON: {e}"))?;
    handler(arguments).map(|value| value.to_string())
}
