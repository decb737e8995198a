//! `memory`: the agent's long-term notes, kept by the host in the spell's
//! private key-value state ([`crate::Memory`]): remember, recall, forget and
//! list.

use serde_json::{Value, json};

use super::{obj, object_schema, opt_str, req_str};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `memory` tool.
pub struct MemoryTool;

/// Longest stored note, in bytes.
const MAX_VALUE: usize = 64 * 1024;

#[async_trait::async_trait]
impl Tool for MemoryTool {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "memory".into(),
            description:
                "Long-term notes that persist across runs: `remember` a value under a key, \
                `recall` it, `forget` it, or `list` the keys. Use short descriptive keys like \
                \"user.preferred_language\"."
                    .into(),
            parameters: object_schema(
                json!({
                    "operation": {
                        "type": "string",
                        "enum": ["remember", "recall", "forget", "list"],
                        "description": "What to do."
                    },
                    "key": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 256,
                        "description": "The note's key (required except for list)."
                    },
                    "value": {
                        "type": "string",
                        "maxLength": MAX_VALUE,
                        "description": "For remember: the text to store (replaces any previous value)."
                    }
                }),
                &["operation"],
            ),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let op = req_str(&args, "operation")?;
        let memory = ctx.memory.as_ref().ok_or_else(|| {
            ToolError::Failed(
                "memory is not available to this spell (the host gave it no key-value state)"
                    .into(),
            )
        })?;
        let key = || {
            opt_str(&args, "key")?
                .ok_or_else(|| ToolError::InvalidArguments(format!("`key` is required for {op}")))
        };
        match op {
            "remember" => {
                let key = key()?;
                let value = opt_str(&args, "value")?.ok_or_else(|| {
                    ToolError::InvalidArguments("`value` is required for remember".into())
                })?;
                if value.len() > MAX_VALUE {
                    return Err(ToolError::InvalidArguments(format!(
                        "`value` is {} bytes; at most {MAX_VALUE} can be stored",
                        value.len()
                    )));
                }
                memory.set(key, value).await?;
                Ok(obj([("remembered", json!(key))]))
            }
            "recall" => {
                let key = key()?;
                let value = memory.get(key).await?;
                Ok(obj([
                    ("key", json!(key)),
                    ("found", json!(value.is_some())),
                    ("value", json!(value)),
                ]))
            }
            "forget" => {
                let key = key()?;
                memory.delete(key).await?;
                Ok(obj([("forgotten", json!(key))]))
            }
            "list" => {
                let mut keys = memory.keys().await?;
                keys.sort();
                Ok(obj([("keys", json!(keys))]))
            }
            other => Err(ToolError::InvalidArguments(format!(
                "unknown operation `{other}`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Memory;
    use crate::tools::testing::{run, run_in};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    /// In-memory fake of the host's key-value state.
    #[derive(Default)]
    struct FakeMemory(Mutex<BTreeMap<String, String>>);

    #[async_trait::async_trait]
    impl Memory for FakeMemory {
        async fn get(&self, key: &str) -> Result<Option<String>, ToolError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        async fn set(&self, key: &str, value: &str) -> Result<(), ToolError> {
            self.0.lock().unwrap().insert(key.into(), value.into());
            Ok(())
        }
        async fn delete(&self, key: &str) -> Result<(), ToolError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
        async fn keys(&self) -> Result<Vec<String>, ToolError> {
            Ok(self.0.lock().unwrap().keys().cloned().collect())
        }
    }

    #[tokio::test]
    async fn remember_recall_forget_list() {
        let ctx = ToolContext {
            memory: Some(Arc::new(FakeMemory::default())),
            ..Default::default()
        };
        let t = &MemoryTool;
        run_in(
            t,
            &ctx,
            json!({"operation": "remember", "key": "b", "value": "2"}),
        )
        .await
        .unwrap();
        run_in(
            t,
            &ctx,
            json!({"operation": "remember", "key": "a", "value": "1"}),
        )
        .await
        .unwrap();
        let out = run_in(t, &ctx, json!({"operation": "recall", "key": "a"}))
            .await
            .unwrap();
        assert_eq!(out, json!({"key": "a", "found": true, "value": "1"}));
        let out = run_in(t, &ctx, json!({"operation": "list"})).await.unwrap();
        assert_eq!(out, json!({"keys": ["a", "b"]}));
        run_in(t, &ctx, json!({"operation": "forget", "key": "a"}))
            .await
            .unwrap();
        let out = run_in(t, &ctx, json!({"operation": "recall", "key": "a"}))
            .await
            .unwrap();
        assert_eq!(out, json!({"key": "a", "found": false, "value": null}));
        let err = run_in(t, &ctx, json!({"operation": "remember", "key": "k"}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments("`value` is required for remember".into())
        );
        let err = run_in(t, &ctx, json!({"operation": "recall"}))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments("`key` is required for recall".into())
        );
    }

    #[tokio::test]
    async fn without_memory_it_fails_clearly() {
        let err = run(&MemoryTool, json!({"operation": "list"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("memory is not available")),
            "{err:?}"
        );
    }
}
