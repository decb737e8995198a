//! The OpenAI-compatible provider: `/chat/completions` (whole and streamed
//! over SSE), `/embeddings` and `/models`.
//!
//! One wire format serves OpenAI, Ollama (`http://127.0.0.1:11434/v1`), vLLM,
//! llama.cpp's server and LM Studio. The API key, when there is one, is sent
//! as a bearer token and never leaves this module.

use std::collections::BTreeMap;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpTransport, RemoteConfig, malformed, secret_header};
use super::provider::*;
use super::sse::SseEvent;
use super::stream::{StreamDecoder, sse_stream};

/// Settings of one OpenAI-compatible endpoint; `base_url` includes the
/// version prefix, e.g. `https://api.openai.com/v1`, and the key is sent as a
/// bearer token (`None` for local servers that need none).
pub type OpenAiConfig = RemoteConfig;

/// The request field that carries the output limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputTokensField {
    /// `max_tokens`: what OpenAI-compatible servers (vLLM, llama.cpp,
    /// Ollama, LM Studio, Groq, …) read. OpenAI deprecated it and its
    /// reasoning models refuse it.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`: what OpenAI's own API reads, for every model.
    MaxCompletionTokens,
}

impl OutputTokensField {
    pub fn name(self) -> &'static str {
        match self {
            Self::MaxTokens => "max_tokens",
            Self::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// An OpenAI-compatible endpoint.
pub struct OpenAiProvider {
    http: HttpTransport,
    headers: HeaderMap,
    output_field: OutputTokensField,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let value = secret_header(&format!("Bearer {key}"), &config.id)?;
            headers.insert(AUTHORIZATION, value);
        }
        let http = HttpTransport::new(&config)?;
        Ok(Self {
            http,
            headers,
            output_field: OutputTokensField::default(),
        })
    }

    /// Sends the output limit in `field` (the built-in `openai` provider
    /// uses `max_completion_tokens`).
    pub fn with_output_field(mut self, field: OutputTokensField) -> Self {
        self.output_field = field;
        self
    }
}

#[async_trait::async_trait]
impl LlmProvider for OpenAiProvider {
    fn id(&self) -> &str {
        &self.http.id
    }

    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = chat_body(model, request, false, self.output_field)?;
        let value = self
            .http
            .json(Method::POST, "chat/completions", &self.headers, Some(&body))
            .await?;
        decode_chat(&self.http.id, model, value)
    }

    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let body = chat_body(model, request, true, self.output_field)?;
        let response = self
            .http
            .send(Method::POST, "chat/completions", &self.headers, Some(&body))
            .await?;
        let decoder = stream_decoder(&self.http.id, model);
        Ok(sse_stream(
            self.http.id.clone(),
            response,
            self.http.settings.stream_idle_timeout,
            decoder,
        ))
    }

    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        let body = json!({ "model": model, "input": inputs });
        let value = self
            .http
            .json(Method::POST, "embeddings", &self.headers, Some(&body))
            .await?;
        let wire: WireEmbeddings =
            serde_json::from_value(value).map_err(|e| self.http.malformed(e))?;
        let mut data = wire.data;
        data.sort_by_key(|d| d.index);
        Ok(Embeddings {
            vectors: data.into_iter().map(|d| d.embedding).collect(),
            usage: Usage {
                input_tokens: wire.usage.map_or(0, |u| u.prompt_tokens),
                output_tokens: 0,
            },
            model: wire
                .model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| model.to_owned()),
        })
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let value = self
            .http
            .json(Method::GET, "models", &self.headers, None)
            .await?;
        let wire: WireModels = serde_json::from_value(value).map_err(|e| self.http.malformed(e))?;
        Ok(wire.data.into_iter().map(|m| m.id).collect())
    }
}

/// The JSON body of a chat completion request; the output limit goes in
/// `output_field`.
pub fn chat_body(
    model: &str,
    request: &ChatRequest,
    stream: bool,
    output_field: OutputTokensField,
) -> Result<Value, LlmError> {
    if request.messages.is_empty() {
        return Err(LlmError::InvalidRequest(
            "a chat request needs at least one message".into(),
        ));
    }
    let messages: Vec<Value> = request.messages.iter().map(wire_message).collect();
    let options = &request.options;
    let mut body = json!({ "model": model, "messages": messages });
    let fields = body.as_object_mut().expect("object");
    if let Some(t) = options.temperature {
        fields.insert("temperature".into(), json!(t));
    }
    if let Some(p) = options.top_p {
        fields.insert("top_p".into(), json!(p));
    }
    if let Some(n) = options.max_tokens {
        fields.insert(output_field.name().into(), json!(n));
    }
    if !options.stop.is_empty() {
        fields.insert("stop".into(), json!(options.stop));
    }
    if let Some(seed) = options.seed {
        fields.insert("seed".into(), json!(seed));
    }
    match &options.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::Json) => {
            fields.insert("response_format".into(), json!({ "type": "json_object" }));
        }
        Some(ResponseFormat::JsonSchema(schema)) => {
            let schema = parse_json(schema, || "response-format json-schema".into())?;
            fields.insert(
                "response_format".into(),
                json!({ "type": "json_schema", "json_schema": { "name": "response", "schema": schema } }),
            );
        }
    }
    if !options.tools.is_empty() {
        let tools = options
            .tools
            .iter()
            .map(|tool| {
                let parameters = parse_json(&tool.parameters_schema, || format!("parameters-schema of tool `{}`", tool.name))?;
                Ok(json!({
                    "type": "function",
                    "function": { "name": tool.name, "description": tool.description, "parameters": parameters }
                }))
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        fields.insert("tools".into(), Value::Array(tools));
    }
    if stream {
        fields.insert("stream".into(), json!(true));
        fields.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(body)
}

fn wire_message(message: &Message) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    // A lone text part goes out as a plain string: every compatible server
    // accepts that, not all accept content arrays.
    let content = match message.content.as_slice() {
        [] => Value::String(String::new()),
        [ContentPart::Text(text)] => Value::String(text.clone()),
        parts => Value::Array(
            parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text(text) => json!({ "type": "text", "text": text }),
                    ContentPart::ImageUrl(url) => {
                        json!({ "type": "image_url", "image_url": { "url": url } })
                    }
                })
                .collect(),
        ),
    };
    let mut wire = json!({ "role": role, "content": content });
    if !message.tool_calls.is_empty() {
        wire["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": call.arguments_json }
                })
            })
            .collect();
    }
    if let Some(id) = &message.tool_call_id {
        wire["tool_call_id"] = json!(id);
    }
    wire
}

/// A chat completion's JSON body as a response.
pub fn decode_chat(provider: &str, model: &str, body: Value) -> Result<ChatResponse, LlmError> {
    let wire: WireCompletion = serde_json::from_value(body).map_err(|e| malformed(provider, e))?;
    wire.into_response(model)
}

/// The decoder of this wire format's streamed chunks.
pub fn stream_decoder(provider: &str, model: &str) -> impl StreamDecoder + use<> {
    StreamState::new(model, provider)
}

#[derive(Deserialize)]
struct WireCompletion {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize, Clone, Copy, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        }
    }
}

impl WireCompletion {
    fn into_response(self, model: &str) -> Result<ChatResponse, LlmError> {
        let choice = self.choices.into_iter().next().ok_or_else(|| {
            LlmError::Provider(ProviderError {
                status: None,
                message: "the answer had no choices".into(),
            })
        })?;
        Ok(ChatResponse {
            text: choice.message.content.unwrap_or_default(),
            tool_calls: choice
                .message
                .tool_calls
                .into_iter()
                .map(|c| ToolCall {
                    id: c.id,
                    name: c.function.name,
                    arguments_json: c.function.arguments,
                })
                .collect(),
            finish_reason: finish_reason(choice.finish_reason.as_deref()),
            usage: self.usage.unwrap_or_default().into(),
            model: self
                .model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| model.to_owned()),
        })
    }
}

fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("stop") | None => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Other,
    }
}

#[derive(Deserialize)]
struct WireChunk {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: WireDelta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCallDelta>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// Assembles streamed chunks into `StreamEvent`s: text as it comes, tool
/// calls once complete, `Finish` at `[DONE]` (after the usage chunk).
struct StreamState {
    provider: String,
    model: String,
    calls: BTreeMap<u32, ToolCall>,
    finish: Option<FinishReason>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    fn new(model: &str, provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            calls: BTreeMap::new(),
            finish: None,
            usage: Usage {
                input_tokens: 0,
                output_tokens: 0,
            },
            done: false,
        }
    }

    fn finish_events(&mut self) -> Vec<Result<StreamEvent, LlmError>> {
        self.done = true;
        let mut out: Vec<_> = std::mem::take(&mut self.calls)
            .into_values()
            .map(|call| Ok(StreamEvent::ToolCall(call)))
            .collect();
        let reason = self.finish.unwrap_or(if out.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        out.push(Ok(StreamEvent::Finish(StreamEnd {
            finish_reason: reason,
            usage: self.usage,
            model: self.model.clone(),
        })));
        out
    }
}

impl StreamDecoder for StreamState {
    fn event(&mut self, event: SseEvent) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        if event.data.trim() == "[DONE]" {
            return self.finish_events();
        }
        let chunk: WireChunk = match serde_json::from_str(&event.data) {
            Ok(chunk) => chunk,
            Err(e) => {
                // Some servers report errors inside the stream.
                self.done = true;
                let message = serde_json::from_str::<Value>(&event.data)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/error/message")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                return vec![Err(match message {
                    Some(m) => LlmError::Provider(ProviderError {
                        status: None,
                        message: m,
                    }),
                    None => LlmError::Provider(ProviderError {
                        status: None,
                        message: format!("{} sent a malformed stream event: {e}", self.provider),
                    }),
                })];
            }
        };
        let mut out = Vec::new();
        if let Some(model) = chunk.model {
            self.model = model;
        }
        if let Some(usage) = chunk.usage {
            self.usage = usage.into();
        }
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content
                && !text.is_empty()
            {
                out.push(Ok(StreamEvent::Text(text)));
            }
            for delta in choice.delta.tool_calls {
                let call = self.calls.entry(delta.index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments_json: String::new(),
                });
                if let Some(id) = delta.id {
                    call.id = id;
                }
                if let Some(function) = delta.function {
                    if let Some(name) = function.name {
                        call.name.push_str(&name);
                    }
                    if let Some(args) = function.arguments {
                        call.arguments_json.push_str(&args);
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(Some(&reason)));
            }
        }
        out
    }

    /// The body ended. Without `[DONE]` the answer is complete only if the
    /// server at least sent a finish reason; otherwise the stream was cut.
    fn end(&mut self) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        if self.finish.is_some() {
            return self.finish_events();
        }
        self.done = true;
        vec![Err(LlmError::Unavailable(format!(
            "{} closed the stream before the answer was complete",
            self.provider
        )))]
    }
}

#[derive(Deserialize)]
struct WireEmbeddings {
    data: Vec<WireEmbedding>,
    model: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireEmbedding {
    embedding: Vec<f32>,
    #[serde(default)]
    index: usize,
}

#[derive(Deserialize)]
struct WireModels {
    data: Vec<WireModel>,
}

#[derive(Deserialize)]
struct WireModel {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llm::Options;

    fn request(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            messages,
            options: Options {
                model: None,
                temperature: Some(0.5),
                top_p: None,
                max_tokens: Some(64),
                stop: vec!["END".into()],
                response_format: Some(ResponseFormat::Json),
                tools: vec![ToolDefinition {
                    name: "add".into(),
                    description: "adds".into(),
                    parameters_schema: r#"{"type":"object"}"#.into(),
                }],
                seed: None,
            },
        }
    }

    fn text(role: Role, text: &str) -> Message {
        text_message(role, text)
    }

    #[test]
    fn body_uses_the_openai_shapes() {
        let mut tool_answer = text(Role::Tool, "5");
        tool_answer.tool_call_id = Some("call_1".into());
        let body = chat_body(
            "gpt-x",
            &request(vec![text(Role::System, "be brief"), tool_answer]),
            true,
            OutputTokensField::MaxCompletionTokens,
        )
        .unwrap();
        assert_eq!(body["model"], "gpt-x");
        assert_eq!(
            body["messages"][0],
            json!({ "role": "system", "content": "be brief" })
        );
        assert_eq!(body["messages"][1]["tool_call_id"], "call_1");
        assert_eq!(body["response_format"], json!({ "type": "json_object" }));
        assert_eq!(
            body["tools"][0]["function"]["parameters"],
            json!({ "type": "object" })
        );
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["max_completion_tokens"], 64);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    }

    #[test]
    fn empty_conversation_is_an_invalid_request() {
        assert!(matches!(
            chat_body("m", &request(vec![]), false, OutputTokensField::MaxTokens),
            Err(LlmError::InvalidRequest(_))
        ));
    }

    fn feed(state: &mut StreamState, wire: &str) -> Vec<Result<StreamEvent, LlmError>> {
        let mut decoder = super::super::sse::SseDecoder::new();
        decoder
            .push(wire.as_bytes())
            .into_iter()
            .flat_map(|e| state.event(e))
            .collect()
    }

    #[test]
    fn stream_assembles_tool_calls_and_usage() {
        let mut state = StreamState::new("m", "t");
        let wire = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n",
            "data: [DONE]\n\n",
        );
        let events: Vec<_> = feed(&mut state, wire)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(events[0], StreamEvent::Text("Hi".into()));
        assert_eq!(
            events[1],
            StreamEvent::ToolCall(ToolCall {
                id: "c1".into(),
                name: "add".into(),
                arguments_json: "{\"a\":1}".into()
            })
        );
        let StreamEvent::Finish(end) = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!(end.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            end.usage,
            Usage {
                input_tokens: 7,
                output_tokens: 3
            }
        );
    }

    #[test]
    fn stream_cut_before_finish_is_an_error() {
        let mut state = StreamState::new("m", "t");
        assert!(
            feed(
                &mut state,
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
            )[0]
            .is_ok()
        );
        let end = state.end();
        assert!(
            matches!(&end[..], [Err(LlmError::Unavailable(m))] if m.contains("before the answer was complete"))
        );
    }
}
