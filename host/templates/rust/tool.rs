//! {{name}}: a tool plugin. Spells and their agents call its tools when run
//! with `--tool {{name}}.wasm`.

use serde_json::{Value, json};
use spellhost_sdk::plugin::{ToolInfo, ToolProvider};

struct Tools;

impl ToolProvider for Tools {
    fn tools() -> Vec<ToolInfo> {
        vec![ToolInfo::new(
            "word_count",
            "Counts the words of a text",
            json!({
                "type": "object",
                "properties": { "text": { "type": "string" } },
                "required": ["text"]
            }),
        )]
    }

    /// Runs tool `name`; the arguments were checked against its schema.
    fn call(name: &str, arguments: Value) -> Result<Value, String> {
        match name {
            "word_count" => {
                let text = arguments["text"].as_str().unwrap_or_default();
                Ok(json!({ "words": text.split_whitespace().count() }))
            }
            other => Err(format!("no tool named {other}")),
        }
    }
}

spellhost_sdk::export_tool_plugin!(Tools);
