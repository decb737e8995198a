//! LLM requests and responses as the JSON hooks see and change.
//!
//! Request: `{"model", "messages": [{"role", "content", "tool_calls"?,
//! "tool_call_id"?}], "temperature", "max_tokens", "tools": [names]}`.
//! A hook may change the messages, temperature and max_tokens; not the
//! model (that would step around `--allow-model`) nor the tools.
//! Response: `{"text", "tool_calls": [{"id", "name", "arguments"}],
//! "model"}`; a hook may change the text.

use serde_json::{Value, json};

use super::provider::{ChatRequest, ChatResponse, ContentPart, Message, Role, ToolCall};

pub fn request_to_json(request: &ChatRequest) -> Value {
    json!({
        "model": request.options.model,
        "messages": request.messages.iter().map(message_to_json).collect::<Vec<_>>(),
        "temperature": request.options.temperature,
        "max_tokens": request.options.max_tokens,
        "tools": request.options.tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
    })
}

/// Applies a hook's version of the request; shapes it cannot read leave
/// the request as it was and say why.
pub fn apply_request_json(request: &mut ChatRequest, value: &Value) -> Result<(), String> {
    if let Some(messages) = value.get("messages").and_then(Value::as_array) {
        request.messages = messages
            .iter()
            .map(message_from_json)
            .collect::<Result<_, _>>()?;
    }
    if let Some(t) = value.get("temperature") {
        request.options.temperature = t.as_f64().map(|t| t as f32);
    }
    if let Some(m) = value.get("max_tokens") {
        request.options.max_tokens = m.as_u64().map(|m| m as u32);
    }
    Ok(())
}

pub fn response_to_json(response: &ChatResponse) -> Value {
    json!({
        "text": response.text,
        "tool_calls": response.tool_calls.iter().map(tool_call_to_json).collect::<Vec<_>>(),
        "model": response.model,
    })
}

pub fn apply_response_json(response: &mut ChatResponse, value: &Value) {
    if let Some(text) = value.get("text").and_then(Value::as_str) {
        response.text = text.to_owned();
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn message_to_json(message: &Message) -> Value {
    let text: String = message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text(text) => Some(text.as_str()),
            ContentPart::ImageUrl(_) => None,
        })
        .collect();
    let mut value = json!({ "role": role_name(message.role), "content": text });
    if !message.tool_calls.is_empty() {
        value["tool_calls"] = message.tool_calls.iter().map(tool_call_to_json).collect();
    }
    if let Some(id) = &message.tool_call_id {
        value["tool_call_id"] = id.clone().into();
    }
    value
}

fn tool_call_to_json(call: &ToolCall) -> Value {
    json!({ "id": call.id, "name": call.name, "arguments": call.arguments_json })
}

fn message_from_json(value: &Value) -> Result<Message, String> {
    let role = match value.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        other => return Err(format!("a message has an unknown role {other:?}")),
    };
    let text = value.get("content").and_then(Value::as_str).unwrap_or("");
    let tool_calls = value
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c["id"].as_str().unwrap_or_default().to_owned(),
                    name: c["name"].as_str().unwrap_or_default().to_owned(),
                    arguments_json: c["arguments"].as_str().unwrap_or("{}").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Message {
        role,
        content: if text.is_empty() {
            Vec::new()
        } else {
            vec![ContentPart::Text(text.to_owned())]
        },
        tool_calls,
        tool_call_id: value
            .get("tool_call_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llm::Options;
    use crate::bridges::llm::provider::no_options;

    #[test]
    fn hooks_can_rewrite_messages_but_not_the_model() {
        let mut request = ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentPart::Text("my card is 4111".into())],
                tool_calls: vec![],
                tool_call_id: None,
            }],
            options: Options {
                model: Some("openai/a".into()),
                ..no_options()
            },
        };
        let mut value = request_to_json(&request);
        value["messages"][0]["content"] = "my card is [redacted]".into();
        value["model"] = "openai/expensive".into();
        apply_request_json(&mut request, &value).unwrap();
        assert_eq!(
            request.messages[0].content,
            [ContentPart::Text("my card is [redacted]".into())]
        );
        assert_eq!(request.options.model.as_deref(), Some("openai/a"));
        value["messages"][0]["role"] = "wizard".into();
        assert!(apply_request_json(&mut request, &value).is_err());
    }
}
