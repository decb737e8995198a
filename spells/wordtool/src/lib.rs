//! An example tool plugin: text statistics, and reading a note file —
//! which works only if the plugin itself was granted the directory
//! (`wordtool.spell.toml` asks; the user approves with `--grant-requested`
//! or a policy). Load it with `spellhost run spell.wasm --tool wordtool.wasm`.

use serde_json::{Value, json};
use spellhost_sdk::plugin::{ToolInfo, ToolProvider};

struct WordTool;

impl ToolProvider for WordTool {
    fn tools() -> Vec<ToolInfo> {
        vec![
            ToolInfo::new(
                "word_stats",
                "Counts the words, sentences and the most frequent word of a text.",
                json!({
                    "type": "object",
                    "properties": { "text": { "type": "string", "description": "The text to measure" } },
                    "required": ["text"],
                    "additionalProperties": false
                }),
            ),
            ToolInfo::new(
                "read_note",
                "Reads a note file (an absolute path) the plugin was granted.",
                json!({
                    "type": "object",
                    "properties": { "path": { "type": "string", "description": "Absolute path of the note" } },
                    "required": ["path"],
                    "additionalProperties": false
                }),
            ),
        ]
    }

    fn call(name: &str, arguments: Value) -> Result<Value, String> {
        match name {
            "word_stats" => {
                let text = arguments["text"].as_str().unwrap_or_default();
                let words: Vec<String> = text
                    .split_whitespace()
                    .map(|w| {
                        w.trim_matches(|c: char| !c.is_alphanumeric())
                            .to_lowercase()
                    })
                    .filter(|w| !w.is_empty())
                    .collect();
                let mut counts = std::collections::BTreeMap::<&str, usize>::new();
                for word in &words {
                    *counts.entry(word).or_default() += 1;
                }
                let top = counts.iter().max_by_key(|(_, n)| **n).map(|(w, _)| *w);
                let sentences = text
                    .matches(['.', '!', '?'])
                    .count()
                    .max(usize::from(!text.trim().is_empty()));
                Ok(json!({ "words": words.len(), "sentences": sentences, "most_frequent": top }))
            }
            "read_note" => {
                let path = arguments["path"].as_str().unwrap_or_default();
                std::fs::read_to_string(path)
                    .map(|text| json!({ "text": text }))
                    .map_err(|e| {
                        format!("cannot read {path}: {e} (is the plugin granted its directory?)")
                    })
            }
            other => Err(format!("wordtool has no tool `{other}`")),
        }
    }
}

spellhost_sdk::export_tool_plugin!(WordTool);
