//! The OpenAI-compatible provider: `/chat/completions` (whole and streamed
//! over SSE), `/embeddings` and `/models`.
//!
//! One wire format serves OpenAI, Ollama (`http://127.0.0.1:11434/v1`), vLLM,
//! llama.cpp's server and LM Studio. The API key, when there is one, is sent
//! as a bearer token and never leaves this module.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::provider::*;
use super::sse::SseDecoder;

/// Settings of one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Provider id (`openai`, `ollama`, …).
    pub id: String,
    /// Base URL including the version prefix, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer token; `None` for local servers that need none.
    pub api_key: Option<String>,
    /// Name of the environment variable the key should come from, used in
    /// error messages when it is missing.
    pub api_key_env: Option<String>,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for a whole non-streamed request.
    pub request_timeout: Duration,
    /// Longest silence allowed between two chunks of a stream.
    pub stream_idle_timeout: Duration,
}

impl OpenAiConfig {
    pub fn new(id: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            base_url: base_url.into(),
            api_key: None,
            api_key_env: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(60),
        }
    }
}

/// An OpenAI-compatible endpoint.
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("spellhost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self { config, client })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match &self.config.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// Sends a request and turns transport failures and non-2xx answers
    /// into typed errors.
    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<reqwest::Response, LlmError> {
        let response = builder.send().await.map_err(|e| self.transport_error(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.status_error(response).await)
    }

    async fn send_json(&self, builder: reqwest::RequestBuilder) -> Result<Value, LlmError> {
        let builder = builder.timeout(self.config.request_timeout);
        let response = self.send(builder).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        serde_json::from_slice(&bytes).map_err(|e| malformed(&self.config.id, e))
    }

    fn transport_error(&self, err: reqwest::Error) -> LlmError {
        let base = &self.config.base_url;
        if err.is_timeout() {
            LlmError::Timeout(format!(
                "{} at {base} did not answer in time",
                self.config.id
            ))
        } else if err.is_connect() {
            LlmError::Unavailable(format!(
                "cannot connect to {} at {base}: {}",
                self.config.id,
                error_chain(&err)
            ))
        } else {
            LlmError::Unavailable(format!(
                "{} at {base}: {}",
                self.config.id,
                error_chain(&err)
            ))
        }
    }

    async fn status_error(&self, response: reqwest::Response) -> LlmError {
        let status = response.status();
        let retry_after_ms = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| truncate(&body, 300).to_owned());
        let message = if message.is_empty() {
            status.to_string()
        } else {
            message
        };
        match status.as_u16() {
            401 | 403 => LlmError::Auth(match &self.config.api_key_env {
                Some(env) => format!("{message} (the key comes from ${env})"),
                None => message,
            }),
            429 => LlmError::RateLimited(RateLimit {
                message,
                retry_after_ms,
            }),
            400 | 404 | 413 | 422 => LlmError::InvalidRequest(message),
            408 | 504 => LlmError::Timeout(message),
            503 => LlmError::Unavailable(message),
            code => LlmError::Provider(ProviderError {
                status: Some(code),
                message,
            }),
        }
    }
}

#[async_trait::async_trait]
impl LlmProvider for OpenAiProvider {
    fn id(&self) -> &str {
        &self.config.id
    }

    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = chat_body(model, request, false)?;
        let value = self
            .send_json(
                self.request(reqwest::Method::POST, "chat/completions")
                    .json(&body),
            )
            .await?;
        let wire: WireCompletion =
            serde_json::from_value(value).map_err(|e| malformed(&self.config.id, e))?;
        wire.into_response(model)
    }

    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let body = chat_body(model, request, true)?;
        let builder = self
            .request(reqwest::Method::POST, "chat/completions")
            .json(&body);
        let response = self.send(builder).await?;
        let idle = self.config.stream_idle_timeout;
        let id = self.config.id.clone();
        let mut bytes = response.bytes_stream();
        let mut state = StreamState::new(model);
        let stream = async_stream(move |tx| async move {
            loop {
                let chunk = match tokio::time::timeout(idle, bytes.next()).await {
                    Err(_) => {
                        let _ = tx.send(Err(LlmError::Timeout(format!(
                            "{id} sent nothing for {}s in the middle of a stream",
                            idle.as_secs()
                        ))));
                        return;
                    }
                    Ok(None) => {
                        let end = state.end_of_body(&id);
                        for item in end {
                            let _ = tx.send(item);
                        }
                        return;
                    }
                    Ok(Some(Err(e))) => {
                        let _ = tx.send(Err(LlmError::Unavailable(format!(
                            "{id} stream was cut: {}",
                            error_chain(&e)
                        ))));
                        return;
                    }
                    Ok(Some(Ok(chunk))) => chunk,
                };
                for item in state.push(&chunk, &id) {
                    let stop = !matches!(item, Ok(StreamEvent::Text(_) | StreamEvent::ToolCall(_)));
                    if tx.send(item).is_err() || stop {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }

    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        let body = json!({ "model": model, "input": inputs });
        let value = self
            .send_json(
                self.request(reqwest::Method::POST, "embeddings")
                    .json(&body),
            )
            .await?;
        let wire: WireEmbeddings =
            serde_json::from_value(value).map_err(|e| malformed(&self.config.id, e))?;
        let mut data = wire.data;
        data.sort_by_key(|d| d.index);
        Ok(Embeddings {
            vectors: data.into_iter().map(|d| d.embedding).collect(),
            usage: Usage {
                input_tokens: wire.usage.map_or(0, |u| u.prompt_tokens),
                output_tokens: 0,
            },
            model: wire.model.unwrap_or_else(|| model.to_owned()),
        })
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let value = self
            .send_json(self.request(reqwest::Method::GET, "models"))
            .await?;
        let wire: WireModels =
            serde_json::from_value(value).map_err(|e| malformed(&self.config.id, e))?;
        Ok(wire.data.into_iter().map(|m| m.id).collect())
    }
}

/// Runs `produce` on a task and exposes what it sends as a stream. The
/// task is aborted when the stream is dropped.
fn async_stream<F, Fut>(produce: F) -> EventStream
where
    F: FnOnce(tokio::sync::mpsc::UnboundedSender<Result<StreamEvent, LlmError>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(produce(tx));
    let guard = AbortOnDrop(task);
    Box::pin(futures::stream::unfold(
        (rx, guard),
        |(mut rx, guard)| async move { rx.recv().await.map(|item| (item, (rx, guard))) },
    ))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The JSON body of a chat completion request.
pub fn chat_body(model: &str, request: &ChatRequest, stream: bool) -> Result<Value, LlmError> {
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
        fields.insert("max_tokens".into(), json!(n));
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
            let schema: Value = serde_json::from_str(schema).map_err(|e| {
                LlmError::InvalidRequest(format!("response-format json-schema is not JSON: {e}"))
            })?;
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
                let parameters: Value = serde_json::from_str(&tool.parameters_schema).map_err(|e| {
                    LlmError::InvalidRequest(format!(
                        "parameters-schema of tool `{}` is not JSON: {e}",
                        tool.name
                    ))
                })?;
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
            model: self.model.unwrap_or_else(|| model.to_owned()),
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
    decoder: SseDecoder,
    model: String,
    calls: BTreeMap<u32, ToolCall>,
    finish: Option<FinishReason>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    fn new(model: &str) -> Self {
        Self {
            decoder: SseDecoder::new(),
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

    fn push(&mut self, chunk: &[u8], id: &str) -> Vec<Result<StreamEvent, LlmError>> {
        let mut out = Vec::new();
        for event in self.decoder.push(chunk) {
            if self.done {
                break;
            }
            if event.data.trim() == "[DONE]" {
                out.extend(self.finish_events());
                return out;
            }
            let chunk: WireChunk = match serde_json::from_str(&event.data) {
                Ok(chunk) => chunk,
                Err(e) => {
                    // Some servers report errors inside the stream.
                    let message = serde_json::from_str::<Value>(&event.data)
                        .ok()
                        .and_then(|v| {
                            v.pointer("/error/message")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        });
                    self.done = true;
                    out.push(Err(match message {
                        Some(m) => LlmError::Provider(ProviderError {
                            status: None,
                            message: m,
                        }),
                        None => malformed(id, e),
                    }));
                    return out;
                }
            };
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
        }
        out
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

    /// The body ended. Without `[DONE]` the answer is complete only if the
    /// server at least sent a finish reason; otherwise the stream was cut.
    fn end_of_body(&mut self, id: &str) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        if self.finish.is_some() && !self.decoder.has_partial() {
            return self.finish_events();
        }
        self.done = true;
        vec![Err(LlmError::Unavailable(format!(
            "{id} closed the stream before the answer was complete"
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

fn malformed(id: &str, err: impl std::fmt::Display) -> LlmError {
    LlmError::Provider(ProviderError {
        status: None,
        message: format!("{id} sent a malformed answer: {err}"),
    })
}

/// `Retry-After` (seconds or HTTP date) or OpenAI's `retry-after-ms`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        return Some(ms as u64);
    }
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = value.trim().parse::<f64>() {
        return Some((secs * 1000.0) as u64);
    }
    let when = humantime::parse_rfc3339_weak(value)
        .ok()
        .or_else(|| httpdate(value))?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map_or(0, |d| d.as_millis() as u64),
    )
}

fn httpdate(value: &str) -> Option<std::time::SystemTime> {
    // "Wed, 21 Oct 2015 07:28:00 GMT" → "2015-10-21 07:28:00"
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, _] = parts.as_slice() else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| m == month)? + 1;
    humantime::parse_rfc3339_weak(&format!("{year}-{month:02}-{day:0>2} {time}")).ok()
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    message
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
        Message {
            role,
            content: vec![ContentPart::Text(text.into())],
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    #[test]
    fn body_uses_the_openai_shapes() {
        let mut tool_answer = text(Role::Tool, "5");
        tool_answer.tool_call_id = Some("call_1".into());
        let body = chat_body(
            "gpt-x",
            &request(vec![text(Role::System, "be brief"), tool_answer]),
            true,
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
        assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    }

    #[test]
    fn empty_conversation_is_an_invalid_request() {
        assert!(matches!(
            chat_body("m", &request(vec![]), false),
            Err(LlmError::InvalidRequest(_))
        ));
    }

    #[test]
    fn stream_assembles_tool_calls_and_usage() {
        let mut state = StreamState::new("m");
        let wire = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n",
            "data: [DONE]\n\n",
        );
        let events: Vec<_> = state
            .push(wire.as_bytes(), "t")
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
        let mut state = StreamState::new("m");
        assert!(
            state.push(
                b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
                "t"
            )[0]
            .is_ok()
        );
        let end = state.end_of_body("t");
        assert!(
            matches!(&end[..], [Err(LlmError::Unavailable(m))] if m.contains("before the answer was complete"))
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(2000));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(150));
    }
}
