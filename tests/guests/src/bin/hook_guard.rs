//! A hook plugin (world `hook-plugin`): shouts every LLM answer, refuses
//! every `read_file` tool call, crashes on a request that says "crash the
//! guard", and lets the rest through.
mod bindings {
    wit_bindgen::generate!({ world: "hook-plugin", path: "../../wit" });
}

use bindings::exports::spellhost::spell::hook_handler::Guest;
use bindings::spellhost::spell::hooks::{Decision, HookCall, HookPoint};

struct Guard;

impl Guest for Guard {
    fn handle(call: HookCall) -> Decision {
        let mut payload: serde_json::Value = match serde_json::from_str(&call.payload_json) {
            Ok(payload) => payload,
            Err(_) => return Decision::Proceed,
        };
        match call.point {
            HookPoint::BeforeLlm if call.payload_json.contains("crash the guard") => {
                panic!("the guard crashed")
            }
            HookPoint::AfterLlm => {
                let shouted = payload["text"].as_str().unwrap_or_default().to_uppercase();
                payload["text"] = shouted.into();
                Decision::Modify(payload.to_string())
            }
            HookPoint::BeforeTool if payload["name"] == "read_file" => {
                Decision::Cancel("files are off limits for this run".into())
            }
            _ => Decision::Proceed,
        }
    }
}

bindings::export!(Guard with_types_in bindings);

fn main() {}
