//! Returns every `--var` it was given, as JSON.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    Ok(serde_json::to_string(&spellhost_sdk::config::all())?)
}
spellhost_sdk::export_spell!(run);
