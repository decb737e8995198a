//! An agent whose hooks redact "secret" from every request, refuse any
//! calculator call on 666, and tag tool results. Input: the prompt.
use serde_json::{Value, json};
use spellhost_sdk::agent::Agent;
use spellhost_sdk::bindings::spellhost::spell::hooks::{Decision, HookPoint};
fn main() {}
fn run(prompt: String) -> spellhost_sdk::Result<String> {
    let agent = Agent::builder()
        .tools(["calculator"])
        .max_steps(3)
        .on_hook(|call| {
            let payload: Value = serde_json::from_str(&call.payload_json).unwrap_or_default();
            match call.point {
                HookPoint::BeforeLlm => Decision::Modify(call.payload_json.replace("secret", "[redacted]")),
                HookPoint::BeforeTool if payload["arguments"]["expression"].as_str().is_some_and(|e| e.contains("666")) => {
                    Decision::Cancel("no devilish arithmetic".into())
                }
                HookPoint::AfterTool => Decision::Modify(
                    json!({ "name": payload["name"], "arguments": payload["arguments"], "output": { "tagged": payload["output"] } }).to_string(),
                ),
                _ => Decision::Proceed,
            }
        })
        .build();
    let result = agent.run(&prompt)?;
    Ok(result.answer)
}
spellhost_sdk::export_spell!(run);
