//! The built-in tools, one module per tool or small family, and the helpers
//! they share (schema building, argument access, running blocking work).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::{Tool, ToolError};

pub mod calculator;
pub mod csv_query;
pub mod datetime;
pub mod encode;
pub mod files;
pub mod hash;
mod html;
pub mod http_fetch;
pub mod json_query;
pub mod memory;
pub mod template;
pub mod text;
pub mod uuid;

/// Every built-in tool, in a stable order.
pub(crate) fn all() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(calculator::Calculator),
        Arc::new(json_query::JsonQuery),
        Arc::new(text::Text),
        Arc::new(template::Template),
        Arc::new(datetime::Datetime),
        Arc::new(hash::Hash),
        Arc::new(uuid::Uuid),
        Arc::new(files::ReadFile),
        Arc::new(files::WriteFile),
        Arc::new(files::ListDir),
        Arc::new(http_fetch::HttpFetch),
        Arc::new(csv_query::CsvQuery),
        Arc::new(encode::Encode),
        Arc::new(memory::MemoryTool),
    ]
}

/// An object schema that rejects unknown properties.
pub(crate) fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn field<'a>(args: &'a Value, name: &str) -> Option<&'a Value> {
    args.get(name).filter(|v| !v.is_null())
}

/// A required string argument.
pub(crate) fn req_str<'a>(args: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    opt_str(args, name)?
        .ok_or_else(|| ToolError::InvalidArguments(format!("missing required property `{name}`")))
}

/// An optional string argument.
pub(crate) fn opt_str<'a>(args: &'a Value, name: &str) -> Result<Option<&'a str>, ToolError> {
    match field(args, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ToolError::InvalidArguments(format!(
            "`{name}`: expected a string, got {other}"
        ))),
    }
}

/// An optional boolean argument.
pub(crate) fn opt_bool(args: &Value, name: &str, default: bool) -> Result<bool, ToolError> {
    match field(args, name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ToolError::InvalidArguments(format!(
            "`{name}`: expected a boolean, got {other}"
        ))),
    }
}

/// An optional non-negative integer argument.
pub(crate) fn opt_u64(args: &Value, name: &str, default: u64) -> Result<u64, ToolError> {
    match field(args, name) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < u64::MAX as f64)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| {
                ToolError::InvalidArguments(format!(
                    "`{name}`: expected a non-negative integer, got {v}"
                ))
            }),
    }
}

/// An optional argument of any JSON type.
pub(crate) fn opt_any<'a>(args: &'a Value, name: &str) -> Option<&'a Value> {
    field(args, name)
}

/// Runs CPU- or disk-bound work off the async runtime.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ToolError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ToolError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ToolError::Failed(format!("tool task failed: {e}")))?
}

/// Cuts `s` to at most `max` characters; tells whether it cut.
pub(crate) fn truncate_chars(s: &mut String, max: usize) -> bool {
    match s.char_indices().nth(max) {
        Some((at, _)) => {
            s.truncate(at);
            true
        }
        None => false,
    }
}

/// A JSON object from pairs, for results.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared helpers for the tool tests.
    use super::*;
    use crate::{ToolContext, call_checked};

    /// Validates and calls `tool` with an empty context.
    pub(crate) async fn run(tool: &dyn Tool, args: Value) -> Result<Value, ToolError> {
        call_checked(tool, &ToolContext::default(), args).await
    }

    /// Validates and calls `tool` with `ctx`.
    pub(crate) async fn run_in(
        tool: &dyn Tool,
        ctx: &ToolContext,
        args: Value,
    ) -> Result<Value, ToolError> {
        call_checked(tool, ctx, args).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arg_helpers() {
        let args = json!({"s": "x", "b": true, "n": 3, "f": 2.0, "neg": -1, "nul": null});
        assert_eq!(req_str(&args, "s").unwrap(), "x");
        assert!(req_str(&args, "missing").is_err());
        assert!(req_str(&args, "nul").is_err());
        assert!(opt_str(&args, "b").is_err());
        assert!(opt_bool(&args, "b", false).unwrap());
        assert!(opt_bool(&args, "missing", true).unwrap());
        assert_eq!(opt_u64(&args, "n", 0).unwrap(), 3);
        assert_eq!(opt_u64(&args, "f", 0).unwrap(), 2);
        assert!(opt_u64(&args, "neg", 0).is_err());
        let mut s = "héllo".to_string();
        assert!(truncate_chars(&mut s, 2));
        assert_eq!(s, "hé");
        assert!(!truncate_chars(&mut s, 2));
    }
}
