//! Asks for a model it was not granted.
fn main() {}
fn run(model: String) -> spellhost_sdk::Result<String> {
    Ok(
        match spellhost_sdk::llm::Chat::new()
            .model(model.trim())
            .user("hi")
            .send()
        {
            Ok(reply) => format!("USED {}", reply.model),
            Err(err) => format!("blocked: {err}"),
        },
    )
}
spellhost_sdk::export_spell!(run);
