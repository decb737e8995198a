//! The Google Gemini provider: `generateContent`, `streamGenerateContent`
//! (SSE with `alt=sse`), function calling, `batchEmbedContents` and model
//! listing, on the Generative Language API (`/v1beta`).
//!
//! Mapping: `system` messages become `systemInstruction`; assistant turns
//! are `model` turns; tools are declared with their JSON Schema as
//! `parametersJsonSchema` (`parameters` takes only an OpenAPI subset and
//! refuses keywords such as `additionalProperties`); tool calls are
//! `functionCall` parts and tool results `functionResponse` parts (Gemini
//! matches results by function name, so the name is looked up from the
//! call the result answers). Gemini's calls may lack ids; the host assigns
//! `call_<n>`.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::http::{HttpTransport, RemoteConfig, secret_header};
use super::provider::*;
use super::sse::SseEvent;
use super::stream::{StreamDecoder, sse_stream};

/// Settings of a Gemini endpoint; `base_url` includes the version, e.g.
/// `https://generativelanguage.googleapis.com/v1beta`.
pub type GeminiConfig = RemoteConfig;

/// A Gemini endpoint.
pub struct GeminiProvider {
    http: HttpTransport,
    headers: HeaderMap,
}

impl GeminiProvider {
    pub fn new(config: GeminiConfig) -> Result<Self, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let value = secret_header(key, &config.id)?;
            headers.insert("x-goog-api-key", value);
        }
        let http = HttpTransport::new(&config)?;
        Ok(Self { http, headers })
    }
}

#[async_trait::async_trait]
impl LlmProvider for GeminiProvider {
    fn id(&self) -> &str {
        &self.http.id
    }

    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = generate_body(request)?;
        let path = format!("models/{model}:generateContent");
        let value = self
            .http
            .json(Method::POST, &path, &self.headers, Some(&body))
            .await?;
        decode_chat(&self.http.id, model, value)
    }

    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let body = generate_body(request)?;
        let path = format!("models/{model}:streamGenerateContent?alt=sse");
        let response = self
            .http
            .send(Method::POST, &path, &self.headers, Some(&body))
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
        let requests: Vec<Value> = inputs
            .iter()
            .map(|text| json!({ "model": format!("models/{model}"), "content": { "parts": [{ "text": text }] } }))
            .collect();
        let path = format!("models/{model}:batchEmbedContents");
        let body = json!({ "requests": requests });
        let value = self
            .http
            .json(Method::POST, &path, &self.headers, Some(&body))
            .await?;
        let vectors = value["embeddings"]
            .as_array()
            .ok_or_else(|| self.http.malformed("no `embeddings` list"))?
            .iter()
            .map(|e| {
                e["values"].as_array().map(|v| {
                    v.iter()
                        .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                        .collect::<Vec<f32>>()
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.http.malformed("an embedding without `values`"))?;
        Ok(Embeddings {
            vectors,
            usage: Usage {
                input_tokens: 0,
                output_tokens: 0,
            },
            model: model.to_owned(),
        })
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let value = self
            .http
            .json(Method::GET, "models", &self.headers, None)
            .await?;
        let models = value["models"]
            .as_array()
            .ok_or_else(|| self.http.malformed("no `models` list"))?;
        Ok(models
            .iter()
            .filter_map(|m| m["name"].as_str())
            .map(|name| name.strip_prefix("models/").unwrap_or(name).to_owned())
            .collect())
    }
}

/// The JSON body of a `generateContent` request.
pub fn generate_body(request: &ChatRequest) -> Result<Value, LlmError> {
    if request.messages.is_empty() {
        return Err(LlmError::InvalidRequest(
            "a chat request needs at least one message".into(),
        ));
    }
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    for message in &request.messages {
        let (role, parts) = match message.role {
            Role::System => {
                system.push(json!({ "text": message_text(message) }));
                continue;
            }
            Role::User => ("user", parts(message)),
            Role::Assistant => {
                let mut parts = parts(message);
                for call in &message.tool_calls {
                    let args = parse_json(&call.arguments_json, || {
                        format!("arguments of tool call `{}`", call.id)
                    })?;
                    parts.push(json!({ "functionCall": { "name": call.name, "args": args } }));
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = message.tool_call_id.as_deref().unwrap_or_default();
                let name = request
                    .messages
                    .iter()
                    .flat_map(|m| &m.tool_calls)
                    .find(|call| call.id == id)
                    .map(|call| call.name.clone())
                    .ok_or_else(|| {
                        LlmError::InvalidRequest(format!(
                            "tool result `{id}` answers no tool call of this conversation"
                        ))
                    })?;
                let text = message_text(message);
                let response = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({ "result": text }));
                (
                    "user",
                    vec![json!({ "functionResponse": { "name": name, "response": response } })],
                )
            }
        };
        match contents.last_mut() {
            Some(last) if last["role"] == role => {
                last["parts"].as_array_mut().expect("parts").extend(parts);
            }
            _ => contents.push(json!({ "role": role, "parts": parts })),
        }
    }
    let options = &request.options;
    let mut config = serde_json::Map::new();
    if let Some(t) = options.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = options.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(n) = options.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if !options.stop.is_empty() {
        config.insert("stopSequences".into(), json!(options.stop));
    }
    if let Some(seed) = options.seed {
        config.insert("seed".into(), json!(seed));
    }
    match &options.response_format {
        Some(ResponseFormat::Json) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema(schema)) => {
            let schema = parse_json(schema, || "response-format json-schema".into())?;
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema);
        }
        _ => {}
    }
    let mut body = json!({ "contents": contents });
    if !system.is_empty() {
        body["systemInstruction"] = json!({ "parts": system });
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    if !options.tools.is_empty() {
        let declarations = options
            .tools
            .iter()
            .map(|tool| {
                let parameters = parse_json(&tool.parameters_schema, || format!("parameters-schema of tool `{}`", tool.name))?;
                Ok(json!({ "name": tool.name, "description": tool.description, "parametersJsonSchema": parameters }))
            })
            .collect::<Result<Vec<_>, LlmError>>()?;
        body["tools"] = json!([{ "functionDeclarations": declarations }]);
    }
    Ok(body)
}

fn parts(message: &Message) -> Vec<Value> {
    message
        .content
        .iter()
        .filter(|part| !matches!(part, ContentPart::Text(t) if t.is_empty()))
        .map(|part| match part {
            ContentPart::Text(text) => json!({ "text": text }),
            ContentPart::ImageUrl(url) => match url
                .strip_prefix("data:")
                .and_then(|rest| rest.split_once(";base64,"))
            {
                Some((mime, data)) => json!({ "inlineData": { "mimeType": mime, "data": data } }),
                None => json!({ "fileData": { "fileUri": url } }),
            },
        })
        .collect()
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Other,
    }
}

/// A `generateContent` response body as a response.
pub fn decode_chat(provider: &str, model: &str, body: Value) -> Result<ChatResponse, LlmError> {
    let mut decoder = Decoder::new(model, provider);
    decoder.chunk(&body)?;
    Ok(decoder.into_response())
}

/// The decoder of this wire format's streamed chunks.
pub fn stream_decoder(provider: &str, model: &str) -> impl StreamDecoder + use<> {
    Decoder::new(model, provider)
}

/// Folds `GenerateContentResponse` chunks (one for `generateContent`, many
/// for a stream) into text, tool calls, usage and a finish reason.
struct Decoder {
    provider: String,
    model: String,
    text: String,
    calls: Vec<ToolCall>,
    usage: Usage,
    finish: Option<FinishReason>,
    done: bool,
}

impl Decoder {
    fn new(model: &str, provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
            text: String::new(),
            calls: Vec::new(),
            usage: Usage {
                input_tokens: 0,
                output_tokens: 0,
            },
            finish: None,
            done: false,
        }
    }

    /// Applies one chunk; returns the stream events it carries.
    fn chunk(&mut self, value: &Value) -> Result<Vec<StreamEvent>, LlmError> {
        if let Some(message) = value.pointer("/error/message").and_then(Value::as_str) {
            return Err(LlmError::Provider(ProviderError {
                status: None,
                message: message.to_owned(),
            }));
        }
        if let Some(model) = value["modelVersion"].as_str() {
            self.model = model.to_owned();
        }
        if let Some(usage) = value.get("usageMetadata") {
            self.usage.input_tokens = usage["promptTokenCount"].as_u64().unwrap_or(0) as u32;
            self.usage.output_tokens = usage["candidatesTokenCount"].as_u64().unwrap_or(0) as u32;
        }
        if let Some(reason) = value
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            self.finish = Some(FinishReason::ContentFilter);
            return Err(LlmError::InvalidRequest(format!(
                "Gemini blocked the prompt: {reason}"
            )));
        }
        let mut events = Vec::new();
        let Some(candidate) = value.pointer("/candidates/0") else {
            return Ok(events);
        };
        for part in candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(text) = part["text"].as_str() {
                if part["thought"].as_bool() == Some(true) || text.is_empty() {
                    continue;
                }
                self.text.push_str(text);
                events.push(StreamEvent::Text(text.to_owned()));
            }
            if let Some(call) = part.get("functionCall") {
                let id = call["id"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{}", self.calls.len() + 1));
                let call = ToolCall {
                    id,
                    name: call["name"].as_str().unwrap_or_default().to_owned(),
                    arguments_json: call
                        .get("args")
                        .cloned()
                        .unwrap_or_else(|| json!({}))
                        .to_string(),
                };
                self.calls.push(call.clone());
                events.push(StreamEvent::ToolCall(call));
            }
        }
        if let Some(reason) = candidate["finishReason"].as_str() {
            self.finish = Some(finish_reason(reason));
        }
        Ok(events)
    }

    fn reason(&self) -> FinishReason {
        match self.finish {
            Some(FinishReason::Stop) | None if !self.calls.is_empty() => FinishReason::ToolCalls,
            Some(reason) => reason,
            None => FinishReason::Stop,
        }
    }

    fn into_response(self) -> ChatResponse {
        ChatResponse {
            finish_reason: self.reason(),
            text: self.text,
            tool_calls: self.calls,
            usage: self.usage,
            model: self.model,
        }
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: SseEvent) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        let value: Value = match serde_json::from_str(&event.data) {
            Ok(value) => value,
            Err(e) => {
                self.done = true;
                return vec![Err(LlmError::Provider(ProviderError {
                    status: None,
                    message: format!("{} sent a malformed stream event: {e}", self.provider),
                }))];
            }
        };
        match self.chunk(&value) {
            Ok(events) => events.into_iter().map(Ok).collect(),
            Err(err) => {
                self.done = true;
                vec![Err(err)]
            }
        }
    }

    /// Gemini ends a stream by closing it; the answer is complete when the
    /// last chunk carried a finish reason.
    fn end(&mut self) -> Vec<Result<StreamEvent, LlmError>> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        if self.finish.is_none() {
            return vec![Err(LlmError::Unavailable(format!(
                "{} closed the stream before the answer was complete",
                self.provider
            )))];
        }
        vec![Ok(StreamEvent::Finish(StreamEnd {
            finish_reason: self.reason(),
            usage: self.usage,
            model: self.model.clone(),
        }))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llm::Options;

    fn text(role: Role, text: &str) -> Message {
        text_message(role, text)
    }

    #[test]
    fn tool_results_are_matched_to_their_function_by_name() {
        let mut assistant = text(Role::Assistant, "");
        assistant.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments_json: "{\"city\":\"Oslo\"}".into(),
        }];
        let mut result = text(Role::Tool, "{\"temp\":3}");
        result.tool_call_id = Some("call_1".into());
        let request = ChatRequest {
            messages: vec![
                text(Role::System, "sys"),
                text(Role::User, "weather?"),
                assistant,
                result,
            ],
            options: Options {
                model: None,
                temperature: Some(0.0),
                top_p: None,
                max_tokens: Some(50),
                stop: vec![],
                response_format: None,
                tools: vec![],
                seed: None,
            },
        };
        let body = generate_body(&request).unwrap();
        assert_eq!(
            body["systemInstruction"],
            json!({ "parts": [{ "text": "sys" }] })
        );
        assert_eq!(body["contents"][1]["role"], "model");
        assert_eq!(
            body["contents"][1]["parts"][0],
            json!({ "functionCall": { "name": "get_weather", "args": { "city": "Oslo" } } })
        );
        assert_eq!(
            body["contents"][2]["parts"][0],
            json!({ "functionResponse": { "name": "get_weather", "response": { "temp": 3 } } })
        );
        assert_eq!(
            body["generationConfig"],
            json!({ "temperature": 0.0, "maxOutputTokens": 50 })
        );
    }

    #[test]
    fn a_stream_without_a_finish_reason_was_cut() {
        let mut decoder = Decoder::new("m", "gemini");
        let chunk = SseEvent {
            event: None,
            data: r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}"#.into(),
        };
        assert_eq!(
            decoder
                .event(chunk)
                .into_iter()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
            [StreamEvent::Text("Hel".into())]
        );
        assert!(matches!(
            &decoder.end()[..],
            [Err(LlmError::Unavailable(_))]
        ));
    }
}
