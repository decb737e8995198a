//! Starts four chat requests at once and waits for all of them.
use spellhost_sdk::llm;
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let pending = (0..4)
        .map(|i| llm::Chat::new().user(format!("question {i}")).start())
        .collect();
    let answers = llm::wait_all(pending)
        .into_iter()
        .map(|r| r.map(|reply| reply.text))
        .collect::<spellhost_sdk::Result<Vec<_>>>()?;
    Ok(serde_json::to_string(&answers)?)
}
spellhost_sdk::export_spell!(run);
