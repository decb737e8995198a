//! One chat call; returns the answer and its metadata as JSON. Vars:
//! `model`, `max_tokens`, `image` (an image URL sent with the prompt).
use spellhost_sdk::llm;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let mut prompt = llm::Message::user(input);
    if let Some(url) = spellhost_sdk::config::get("image") {
        prompt.content.push(llm::ContentPart::ImageUrl(url));
    }
    let mut chat = llm::Chat::new()
        .system("test system prompt")
        .message(prompt)
        .temperature(0.0);
    if let Some(model) = spellhost_sdk::config::get("model") {
        chat = chat.model(model);
    }
    if let Some(n) = spellhost_sdk::config::get("max_tokens") {
        chat = chat.max_tokens(n.parse().expect("max_tokens is a number"));
    }
    let reply = chat.send()?;
    Ok(serde_json::json!({
        "text": reply.text,
        "model": reply.model,
        "finish": format!("{:?}", reply.finish_reason),
        "input_tokens": reply.usage.input_tokens,
        "output_tokens": reply.usage.output_tokens,
        "tool_calls": reply.tool_calls.iter().map(|c| serde_json::json!({"name": c.name, "arguments": c.arguments_json})).collect::<Vec<_>>(),
    })
    .to_string())
}
spellhost_sdk::export_spell!(run);
