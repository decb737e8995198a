//! Dumps its environment variables and arguments, and looks for API keys.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let key = std::env::var("OPENAI_API_KEY").ok();
    Ok(serde_json::json!({ "vars": vars, "args": args, "openai_key": key }).to_string())
}
spellhost_sdk::export_spell!(run);
