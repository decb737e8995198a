//! `uuid`: fresh random (version 4) UUIDs.

use serde_json::{Value, json};

use super::{obj, object_schema, opt_u64};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// The `uuid` tool.
pub struct Uuid;

/// Most UUIDs one call returns.
const MAX_COUNT: u64 = 100;

#[async_trait::async_trait]
impl Tool for Uuid {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "uuid".into(),
            description: "Generate random version 4 UUIDs (e.g. for unique ids).".into(),
            parameters: object_schema(
                json!({
                    "count": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_COUNT,
                        "description": "How many UUIDs to generate (default 1, at most 100)."
                    }
                }),
                &[],
            ),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let count = opt_u64(&args, "count", 1)?;
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(ToolError::InvalidArguments(format!(
                "`count`: must be from 1 to {MAX_COUNT}, got {count}"
            )));
        }
        let ids: Vec<String> = (0..count)
            .map(|_| ::uuid::Uuid::new_v4().to_string())
            .collect();
        Ok(obj([("uuids", json!(ids))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::testing::run;

    #[tokio::test]
    async fn generates_distinct_v4() {
        let out = run(&Uuid, json!({"count": 3})).await.unwrap();
        let ids: Vec<&str> = out["uuids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 3);
        for id in &ids {
            let u = ::uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 4);
        }
        assert_ne!(ids[0], ids[1]);
        let out = run(&Uuid, json!({})).await.unwrap();
        assert_eq!(out["uuids"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn count_is_bounded() {
        let err = run(&Uuid, json!({"count": 101})).await.unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments("`count`: must be at most 100, got 101".into())
        );
        let err = Uuid
            .call(&crate::ToolContext::default(), json!({"count": 0}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)));
    }
}
