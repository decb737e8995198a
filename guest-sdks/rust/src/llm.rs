//! Chat with models, concurrently or streamed; embeddings; model listing.
//!
//! ```ignore
//! // One question, default model:
//! let answer = llm::ask("Name three prime numbers.")?;
//!
//! // A conversation with options:
//! let reply = llm::Chat::new()
//!     .system("Answer in one word.")
//!     .user("Capital of France?")
//!     .temperature(0.0)
//!     .send()?;
//!
//! // Several requests in flight at once:
//! let pending: Vec<_> = topics.iter().map(|t| llm::Chat::new().user(t).start()).collect();
//! let answers = llm::wait_all(pending);
//!
//! // Streaming:
//! for chunk in llm::Chat::new().user("Tell a story").stream()?.text() {
//!     print!("{}", chunk?);
//! }
//! ```

use crate::bindings::spellhost::spell::llm as raw;
use crate::bindings::wasi::io::poll::Pollable;
use crate::{Error, Result};

pub use raw::{
    ChatResponse, ContentPart, FinishReason, Message, ModelInfo, ResponseFormat, Role, StreamEnd,
    StreamEvent, ToolCall, ToolDefinition, Usage,
};

impl Message {
    /// A message with one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentPart::Text(text.into())],
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn system(text: impl Into<String>) -> Self {
        Self::text(Role::System, text)
    }

    pub fn user(text: impl Into<String>) -> Self {
        Self::text(Role::User, text)
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text(Role::Assistant, text)
    }

    /// The answer to tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(call_id.into()),
            ..Self::text(Role::Tool, text)
        }
    }
}

/// Asks the default model one question and returns the answer's text.
pub fn ask(prompt: &str) -> Result<String> {
    Ok(Chat::new().user(prompt).send()?.text)
}

/// A chat request under construction.
#[derive(Clone)]
pub struct Chat {
    messages: Vec<Message>,
    options: raw::Options,
}

impl Default for Chat {
    fn default() -> Self {
        Self::new()
    }
}

impl Chat {
    pub fn new() -> Self {
        Self {
            messages: Vec::new(),
            options: raw::Options {
                model: None,
                temperature: None,
                top_p: None,
                max_tokens: None,
                stop: Vec::new(),
                response_format: None,
                tools: Vec::new(),
                seed: None,
            },
        }
    }

    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    pub fn system(self, text: impl Into<String>) -> Self {
        self.message(Message::system(text))
    }

    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(Message::user(text))
    }

    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(Message::assistant(text))
    }

    /// `provider/model` or an alias; the run's default model when unset.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.options.model = Some(model.into());
        self
    }

    pub fn temperature(mut self, temperature: f32) -> Self {
        self.options.temperature = Some(temperature);
        self
    }

    pub fn top_p(mut self, top_p: f32) -> Self {
        self.options.top_p = Some(top_p);
        self
    }

    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.options.max_tokens = Some(max_tokens);
        self
    }

    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.options.stop.push(stop.into());
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = Some(seed);
        self
    }

    /// Ask for a JSON object as the answer.
    pub fn json(mut self) -> Self {
        self.options.response_format = Some(ResponseFormat::Json);
        self
    }

    /// Ask for JSON matching `schema` (a JSON Schema document).
    pub fn json_schema(mut self, schema: &serde_json::Value) -> Self {
        self.options.response_format = Some(ResponseFormat::JsonSchema(schema.to_string()));
        self
    }

    /// Offer a tool to the model.
    pub fn tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: &serde_json::Value,
    ) -> Self {
        self.options.tools.push(ToolDefinition {
            name: name.into(),
            description: description.into(),
            parameters_schema: parameters.to_string(),
        });
        self
    }

    fn request(&self) -> raw::ChatRequest {
        raw::ChatRequest {
            messages: self.messages.clone(),
            options: self.options.clone(),
        }
    }

    /// Sends the request and waits for the whole answer.
    pub fn send(&self) -> Result<ChatResponse> {
        Ok(raw::chat(&self.request())?)
    }

    /// Starts the request and returns at once; see [`wait_all`].
    pub fn start(&self) -> Pending {
        Pending(raw::start_chat(&self.request()))
    }

    /// Starts a streamed answer.
    pub fn stream(&self) -> Result<Stream> {
        Ok(Stream(raw::stream_chat(&self.request())?))
    }

    /// Sends the request and parses the answer as JSON (asks for JSON output).
    pub fn send_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let mut chat = self.clone();
        if chat.options.response_format.is_none() {
            chat = chat.json();
        }
        Ok(serde_json::from_str(&chat.send()?.text)?)
    }
}

/// A request in flight.
pub struct Pending(raw::PendingChat);

impl Pending {
    /// The answer if it has arrived, without waiting.
    pub fn try_get(&self) -> Option<Result<ChatResponse>> {
        self.0.get().map(|r| r.map_err(Error::from))
    }

    /// Waits for the answer.
    pub fn wait(self) -> Result<ChatResponse> {
        loop {
            if let Some(result) = self.try_get() {
                return result;
            }
            self.0.subscribe().block();
        }
    }

    /// A pollable that is ready when the answer has arrived, to combine with
    /// other `wasi:io` pollables.
    pub fn subscribe(&self) -> Pollable {
        self.0.subscribe()
    }
}

/// Waits for every request, returning results in the same order. The
/// requests run concurrently in the host while this waits.
pub fn wait_all(pending: Vec<Pending>) -> Vec<Result<ChatResponse>> {
    crate::wait::wait_all(&pending, Pending::try_get, Pending::subscribe)
}

/// A streamed answer: iterate to receive events as they arrive.
pub struct Stream(raw::ChatStream);

impl Stream {
    /// Only the text, chunk by chunk.
    pub fn text(self) -> impl Iterator<Item = Result<String>> {
        self.filter_map(|event| match event {
            Ok(StreamEvent::Text(text)) => Some(Ok(text)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// The next event if one is buffered, without waiting.
    pub fn try_next(&self) -> Result<Option<StreamEvent>> {
        Ok(self.0.try_next()?)
    }

    /// A pollable that is ready when an event is buffered.
    pub fn subscribe(&self) -> Pollable {
        self.0.subscribe()
    }
}

impl Iterator for Stream {
    type Item = Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map_err(Error::from).transpose()
    }
}

/// Embeds `inputs` with the default (or given) model.
pub fn embed(model: Option<&str>, inputs: &[&str]) -> Result<Vec<Vec<f32>>> {
    let request = raw::EmbedRequest {
        model: model.map(str::to_owned),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
    };
    Ok(raw::embed(&request)?.vectors)
}

/// Models this spell may use.
pub fn models() -> Result<Vec<ModelInfo>> {
    Ok(raw::list_models()?)
}
