//! A parallel map-reduce summarizer: splits the input into chunks
//! (paragraphs), summarizes every chunk at the same time in the host (a
//! workflow `map`), then combines the summaries in one last call.
//!
//! ```text
//! spellhost run mapreduce.wasm --input-file long.txt
//! ```

use serde_json::json;
use spellhost_sdk::workflow::{self, StepExt as _, llm, map, sequence};

/// Paragraphs, merged until each chunk has at least this many characters.
const MIN_CHUNK: usize = 400;

fn chunks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        match out.last_mut() {
            Some(last) if last.len() < MIN_CHUNK => {
                last.push_str("\n\n");
                last.push_str(paragraph);
            }
            _ => out.push(paragraph.to_owned()),
        }
    }
    out
}

fn run(input: String) -> spellhost_sdk::Result<String> {
    let parts = chunks(&input);
    if parts.is_empty() {
        return Err("give me some text to summarize (--input or --input-file)".into());
    }
    let flow = sequence([
        map(
            "input | fromjson",
            llm("Summarize this passage in one sentence:\n\n{{ item }}"),
        )
        .id("partials"),
        llm("Combine these summaries into one short paragraph:\n{% for s in steps.partials %}- {{ s }}\n{% endfor %}")
            .id("summary"),
    ]);
    let result = workflow::run(&flow, &json!(parts).to_string())?;
    Ok(result["steps"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

spellhost_sdk::export_spell!(run);
