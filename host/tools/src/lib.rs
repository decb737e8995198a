//! Built-in tools that LLM agents call, as pure host-side Rust (no wasm).
//!
//! This crate owns the tool contract ([`Tool`], [`ToolInfo`], [`ToolError`]),
//! the capability context a call runs under ([`ToolContext`]: file grants, a
//! network [`Fetcher`], the spell's [`Memory`]), argument validation against a
//! JSON Schema subset ([`validate`], [`call_checked`]) and the built-in tools
//! themselves ([`builtins`]). Everything a tool may touch is deny-by-default:
//! the host decides what goes into the context.

pub mod fs;
mod schema;
pub mod tools;

use std::sync::Arc;

use serde_json::Value;

pub use fs::FileGrants;
pub use schema::validate;

/// What a tool tells the model about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    /// snake_case function name, as LLM function calling requires.
    pub name: String,
    /// What the tool does and when to use it.
    pub description: String,
    /// JSON Schema of the arguments (`type: object`).
    pub parameters: Value,
}

/// Why a tool call did not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name.
    #[error("unknown tool `{0}`")]
    NotFound(String),
    /// The arguments do not fit the tool's schema or its rules.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The call needs a capability the spell was not granted; the message
    /// names the grant flag (e.g. `--allow-read /data`).
    #[error("denied: {0}")]
    Denied(String),
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
    /// A hook stopped the call (set by the host, never by a tool).
    #[error("cancelled by a hook: {0}")]
    Cancelled(String),
}

/// What a tool call may use: everything is optional and deny-by-default.
#[derive(Clone, Default)]
pub struct ToolContext {
    /// Directories the tools may read or write.
    pub files: FileGrants,
    /// `None` => `http_fetch` is denied ("allow it with --allow-net HOST").
    pub fetcher: Option<Arc<dyn Fetcher>>,
    /// `None` => the `memory` tool fails with a clear message.
    pub memory: Option<Arc<dyn Memory>>,
    /// Where `json_query` runs its filters; `None` => it fails with a
    /// clear message.
    pub jq: Option<Arc<dyn JqEngine>>,
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("files", &self.files)
            .field("fetcher", &self.fetcher.is_some())
            .field("memory", &self.memory.is_some())
            .field("jq", &self.jq.is_some())
            .finish()
    }
}

/// A tool an agent can call.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema.
    fn info(&self) -> ToolInfo;
    /// `args` has already been validated against `info().parameters`.
    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError>;
}

/// Every built-in tool.
pub fn builtins() -> Vec<Arc<dyn Tool>> {
    tools::all()
}

/// The built-in tool called `name`, if any.
pub fn builtin(name: &str) -> Result<Arc<dyn Tool>, ToolError> {
    builtins()
        .into_iter()
        .find(|t| t.info().name == name)
        .ok_or_else(|| ToolError::NotFound(name.to_string()))
}

/// Validates and calls: for callers without their own checks (the host
/// validates in `ToolCtx::prepare`, where hooks also run).
///
/// `null` arguments are taken as `{}` (models often send nothing for a tool
/// without required arguments).
pub async fn call_checked(
    tool: &dyn Tool,
    ctx: &ToolContext,
    args: Value,
) -> Result<Value, ToolError> {
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args
    };
    validate(&tool.info().parameters, &args).map_err(ToolError::InvalidArguments)?;
    tool.call(ctx, args).await
}

/// Network access for `http_fetch`, implemented by the host.
#[async_trait::async_trait]
pub trait Fetcher: Send + Sync {
    /// GET `url` within the caller's network grants (the host implements this and enforces the allow-list).
    async fn get(&self, url: &str) -> Result<FetchedPage, ToolError>;
}

/// A fetched HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedPage {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The response body.
    pub body: Vec<u8>,
    /// The URL fetched (redirects are not followed: each hop would need
    /// its own network check).
    pub url: String,
}

/// Runs jq filters for `json_query`, implemented by the host in a sandbox
/// with fuel, a memory limit and the run's deadline (jq has none of its
/// own, and a filter can ask for unbounded work).
#[async_trait::async_trait]
pub trait JqEngine: Send + Sync {
    /// The outputs of `filter` over `input`: at most `max_outputs` of them
    /// and `max_bytes` of JSON text. A filter that does not compile is
    /// `InvalidArguments`; one that errs, or runs out of its budget, `Failed`.
    async fn evaluate(
        &self,
        filter: &str,
        input: &Value,
        max_outputs: usize,
        max_bytes: usize,
    ) -> Result<Vec<Value>, ToolError>;
}

/// The spell's private key-value state, implemented by the host.
#[async_trait::async_trait]
pub trait Memory: Send + Sync {
    /// The value stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<String>, ToolError>;
    /// Store `value` under `key`, replacing any previous value.
    async fn set(&self, key: &str, value: &str) -> Result<(), ToolError>;
    /// Remove `key` (no error if absent).
    async fn delete(&self, key: &str) -> Result<(), ToolError>;
    /// Every stored key.
    async fn keys(&self) -> Result<Vec<String>, ToolError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn builtin_names_are_unique_snake_case_with_closed_schemas() {
        let tools = builtins();
        let mut names = HashSet::new();
        for tool in &tools {
            let info = tool.info();
            assert!(
                info.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
                "{}",
                info.name
            );
            assert!(names.insert(info.name.clone()), "duplicate {}", info.name);
            assert!(!info.description.is_empty());
            let p = &info.parameters;
            assert_eq!(p["type"], "object", "{}", info.name);
            assert_eq!(p["additionalProperties"], false, "{}", info.name);
            assert!(p["required"].is_array(), "{}", info.name);
            for (prop, schema) in p["properties"].as_object().unwrap() {
                assert!(
                    schema["description"].is_string(),
                    "{}.{prop} has no description",
                    info.name
                );
            }
        }
        for name in [
            "calculator",
            "json_query",
            "text",
            "template",
            "datetime",
            "hash",
            "uuid",
            "read_file",
            "write_file",
            "list_dir",
            "http_fetch",
            "csv_query",
            "encode",
            "memory",
        ] {
            assert!(names.contains(name), "missing {name}");
        }
        assert_eq!(names.len(), 14);
    }

    #[tokio::test]
    async fn call_checked_validates_first() {
        let calc = builtin("calculator").unwrap();
        let ctx = ToolContext::default();
        let err = call_checked(&*calc, &ctx, serde_json::json!({"expression": 42}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments("`expression`: expected a string, got 42".into())
        );
        let err = call_checked(&*calc, &ctx, Value::Null).await.unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments("missing required property `expression`".into())
        );
        let ok = call_checked(&*calc, &ctx, serde_json::json!({"expression": "1+2"}))
            .await
            .unwrap();
        assert_eq!(ok["result"], 3);
    }

    #[test]
    fn unknown_builtin() {
        assert_eq!(
            builtin("nope").err().unwrap().to_string(),
            "unknown tool `nope`"
        );
    }
}
