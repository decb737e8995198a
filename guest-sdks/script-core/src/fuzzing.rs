//! Fuzz entry point for the JSON a script hands the bridge: chat requests,
//! agent configs, hook decisions and tool definitions, as Lua tables and JS
//! objects arrive (already JSON). `fuzz/` runs it under libFuzzer and
//! `tests/fuzz_corpus.rs` replays the committed corpus natively.

use crate::convert;

/// The first byte picks the shape, the rest is JSON text (text that is not
/// JSON is a string, as a script's plain string argument is). A shape the
/// script got wrong is an `invalid` error naming what is wrong; what
/// converts carries JSON text the host can parse.
pub fn script_json(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let value = convert::from_json_text(text);
    let parses = |text: &str| serde_json::from_str::<serde_json::Value>(text).is_ok();
    let outcome = match selector % 4 {
        0 => convert::chat_request(value).map(|request| {
            for tool in &request.options.tools {
                assert!(
                    parses(&tool.parameters_schema),
                    "a tool schema that is not JSON"
                );
            }
            if let Some(crate::bindings::spellhost::spell::llm::ResponseFormat::JsonSchema(
                schema,
            )) = &request.options.response_format
            {
                assert!(parses(schema), "a response schema that is not JSON");
            }
        }),
        1 => convert::agent_config(value).map(drop),
        2 => convert::decision(value).map(|decision| {
            if let crate::bindings::spellhost::spell::hooks::Decision::Modify(payload) = decision {
                assert!(parses(&payload), "a modified payload that is not JSON");
            }
        }),
        _ => convert::tool_definition(value).map(|tool| {
            assert!(
                parses(&tool.parameters_schema),
                "a tool schema that is not JSON"
            );
        }),
    };
    if let Err(err) = outcome {
        assert_eq!(err.kind, "invalid", "{err}");
        assert!(!err.message.is_empty());
    }
}
