//! `json_query`: runs a jq filter over a JSON value.
//!
//! The filter runs in the host's jq sandbox ([`crate::JqEngine`]): jaq
//! compiled to WebAssembly, with fuel, a memory limit and the run's
//! deadline, so all of jq is available — `def`, `recurse`, `range`, … —
//! and a filter that asks for unbounded work stops at its budget instead
//! of growing the host. Output is capped at [`MAX_OUTPUTS`] values and
//! [`MAX_OUTPUT_BYTES`] of JSON text.

use serde_json::{Value, json};

use super::{object_schema, opt_any, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `json_query` tool.
pub struct JsonQuery;

/// At most this many outputs are returned.
pub const MAX_OUTPUTS: usize = 1000;
/// At most this much JSON text is returned.
pub const MAX_OUTPUT_BYTES: usize = 4 << 20;

#[async_trait::async_trait]
impl Tool for JsonQuery {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "json_query".into(),
            description: "Run a jq filter over JSON data (jq syntax, e.g. `.items[] | select(.price > 10) | .name`, \
                `map(.age) | add / length`, `group_by(.kind) | map({kind: .[0].kind, n: length})`). \
                Returns the filter's single output, or a list when it yields zero or several outputs \
                (at most 1000)."
                .into(),
            parameters: object_schema(
                json!({
                    "input": {
                        "description": "The JSON data: any JSON value, or a string holding JSON text \
                            (a string that is not valid JSON is used as a plain string)."
                    },
                    "filter": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 10000,
                        "description": "The jq filter, e.g. `.[] | .name`."
                    }
                }),
                &["input", "filter"],
            ),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let filter = req_str(&args, "filter")?;
        let Some(jq) = &ctx.jq else {
            return Err(ToolError::Failed(
                "json_query is not available here: the host has no jq sandbox".into(),
            ));
        };
        let parsed;
        let input = match opt_any(&args, "input") {
            Some(Value::String(s)) => {
                parsed = serde_json::from_str(s).unwrap_or(Value::String(s.clone()));
                &parsed
            }
            Some(v) => v,
            None => &Value::Null,
        };
        let mut outputs = jq
            .evaluate(filter, input, MAX_OUTPUTS, MAX_OUTPUT_BYTES)
            .await?;
        Ok(if outputs.len() == 1 {
            outputs.pop().unwrap_or_default()
        } else {
            Value::Array(outputs)
        })
    }
}
