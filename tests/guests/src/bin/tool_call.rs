//! Calls the tool named in the input JSON (`{"name", "arguments"}`) and
//! prints its JSON result, or `error: <message>`. With `{"calls": [...]}`
//! it starts every call at once, waits for all, and prints their outcomes
//! as a JSON array in the same order.
use serde_json::Value;
use spellhost_sdk::tool;
fn main() {}
fn outcome(result: spellhost_sdk::Result<Value>) -> String {
    match result {
        Ok(value) => value.to_string(),
        Err(err) => format!("error: {err}"),
    }
}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let spec: Value = serde_json::from_str(&input)?;
    if let Some(calls) = spec["calls"].as_array() {
        let pending = calls
            .iter()
            .map(|call| tool::start(call["name"].as_str().unwrap_or(""), &call["arguments"]))
            .collect();
        let outcomes: Vec<String> = tool::wait_all(pending).into_iter().map(outcome).collect();
        return Ok(serde_json::to_string(&outcomes)?);
    }
    let name = spec["name"].as_str().unwrap_or("");
    Ok(outcome(tool::call(name, &spec["arguments"])))
}
spellhost_sdk::export_spell!(run);
