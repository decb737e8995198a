//! ChatML, the chat template of SmolLM2 (and Qwen and many others):
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then the
//! assistant's header for the model to continue.

use super::super::provider::{ChatRequest, ResponseFormat, Role, message_text};

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
    push("system", &system.join("\n\n"));
    for message in &request.messages {
        let role = match message.role {
            Role::System => continue,
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        push(role, &message_text(message));
    }
    prompt.push_str("<|im_start|>assistant\n");
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridges::llm::provider::{no_options, text_message};

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
}
