//! Streams an answer; returns the text chunks and the finish event as JSON.
//! Var: `max_tokens`.
use spellhost_sdk::llm::{self, StreamEvent};
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let mut chunks = Vec::new();
    let mut finish = None;
    let mut chat = llm::Chat::new().user(input);
    if let Some(n) = spellhost_sdk::config::get("max_tokens") {
        chat = chat.max_tokens(n.parse().expect("max_tokens is a number"));
    }
    for event in chat.stream()? {
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
