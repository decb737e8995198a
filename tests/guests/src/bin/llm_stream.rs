//! Streams an answer; returns the text chunks and the finish event as JSON.
use spellhost_sdk::llm::{self, StreamEvent};
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let mut chunks = Vec::new();
    let mut finish = None;
    for event in llm::Chat::new().user(input).stream()? {
        match event? {
            StreamEvent::Text(text) => chunks.push(text),
            StreamEvent::ToolCall(call) => chunks.push(format!("<tool:{}>", call.name)),
            StreamEvent::Finish(end) => {
                finish = Some((
                    format!("{:?}", end.finish_reason),
                    end.usage.output_tokens,
                    end.model,
                ))
            }
        }
    }
    Ok(serde_json::json!({ "chunks": chunks, "finish": finish }).to_string())
}
spellhost_sdk::export_spell!(run);
