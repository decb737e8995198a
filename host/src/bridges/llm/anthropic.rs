//! The Anthropic provider: the Messages API (`/v1/messages`), whole and
//! streamed, with tool use, and `/v1/models`.
//!
//! Mapping from the WIT conversation: `system` messages become the
//! top-level `system` prompt; `tool` messages become `tool_result` blocks in
//! a user turn; consecutive turns of one role are merged, as the API wants
//! roles to alternate. Anthropic has no JSON mode, so `json` and
//! `json-schema` response formats become an instruction in the system
//! prompt. It has no embeddings API either.

use std::collections::BTreeMap;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpTransport, RemoteConfig, malformed, secret_header};
use super::provider::*;
use super::sse::SseEvent;
use super::stream::{StreamDecoder, sse_stream};

/// The API version this module speaks.
pub const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; the LLM bridge always sets it (from the
/// model catalog), this is the fallback for a request built without it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Settings of an Anthropic endpoint; `base_url` has no version, e.g.
/// `https://api.anthropic.com`.
pub type AnthropicConfig = RemoteConfig;

/// An Anthropic Messages API endpoint.
pub struct AnthropicProvider {
    http: HttpTransport,
    headers: HeaderMap,
}

impl AnthropicProvider {
    pub fn new(config: AnthropicConfig) -> Result<Self, LlmError> {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some(key) = &config.api_key {
            let value = secret_header(key, &config.id)?;
            headers.insert("x-api-key", value);
        }
        let http = HttpTransport::new(&config)?;
        Ok(Self { http, headers })
    }
}

#[async_trait::async_trait]
impl LlmProvider for AnthropicProvider {
    fn id(&self) -> &str {
        &self.http.id
    }

    fn requires_output_limit(&self) -> bool {
        true
    }

    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = messages_body(model, request, false)?;
        let value = self
            .http
            .json(Method::POST, "v1/messages", &self.headers, Some(&body))
            .await?;
        decode_chat(&self.http.id, model, value)
    }

    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let body = messages_body(model, request, true)?;
        let response = self
            .http
            .send(Method::POST, "v1/messages", &self.headers, Some(&body))
            .await?;
        let decoder = stream_decoder(&self.http.id, model);
        Ok(sse_stream(
            self.http.id.clone(),
            response,
            self.http.settings.stream_idle_timeout,
            decoder,
        ))
    }

    async fn embed(&self, _model: &str, _inputs: &[String]) -> Result<Embeddings, LlmError> {
        Err(LlmError::InvalidRequest(
            "Anthropic has no embeddings API; use an embedding model of another provider (e.g. openai/text-embedding-3-small)"
                .into(),
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let value = self
            .http
            .json(Method::GET, "v1/models", &self.headers, None)
            .await?;
        let ids = value["data"].as_array().map(|models| {
            models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        });
        ids.ok_or_else(|| self.http.malformed("no `data` list"))
    }
}

/// The JSON body of a Messages API request.
pub fn messages_body(model: &str, request: &ChatRequest, stream: bool) -> Result<Value, LlmError> {
    if request.messages.is_empty() {
        return Err(LlmError::InvalidRequest(
            "a chat request needs at least one message".into(),
        ));
    }
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role {
            Role::System => {
                system.push(message_text(message));
                continue;
            }
            Role::User => ("user", content_blocks(message)?),
            Role::Assistant => {
                let mut blocks = content_blocks(message)?;
                for call in &message.tool_calls {
                    // The API wants an object; models sometimes call a tool
                    // with no arguments at all.
                    let input = match call.arguments_json.trim() {
                        "" | "null" => json!({}),
                        text => {
                            parse_json(text, || format!("arguments of tool call `{}`", call.id))?
                        }
                    };
                    blocks.push(json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input }));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let id = message.tool_call_id.clone().ok_or_else(|| {
                    LlmError::InvalidRequest(
                        "a `tool` message needs the tool-call-id it answers".into(),
                    )
                })?;
                (
                    "user",
                    vec![
                        json!({ "type": "tool_result", "tool_use_id": id, "content": message_text(message) }),
                    ],
                )
            }
        };
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let options = &request.options;
    match &options.response_format {
        Some(ResponseFormat::Json) => {
            system.push("Respond with a single JSON object and nothing else.".into())
        }
        Some(ResponseFormat::JsonSchema(schema)) => system.push(format!(
            "Respond with a single JSON value matching this JSON Schema and nothing else:\n{schema}"
        )),
        _ => {}
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
    });
    let fields = body.as_object_mut().expect("object");
    if !system.is_empty() {
        fields.insert("system".into(), json!(system.join("\n\n")));
    }
    if let Some(t) = options.temperature {
        fields.insert("temperature".into(), json!(t));
    }
    if let Some(p) = options.top_p {
        fields.insert("top_p".into(), json!(p));
    }
    if !options.stop.is_empty() {
        fields.insert("stop_sequences".into(), json!(options.stop));
    }
    if !options.tools.is_empty() {
        let tools = options
            .tools
            .iter()
            .map(|tool| {
                let schema = parse_json(&tool.parameters_schema, || format!("parameters-schema of tool `{}`", tool.name))?;
                Ok(json!({ "name": tool.name, "description": tool.description, "input_schema": schema }))
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        fields.insert("tools".into(), Value::Array(tools));
    }
    if stream {
        fields.insert("stream".into(), json!(true));
    }
    Ok(body)
}

/// Image types the Messages API takes inline.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

fn content_blocks(message: &Message) -> Result<Vec<Value>, LlmError> {
    message
        .content
        .iter()
        .filter(|part| !matches!(part, ContentPart::Text(t) if t.is_empty()))
        .map(|part| match part {
            ContentPart::Text(text) => Ok(json!({ "type": "text", "text": text })),
            ContentPart::ImageUrl(url) => match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
                Some((media_type, _)) if !IMAGE_TYPES.contains(&media_type) => Err(LlmError::InvalidRequest(format!(
                    "Anthropic takes images as {}, not {media_type}", IMAGE_TYPES.join(", ")
                ))),
                Some((media_type, data)) => Ok(
                    json!({ "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } }),
                ),
                None if url.starts_with("https://") || url.starts_with("http://") => {
                    Ok(json!({ "type": "image", "source": { "type": "url", "url": url } }))
                }
                None => Err(LlmError::InvalidRequest(format!(
                    "an image must be an http(s) URL or a base64 data URL, not `{}`",
                    url.chars().take(40).collect::<String>()
                ))),
            },
        })
        .collect()
}

fn stop_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("end_turn" | "stop_sequence") | None => FinishReason::Stop,
        Some("max_tokens") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    }
}

/// A Messages API response body as a response.
pub fn decode_chat(provider: &str, model: &str, body: Value) -> Result<ChatResponse, LlmError> {
    let wire: WireMessage = serde_json::from_value(body).map_err(|e| malformed(provider, e))?;
    Ok(wire.into_response(model))
}

/// The decoder of this wire format's named stream events.
pub fn stream_decoder(provider: &str, model: &str) -> impl StreamDecoder + use<> {
    StreamState::new(provider, model)
}

#[derive(Deserialize)]
struct WireMessage {
    model: Option<String>,
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
}

impl WireMessage {
    fn into_response(self, model: &str) -> ChatResponse {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in self.content {
            match block {
                WireBlock::Text { text: t } => text.push_str(&t),
                WireBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments_json: input.to_string(),
                }),
                WireBlock::Other => {}
            }
        }
        ChatResponse {
            text,
            tool_calls,
            finish_reason: stop_reason(self.stop_reason.as_deref()),
            usage: Usage {
                input_tokens: self.usage.input_tokens,
                output_tokens: self.usage.output_tokens,
            },
            model: self.model.unwrap_or_else(|| model.to_owned()),
        }
    }
}

/// Decodes Anthropic's named stream events.
struct StreamState {
    provider: String,
    model: String,
    /// Tool-use blocks being assembled, by content block index.
    tools: BTreeMap<u64, ToolCall>,
    usage: Usage,
    stop: Option<String>,
    done: bool,
}

impl StreamState {
    fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            tools: BTreeMap::new(),
            usage: Usage {
                input_tokens: 0,
                output_tokens: 0,
            },
            stop: None,
            done: false,
        }
    }
}

impl StreamDecoder for StreamState {
    fn event(&mut self, event: SseEvent) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        let data: Value = match serde_json::from_str(&event.data) {
            Ok(data) => data,
            Err(e) => {
                self.done = true;
                return vec![Err(LlmError::Provider(ProviderError {
                    status: None,
                    message: format!("{} sent a malformed stream event: {e}", self.provider),
                }))];
            }
        };
        let kind = event
            .event
            .as_deref()
            .or_else(|| data["type"].as_str())
            .unwrap_or_default()
            .to_owned();
        match kind.as_str() {
            "message_start" => {
                if let Some(model) = data.pointer("/message/model").and_then(Value::as_str) {
                    self.model = model.to_owned();
                }
                self.usage.input_tokens = data
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32;
                Vec::new()
            }
            "content_block_start" => {
                let block = &data["content_block"];
                if block["type"] == "tool_use" {
                    let index = data["index"].as_u64().unwrap_or(0);
                    self.tools.insert(
                        index,
                        ToolCall {
                            id: block["id"].as_str().unwrap_or_default().to_owned(),
                            name: block["name"].as_str().unwrap_or_default().to_owned(),
                            arguments_json: String::new(),
                        },
                    );
                }
                match block["text"].as_str() {
                    Some(text) if !text.is_empty() => vec![Ok(StreamEvent::Text(text.to_owned()))],
                    _ => Vec::new(),
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => vec![Ok(StreamEvent::Text(
                        delta["text"].as_str().unwrap_or_default().to_owned(),
                    ))],
                    Some("input_json_delta") => {
                        let index = data["index"].as_u64().unwrap_or(0);
                        if let Some(call) = self.tools.get_mut(&index) {
                            call.arguments_json
                                .push_str(delta["partial_json"].as_str().unwrap_or_default());
                        }
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap_or(0);
                match self.tools.remove(&index) {
                    Some(mut call) => {
                        if call.arguments_json.is_empty() {
                            call.arguments_json = "{}".into();
                        }
                        vec![Ok(StreamEvent::ToolCall(call))]
                    }
                    None => Vec::new(),
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop = Some(reason.to_owned());
                }
                if let Some(out) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.usage.output_tokens = out as u32;
                }
                Vec::new()
            }
            "message_stop" => {
                self.done = true;
                vec![Ok(StreamEvent::Finish(StreamEnd {
                    finish_reason: stop_reason(self.stop.as_deref()),
                    usage: self.usage,
                    model: self.model.clone(),
                }))]
            }
            "error" => {
                self.done = true;
                let message = data
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("stream error")
                    .to_owned();
                let error = match data.pointer("/error/type").and_then(Value::as_str) {
                    Some("overloaded_error" | "api_error") => LlmError::Unavailable(message),
                    Some("rate_limit_error") => LlmError::RateLimited(RateLimit {
                        message,
                        retry_after_ms: None,
                    }),
                    _ => LlmError::Provider(ProviderError {
                        status: None,
                        message,
                    }),
                };
                vec![Err(error)]
            }
            _ => Vec::new(), // ping and future event types
        }
    }

    fn end(&mut self) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![Err(LlmError::Unavailable(format!(
            "{} closed the stream before the answer was complete",
            self.provider
        )))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llm::Options;

    fn text(role: Role, text: &str) -> Message {
        text_message(role, text)
    }

    fn options() -> Options {
        Options {
            model: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            stop: vec![],
            response_format: Some(ResponseFormat::Json),
            tools: vec![],
            seed: None,
        }
    }

    #[test]
    fn images_the_api_cannot_take_are_refused_before_sending() {
        for (url, why) in [
            ("data:image/svg+xml;base64,PHN2Zz4=", "not image/svg+xml"),
            ("file:///etc/passwd", "http(s) URL or a base64 data URL"),
        ] {
            let request = ChatRequest {
                messages: vec![Message {
                    content: vec![ContentPart::ImageUrl(url.into())],
                    ..text(Role::User, "")
                }],
                options: options(),
            };
            let err = messages_body("claude-x", &request, false).unwrap_err();
            assert!(
                matches!(&err, LlmError::InvalidRequest(m) if m.contains(why)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn system_and_tool_messages_take_anthropic_shapes() {
        let mut assistant = text(Role::Assistant, "");
        assistant.tool_calls = vec![ToolCall {
            id: "tu_1".into(),
            name: "add".into(),
            arguments_json: "{\"a\":1}".into(),
        }];
        let mut result = text(Role::Tool, "2");
        result.tool_call_id = Some("tu_1".into());
        let request = ChatRequest {
            messages: vec![
                text(Role::System, "be brief"),
                text(Role::User, "add 1"),
                assistant,
                result,
                text(Role::User, "thanks"),
            ],
            options: options(),
        };
        let body = messages_body("claude-x", &request, false).unwrap();
        assert!(
            body["system"]
                .as_str()
                .unwrap()
                .starts_with("be brief\n\nRespond with a single JSON object")
        );
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(
            body["messages"][1]["content"][0],
            json!({ "type": "tool_use", "id": "tu_1", "name": "add", "input": { "a": 1 } })
        );
        // A call without arguments is sent as an empty object.
        let mut request = request;
        request.messages[2].tool_calls[0].arguments_json = String::new();
        let body_no_args = messages_body("claude-x", &request, false).unwrap();
        assert_eq!(
            body_no_args["messages"][1]["content"][0]["input"],
            json!({})
        );
        // The tool result and the next user text merge into one user turn.
        assert_eq!(body["messages"].as_array().unwrap().len(), 3);
        assert_eq!(body["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(
            body["messages"][2]["content"][1],
            json!({ "type": "text", "text": "thanks" })
        );
    }

    #[test]
    fn stream_events_become_text_tool_calls_and_finish() {
        let wire = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"tu_1\",\"name\":\"add\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":12}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let mut sse = super::super::sse::SseDecoder::new();
        let mut state = StreamState::new("anthropic", "m");
        let events: Vec<_> = sse
            .push(wire.as_bytes())
            .into_iter()
            .flat_map(|e| state.event(e))
            .map(Result::unwrap)
            .collect();
        assert_eq!(events[0], StreamEvent::Text("Hi".into()));
        assert_eq!(
            events[1],
            StreamEvent::ToolCall(ToolCall {
                id: "tu_1".into(),
                name: "add".into(),
                arguments_json: "{\"a\":1}".into()
            })
        );
        assert_eq!(
            events[2],
            StreamEvent::Finish(StreamEnd {
                finish_reason: FinishReason::ToolCalls,
                usage: Usage {
                    input_tokens: 9,
                    output_tokens: 12
                },
                model: "claude-x".into()
            })
        );
        assert!(matches!(&state.end()[..], []));
    }
}
