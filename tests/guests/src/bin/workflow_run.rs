//! Runs the workflow in the input JSON (`{"definition", "input"}`) and
//! prints its result, or `error: <message>`.
use serde_json::Value;
use spellhost_sdk::workflow;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let spec: Value = serde_json::from_str(&input)?;
    Ok(
        match workflow::run(&spec["definition"], spec["input"].as_str().unwrap_or("")) {
            Ok(value) => value.to_string(),
            Err(err) => format!("error: {err}"),
        },
    )
}
spellhost_sdk::export_spell!(run);
