//! Runs an agent described by the input JSON — `{"prompt", "tools",
//! "max_steps"?, "system"?, "memory_runs"?}` — after registering the spell's
//! own tool `spell_lookup` (returns `{"found": <key>}`). Prints the result
//! as JSON: answer, stop reason, and per step the tool outputs.
use serde_json::{Value, json};
use spellhost_sdk::agent::{Agent, StopReason};
use spellhost_sdk::tool;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let spec: Value = serde_json::from_str(&input)?;
    tool::register(
        "spell_lookup",
        "Looks a key up in the spell's own table",
        json!({ "type": "object", "properties": { "key": { "type": "string" } }, "required": ["key"], "additionalProperties": false }),
        |args| Ok(json!({ "found": args["key"] })),
    )?;
    let tools: Vec<String> = spec["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut builder = Agent::builder()
        .tools(tools)
        .memory(spec["memory_runs"].is_number());
    if let Some(steps) = spec["max_steps"].as_u64() {
        builder = builder.max_steps(steps as u32);
    }
    if let Some(system) = spec["system"].as_str() {
        builder = builder.system(system);
    }
    let agent = builder.build();
    let runs = spec["memory_runs"].as_u64().unwrap_or(1);
    let mut result = None;
    for _ in 0..runs {
        result = Some(agent.run(spec["prompt"].as_str().unwrap_or(""))?);
    }
    let result = result.expect("at least one run");
    Ok(json!({
        "answer": result.answer,
        "stop": match result.stop_reason { StopReason::Answered => "answered", StopReason::MaxSteps => "max-steps" },
        "steps": result.steps.iter().map(|s| s.tool_results.iter().map(|r| match &r.output {
            Ok(out) => json!({ "tool": r.call.name, "ok": out }),
            Err(err) => json!({ "tool": r.call.name, "error": err }),
        }).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "history": agent.history().len(),
        "tokens": result.usage.input_tokens + result.usage.output_tokens,
    })
    .to_string())
}
spellhost_sdk::export_spell!(run);
