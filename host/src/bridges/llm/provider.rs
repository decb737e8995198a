//! The provider trait every LLM backend implements, and the types it shares.
//!
//! Requests and responses use the WIT-generated types (`ChatRequest`,
//! `ChatResponse`, `StreamEvent`, `Error`), so the WIT stays the one
//! definition of what a chat is. Providers receive the provider-local model
//! name (`gpt-4o-mini`, not `openai/gpt-4o-mini`); the router adds the
//! prefix back on responses.

use std::pin::Pin;

use futures::Stream;

pub use crate::bindings::llm::{
    ChatRequest, ChatResponse, ContentPart, Embeddings, Error as LlmError, FinishReason, Message,
    Options, ProviderError, RateLimit, ResponseFormat, Role, StreamEnd, StreamEvent, ToolCall,
    ToolDefinition, Usage,
};

/// Stream of events of one streamed answer. A successful stream ends with a
/// `StreamEvent::Finish`; a cut stream ends with an `Err`.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// A backend that answers chat, embedding and model-list requests.
///
/// Implementations own their transport (HTTP client, local weights) and
/// credentials; nothing here ever reaches a guest.
#[async_trait::async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// The provider id: the part before `/` in model names.
    fn id(&self) -> &str;

    /// Answers a chat request in one piece.
    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError>;

    /// Answers a chat request as a stream of events.
    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError>;

    /// Embeds each input.
    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError>;

    /// Models the provider serves (provider-local names).
    async fn list_models(&self) -> Result<Vec<String>, LlmError>;

    /// Whether every chat request must carry an output limit (Anthropic's
    /// `max_tokens`). Where it need not, a request without one gets the
    /// API's default, the model's maximum.
    fn requires_output_limit(&self) -> bool {
        false
    }
}

impl LlmError {
    /// A sentence for humans (the generated `Display` is `Debug`-like).
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let f = &mut out;
        let _ = match self {
            LlmError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            LlmError::Auth(m) => write!(f, "authentication failed: {m}"),
            LlmError::RateLimited(r) => match r.retry_after_ms {
                Some(ms) => write!(f, "rate limited (retry after {ms} ms): {}", r.message),
                None => write!(f, "rate limited: {}", r.message),
            },
            LlmError::Denied(m) => write!(f, "denied: {m}"),
            LlmError::Timeout(m) => write!(f, "timed out: {m}"),
            LlmError::Unavailable(m) => write!(f, "unavailable: {m}"),
            LlmError::BudgetExceeded(m) => write!(f, "LLM budget exceeded: {m}"),
            LlmError::Provider(p) => match p.status {
                Some(status) => write!(f, "provider error (HTTP {status}): {}", p.message),
                None => write!(f, "provider error: {}", p.message),
            },
        };
        out
    }
}

/// Parses JSON a guest passed as a string (a schema, tool arguments);
/// `what` names it in the error.
pub fn parse_json(
    text: &str,
    what: impl FnOnce() -> String,
) -> Result<serde_json::Value, LlmError> {
    serde_json::from_str(text)
        .map_err(|e| LlmError::InvalidRequest(format!("{} is not JSON: {e}", what())))
}

/// A message of one text part.
pub fn text_message(role: Role, text: &str) -> Message {
    Message {
        role,
        content: vec![ContentPart::Text(text.to_owned())],
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

/// Chat options with nothing set: the run's default model, the provider's
/// defaults for everything else.
pub fn no_options() -> Options {
    Options {
        model: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: Vec::new(),
        response_format: None,
        tools: Vec::new(),
        seed: None,
    }
}

/// Plain text of a message: its text parts joined.
pub fn message_text(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::Text(text) => Some(text.as_str()),
            ContentPart::ImageUrl(_) => None,
        })
        .collect::<Vec<_>>()
        .join("")
}
