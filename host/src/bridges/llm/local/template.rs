//! ChatML, the chat template of SmolLM2 (and Qwen and many others):
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then the
//! assistant's header for the model to continue. Tools, calls and their
//! results are written in Hermes' format, as Qwen's and Hermes' templates
//! do: the tools in `<tools>` in the system prompt, a call as
//! `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, a result as
//! `<tool_response>...</tool_response>`.

use super::super::provider::{ChatRequest, Message, ResponseFormat, Role, message_text};

/// What opens and closes a tool call (Hermes' format, which SmolLM2, Qwen
/// and many small instruct models were trained on).
pub const TOOL_CALL_OPEN: &str = "<tool_call>";
pub const TOOL_CALL_CLOSE: &str = "</tool_call>";

/// A call's JSON up to its arguments: `{"name": "NAME", "arguments": `.
pub fn call_prefix(name: &str) -> String {
    format!(
        "{{\"name\": {}, \"arguments\": ",
        serde_json::Value::from(name)
    )
}

/// SmolLM2's default system prompt, used when the conversation has none.
pub const DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

pub fn chatml(request: &ChatRequest) -> String {
    let mut prompt = String::new();
    let mut push = |role: &str, content: &str| {
        prompt.push_str("<|im_start|>");
        prompt.push_str(role);
        prompt.push('\n');
        prompt.push_str(content);
        prompt.push_str("<|im_end|>\n");
    };
    let mut system: Vec<String> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(message_text)
        .collect();
    match &request.options.response_format {
        Some(ResponseFormat::Json) => {
            system.push("Respond with a single JSON object and nothing else.".into())
        }
        Some(ResponseFormat::JsonSchema(schema)) => system.push(format!(
            "Respond with a single JSON value matching this JSON Schema:\n{schema}"
        )),
        _ => {}
    }
    if system.is_empty() {
        system.push(DEFAULT_SYSTEM.into());
    }
    if !request.options.tools.is_empty() {
        system.push(tools_prompt(request));
    }
    push("system", &system.join("\n\n"));
    let prefill = prefill(request);
    let history = match prefill {
        Some(_) => &request.messages[..request.messages.len() - 1],
        None => &request.messages[..],
    };
    for message in history {
        match message.role {
            Role::System => continue,
            Role::User => push("user", &message_text(message)),
            Role::Assistant => push("assistant", &with_calls(message)),
            Role::Tool => push(
                "tool",
                &format!(
                    "<tool_response>\n{}\n</tool_response>",
                    message_text(message)
                ),
            ),
        }
    }
    prompt.push_str("<|im_start|>assistant\n");
    if let Some(start) = prefill {
        prompt.push_str(&start);
    }
    prompt
}

/// The start of the answer, when the conversation ends with an assistant
/// message of text only: the model continues it (a prefill, as with
/// Anthropic's API and llama.cpp's server). A prefill of `<tool_call>`
/// makes the answer a tool call.
pub fn prefill(request: &ChatRequest) -> Option<String> {
    let last = request.messages.last()?;
    (last.role == Role::Assistant && last.tool_calls.is_empty()).then(|| message_text(last))
}

/// The tools offered, and how to call one.
fn tools_prompt(request: &ChatRequest) -> String {
    let mut out = String::from(
        "You may call functions to help with the user's request. The functions are \
         described in JSON Schema within <tools></tools> XML tags:\n<tools>\n",
    );
    for tool in &request.options.tools {
        let parameters: serde_json::Value = serde_json::from_str(&tool.parameters_schema)
            .unwrap_or_else(|_| serde_json::json!({"type": "object"}));
        let entry = serde_json::json!({
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": parameters,
            }
        });
        out.push_str(&entry.to_string());
        out.push('\n');
    }
    out.push_str(&format!(
        "</tools>\nTo call a function, answer with a JSON object of its name and arguments \
         within {TOOL_CALL_OPEN}{TOOL_CALL_CLOSE} XML tags:\n{TOOL_CALL_OPEN}\n\
         {{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n{TOOL_CALL_CLOSE}"
    ));
    out
}

/// An assistant message: its text, then its calls as the model writes them.
fn with_calls(message: &Message) -> String {
    let mut out = message_text(message);
    for call in &message.tool_calls {
        let arguments: serde_json::Value =
            serde_json::from_str(&call.arguments_json).unwrap_or(serde_json::Value::Null);
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "{TOOL_CALL_OPEN}\n{}{arguments}}}\n{TOOL_CALL_CLOSE}",
            call_prefix(&call.name)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridges::llm::provider::{ToolCall, ToolDefinition, no_options, text_message};

    #[test]
    fn conversation_renders_as_chatml() {
        let request = ChatRequest {
            messages: vec![text_message(Role::User, "Hi")],
            options: no_options(),
        };
        assert_eq!(
            chatml(&request),
            format!(
                "<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
            )
        );
    }

    #[test]
    fn a_last_assistant_message_is_continued() {
        let request = ChatRequest {
            messages: vec![
                text_message(Role::User, "Hi"),
                text_message(Role::Assistant, "Hello, I am"),
            ],
            options: no_options(),
        };
        assert!(
            chatml(&request)
                .ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello, I am")
        );
    }

    #[test]
    fn tools_calls_and_results_render_in_hermes_format() {
        let mut options = no_options();
        options.tools = vec![ToolDefinition {
            name: "get_weather".into(),
            description: "Current weather of a city.".into(),
            parameters_schema: r#"{"type":"object","properties":{"city":{"type":"string"}}}"#
                .into(),
        }];
        let mut call = text_message(Role::Assistant, "");
        call.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments_json: r#"{"city":"Oslo"}"#.into(),
        }];
        let mut result = text_message(Role::Tool, r#"{"celsius":4}"#);
        result.tool_call_id = Some("call_1".into());
        let request = ChatRequest {
            messages: vec![text_message(Role::User, "Weather in Oslo?"), call, result],
            options,
        };
        let prompt = chatml(&request);
        assert!(
            prompt.contains(
                r#"<tools>
{"function":{"description":"Current weather of a city.","name":"get_weather","parameters":{"properties":{"city":{"type":"string"}},"type":"object"}},"type":"function"}
</tools>"#
            ),
            "{prompt}"
        );
        assert!(prompt.contains(
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}\n</tool_call><|im_end|>\n"
        ), "{prompt}");
        assert!(prompt.contains(
            "<|im_start|>tool\n<tool_response>\n{\"celsius\":4}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
        ), "{prompt}");
    }
}
