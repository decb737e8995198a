//! {{name}}: a hook plugin. It sees every LLM and tool call of a run started
//! with `--hook {{name}}.wasm`, and here hides e-mail addresses in the
//! model's answers.

use spellhost_sdk::hook::{Decision, HookCall, HookHandler, HookPoint};

struct Redact;

impl HookHandler for Redact {
    fn handle(call: HookCall) -> Decision {
        if call.point != HookPoint::AfterLlm {
            return Decision::Proceed;
        }
        let Ok(mut response) = serde_json::from_str::<serde_json::Value>(&call.payload_json) else {
            return Decision::Proceed;
        };
        let text = response["text"].as_str().unwrap_or_default();
        let redacted: Vec<&str> = text
            .split(' ')
            .map(|word| if word.contains('@') { "[address]" } else { word })
            .collect();
        response["text"] = redacted.join(" ").into();
        Decision::Modify(response.to_string())
    }
}

spellhost_sdk::export_hook_plugin!(Redact);
