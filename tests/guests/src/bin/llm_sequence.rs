//! Makes `input` (default 3) chat calls one after another; returns how many
//! succeeded, or the first error.
use spellhost_sdk::llm;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let n: u32 = input.trim().parse().unwrap_or(3);
    for i in 0..n {
        llm::Chat::new().user(format!("call {i}")).send()?;
    }
    Ok(n.to_string())
}
spellhost_sdk::export_spell!(run);
