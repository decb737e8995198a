//! Calls the tool named in the input JSON (`{"name", "arguments"}`) and
//! prints its JSON result, or `error: <message>`.
use serde_json::Value;
use spellhost_sdk::tool;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let spec: Value = serde_json::from_str(&input)?;
    let name = spec["name"].as_str().unwrap_or("");
    Ok(match tool::call(name, &spec["arguments"]) {
        Ok(value) => value.to_string(),
        Err(err) => format!("error: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
