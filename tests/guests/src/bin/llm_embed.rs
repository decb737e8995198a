//! Embeds the words of its input; returns the vectors as JSON.
use spellhost_sdk::llm;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let words: Vec<&str> = input.split_whitespace().collect();
    Ok(serde_json::to_string(&llm::embed(None, &words)?)?)
}
spellhost_sdk::export_spell!(run);
