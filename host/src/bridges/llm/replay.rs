//! The replay provider: answers from a script of replies instead of a
//! model, and the recorder that writes such a script from a real provider.
//!
//! `spellhost test` routes every model name to a [`ReplayProvider`], so a
//! spell's tests need no key and no network. It holds the model to the
//! rules a real one keeps, so a test fails the way a real run would: it
//! calls only the tools the request offered, answers JSON when JSON was
//! asked for, and answers each request once — a request with no reply left
//! is an error that says so.
//!
//! A reply answers the first request whose last message contains its
//! `when` text, or, without `when`, the next request in order (replies for
//! concurrent requests should say `when`).

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::provider::{
    ChatRequest, ChatResponse, Embeddings, EventStream, FinishReason, LlmError, LlmProvider,
    Message, ProviderError, RateLimit, ResponseFormat, StreamEnd, StreamEvent, ToolCall, Usage,
    message_text,
};

/// One scripted answer, as written in a test file or a recording: a bare
/// string is a text reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplySpec {
    Text(String),
    Full(FullReply),
}

/// A reply with tool calls, a `when`, or an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FullReply {
    /// The answer's text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Tools the model calls.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallSpec>,
    /// Answer only a request whose last message contains this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Fail the request instead, as the provider would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorSpec>,
}

/// A tool call the scripted model makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallSpec {
    /// The call's id (default `call_N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// The arguments object.
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// A provider error to answer with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    pub kind: ErrorKind,
    #[serde(default)]
    pub message: String,
    /// For `provider`: the HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `rate_limited`: how long the provider asks to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The kinds of [`LlmError`], as test files name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidRequest,
    Auth,
    RateLimited,
    Timeout,
    Unavailable,
    Provider,
}

impl ErrorSpec {
    fn to_error(&self) -> LlmError {
        let message = self.message.clone();
        match self.kind {
            ErrorKind::InvalidRequest => LlmError::InvalidRequest(message),
            ErrorKind::Auth => LlmError::Auth(message),
            ErrorKind::RateLimited => LlmError::RateLimited(RateLimit {
                message,
                retry_after_ms: self.retry_after_ms,
            }),
            ErrorKind::Timeout => LlmError::Timeout(message),
            ErrorKind::Unavailable => LlmError::Unavailable(message),
            ErrorKind::Provider => LlmError::Provider(ProviderError {
                status: self.status,
                message,
            }),
        }
    }
}

impl ReplySpec {
    fn full(&self) -> FullReply {
        match self {
            ReplySpec::Text(text) => FullReply {
                text: text.clone(),
                ..FullReply::default()
            },
            ReplySpec::Full(full) => full.clone(),
        }
    }
}

/// A request the spell made, as a test may check it.
#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    /// The model asked for, as the provider knows it.
    pub model: String,
    /// Every message's text, one per line.
    pub text: String,
    /// The reply's index in the script, or none when nothing answered.
    pub answered_by: Option<usize>,
}

#[derive(Default)]
struct Script {
    replies: Vec<FullReply>,
    used: Vec<bool>,
    asked: Vec<Asked>,
    /// Requests no reply was left for.
    unanswered: Vec<String>,
}

/// Answers every request from a script of replies (see the module docs).
pub struct ReplayProvider {
    id: String,
    script: Mutex<Script>,
}

impl ReplayProvider {
    /// A provider named `id` with no replies yet.
    pub fn new(id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            id: id.into(),
            script: Mutex::default(),
        })
    }

    /// Replaces the script (and forgets what was asked).
    pub fn load(&self, replies: &[ReplySpec]) {
        let replies: Vec<FullReply> = replies.iter().map(ReplySpec::full).collect();
        let used = vec![false; replies.len()];
        *self.lock() = Script {
            replies,
            used,
            ..Script::default()
        };
    }

    /// The requests made since the script was loaded.
    pub fn asked(&self) -> Vec<Asked> {
        self.lock().asked.clone()
    }

    /// The replies no request took, by index.
    pub fn unused(&self) -> Vec<usize> {
        let script = self.lock();
        (0..script.replies.len())
            .filter(|&i| !script.used[i])
            .collect()
    }

    /// The requests that found no reply left (their last message).
    pub fn unanswered(&self) -> Vec<String> {
        self.lock().unanswered.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reply for `request`, checked against what it offered.
    fn answer(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let last = request
            .messages
            .last()
            .map(message_text)
            .unwrap_or_default();
        let mut script = self.lock();
        let n = script.asked.len() + 1;
        let pick = {
            let free = |i: &usize| !script.used[*i];
            let by_when = (0..script.replies.len())
                .filter(free)
                .find(|&i| matches!(&script.replies[i].when, Some(w) if last.contains(w.as_str())));
            by_when.or_else(|| {
                (0..script.replies.len())
                    .filter(free)
                    .find(|&i| script.replies[i].when.is_none())
            })
        };
        script.asked.push(Asked {
            model: model.to_owned(),
            text: request
                .messages
                .iter()
                .map(message_text)
                .collect::<Vec<_>>()
                .join("\n"),
            answered_by: pick,
        });
        let Some(index) = pick else {
            script.unanswered.push(last.clone());
            let waiting: Vec<String> = (0..script.replies.len())
                .filter(|&i| !script.used[i])
                .filter_map(|i| script.replies[i].when.as_deref().map(excerpt))
                .collect();
            return Err(LlmError::Unavailable(if waiting.is_empty() {
                format!(
                    "the test has no reply left for request {n} (its last message: {}); add one to the test's `replies`",
                    excerpt(&last)
                )
            } else {
                format!(
                    "no reply of the test matches request {n} (its last message: {}): the replies left wait for a last message containing {}",
                    excerpt(&last),
                    waiting.join(" or ")
                )
            }));
        };
        script.used[index] = true;
        let reply = script.replies[index].clone();
        drop(script);
        if let Some(error) = &reply.error {
            return Err(error.to_error());
        }
        let which = || format!("reply {} of the test", index + 1);
        let tool_calls = reply
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                if !request.options.tools.iter().any(|t| t.name == call.name) {
                    let offered: Vec<&str> = request
                        .options
                        .tools
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect();
                    return Err(LlmError::InvalidRequest(format!(
                        "{} calls the tool `{}`, which request {n} did not offer (offered: {})",
                        which(),
                        call.name,
                        if offered.is_empty() {
                            "none".to_owned()
                        } else {
                            offered.join(", ")
                        }
                    )));
                }
                Ok(ToolCall {
                    id: call
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("call_{n}_{}", i + 1)),
                    name: call.name.clone(),
                    arguments_json: call.arguments.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let wants_json = matches!(
            request.options.response_format,
            Some(ResponseFormat::Json | ResponseFormat::JsonSchema(_))
        );
        if wants_json
            && tool_calls.is_empty()
            && serde_json::from_str::<serde_json::Value>(&reply.text).is_err()
        {
            return Err(LlmError::InvalidRequest(format!(
                "{} is not JSON, but request {n} asked for a JSON answer",
                which()
            )));
        }
        Ok(ChatResponse {
            usage: Usage {
                input_tokens: request.messages.iter().map(tokens_of).sum(),
                output_tokens: count_tokens(&reply.text)
                    + tool_calls
                        .iter()
                        .map(|c| count_tokens(&c.arguments_json))
                        .sum::<u32>(),
            },
            finish_reason: if tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            },
            text: reply.text,
            tool_calls,
            model: model.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl LlmProvider for ReplayProvider {
    fn id(&self) -> &str {
        &self.id
    }

    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.answer(model, request)
    }

    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let response = self.answer(model, request)?;
        // Text comes word by word, as a model streams it.
        let mut events: Vec<Result<StreamEvent, LlmError>> = response
            .text
            .split_inclusive(' ')
            .map(|piece| Ok(StreamEvent::Text(piece.to_owned())))
            .collect();
        events.extend(
            response
                .tool_calls
                .into_iter()
                .map(|call| Ok(StreamEvent::ToolCall(call))),
        );
        events.push(Ok(StreamEvent::Finish(StreamEnd {
            finish_reason: response.finish_reason,
            usage: response.usage,
            model: response.model,
        })));
        Ok(Box::pin(futures::stream::iter(events)))
    }

    /// Vectors that depend only on the words of each input: texts that
    /// share words are near, the same text gives the same vector.
    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        Ok(Embeddings {
            vectors: inputs.iter().map(|text| embedding(text)).collect(),
            usage: Usage {
                input_tokens: inputs.iter().map(|t| count_tokens(t)).sum(),
                output_tokens: 0,
            },
            model: model.to_owned(),
        })
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        Ok(vec!["replay".to_owned()])
    }
}

/// Dimensions of the replay provider's embeddings.
const EMBEDDING_DIMENSIONS: usize = 64;

fn embedding(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; EMBEDDING_DIMENSIONS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // FNV-1a of the lower-cased word picks its dimension.
        let hash = word
            .to_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        vector[(hash % EMBEDDING_DIMENSIONS as u64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Tokens, roughly: a word or punctuation run is one.
fn count_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

fn tokens_of(message: &Message) -> u32 {
    count_tokens(&message_text(message)) + 4
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// Passes requests to a real provider and writes down its answers as
/// replies for [`ReplayProvider`] (`spellhost test --record`).
pub struct RecordingProvider {
    inner: Arc<dyn LlmProvider>,
    tape: Tape,
}

/// What a recording run was answered, in the order the answers came.
pub type Tape = Arc<Mutex<Vec<ReplySpec>>>;

impl RecordingProvider {
    pub fn wrap(inner: Arc<dyn LlmProvider>, tape: Tape) -> Arc<dyn LlmProvider> {
        Arc::new(Self { inner, tape })
    }
}

/// The reply a recording keeps for an answer. Recordings replay in order
/// (a prompt that changes a little, a date in it, still finds its reply);
/// replies for concurrent requests can be given a `when` by hand.
fn recorded(text: String, tool_calls: &[ToolCall]) -> ReplySpec {
    ReplySpec::Full(FullReply {
        text,
        tool_calls: tool_calls
            .iter()
            .map(|call| ToolCallSpec {
                id: Some(call.id.clone()),
                name: call.name.clone(),
                arguments: serde_json::from_str(&call.arguments_json)
                    .unwrap_or_else(|_| serde_json::Value::String(call.arguments_json.clone())),
            })
            .collect(),
        when: None,
        error: None,
    })
}

/// The reply a recording keeps for a provider's error, so a spell that
/// retries replays the same way.
fn recorded_error(error: &LlmError) -> Option<ReplySpec> {
    let (kind, message, status, retry_after_ms) = match error {
        LlmError::InvalidRequest(m) => (ErrorKind::InvalidRequest, m.clone(), None, None),
        LlmError::Auth(m) => (ErrorKind::Auth, m.clone(), None, None),
        LlmError::RateLimited(r) => (
            ErrorKind::RateLimited,
            r.message.clone(),
            None,
            r.retry_after_ms,
        ),
        LlmError::Timeout(m) => (ErrorKind::Timeout, m.clone(), None, None),
        LlmError::Unavailable(m) => (ErrorKind::Unavailable, m.clone(), None, None),
        LlmError::Provider(p) => (ErrorKind::Provider, p.message.clone(), p.status, None),
        // The host's own refusals happen before any provider is asked.
        LlmError::Denied(_) | LlmError::BudgetExceeded(_) => return None,
    };
    Some(ReplySpec::Full(FullReply {
        error: Some(ErrorSpec {
            kind,
            message,
            status,
            retry_after_ms,
        }),
        ..FullReply::default()
    }))
}

impl RecordingProvider {
    fn keep(&self, reply: Option<ReplySpec>) {
        if let Some(reply) = reply {
            self.tape
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(reply);
        }
    }
}

#[async_trait::async_trait]
impl LlmProvider for RecordingProvider {
    fn id(&self) -> &str {
        self.inner.id()
    }

    async fn chat(&self, model: &str, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let result = self.inner.chat(model, request).await;
        self.keep(match &result {
            Ok(response) => Some(recorded(response.text.clone(), &response.tool_calls)),
            Err(error) => recorded_error(error),
        });
        result
    }

    async fn chat_stream(
        &self,
        model: &str,
        request: &ChatRequest,
    ) -> Result<EventStream, LlmError> {
        let stream = match self.inner.chat_stream(model, request).await {
            Ok(stream) => stream,
            Err(error) => {
                self.keep(recorded_error(&error));
                return Err(error);
            }
        };
        let tape = self.tape.clone();
        let mut text = String::new();
        let mut calls = Vec::new();
        Ok(Box::pin(stream.map(move |event| {
            match &event {
                Ok(StreamEvent::Text(piece)) => text.push_str(piece),
                Ok(StreamEvent::ToolCall(call)) => calls.push(call.clone()),
                Ok(StreamEvent::Finish(_)) => {
                    let reply = recorded(std::mem::take(&mut text), &calls);
                    tape.lock().unwrap_or_else(|e| e.into_inner()).push(reply);
                }
                Err(_) => {}
            }
            event
        })))
    }

    async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, LlmError> {
        self.inner.embed(model, inputs).await
    }

    async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        self.inner.list_models().await
    }

    fn requires_output_limit(&self) -> bool {
        self.inner.requires_output_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llm::{Role, ToolDefinition};
    use crate::bridges::llm::provider::{no_options, text_message};

    fn ask(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![text_message(Role::User, text)],
            options: no_options(),
        }
    }

    fn replies(toml: &str) -> Vec<ReplySpec> {
        #[derive(Deserialize)]
        struct File {
            replies: Vec<ReplySpec>,
        }
        toml::from_str::<File>(toml).unwrap().replies
    }

    #[tokio::test]
    async fn replies_answer_in_order_and_when_picks_its_request() {
        let replay = ReplayProvider::new("test");
        replay.load(&replies(
            r#"replies = ["first", { text = "about Paris", when = "Paris" }, "second"]"#,
        ));
        let a = replay.chat("m", &ask("hello")).await.unwrap();
        let b = replay.chat("m", &ask("tell me about Paris")).await.unwrap();
        let c = replay.chat("m", &ask("and?")).await.unwrap();
        assert_eq!(
            (a.text.as_str(), b.text.as_str(), c.text.as_str()),
            ("first", "about Paris", "second")
        );
        assert!(replay.unused().is_empty());
        let err = replay.chat("m", &ask("one more")).await.unwrap_err();
        assert!(
            err.describe().contains("no reply left for request 4"),
            "{}",
            err.describe()
        );
        assert!(err.describe().contains("\"one more\""));
        assert_eq!(replay.unanswered(), vec!["one more".to_owned()]);
    }

    #[tokio::test]
    async fn a_tool_call_must_name_an_offered_tool() {
        let replay = ReplayProvider::new("test");
        let script =
            replies(r#"replies = [{ tool_calls = [{ name = "add", arguments = { a = 1 } }] }]"#);
        replay.load(&script);
        let err = replay.chat("m", &ask("sum")).await.unwrap_err();
        assert!(
            err.describe().contains("did not offer (offered: none)"),
            "{}",
            err.describe()
        );

        replay.load(&script);
        let mut request = ask("sum");
        request.options.tools = vec![ToolDefinition {
            name: "add".into(),
            description: "adds".into(),
            parameters_schema: "{}".into(),
        }];
        let answer = replay.chat("m", &request).await.unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.tool_calls[0].arguments_json, r#"{"a":1}"#);
        assert_eq!(answer.tool_calls[0].id, "call_1_1");
    }

    #[tokio::test]
    async fn a_json_request_needs_a_json_reply_and_errors_are_the_providers() {
        let replay = ReplayProvider::new("test");
        replay.load(&replies(
            r#"replies = ["not json", { error = { kind = "rate_limited", message = "slow down", retry_after_ms = 200 } }]"#,
        ));
        let mut request = ask("give JSON");
        request.options.response_format = Some(ResponseFormat::Json);
        let err = replay.chat("m", &request).await.unwrap_err();
        assert!(
            err.describe().contains("reply 1 of the test is not JSON"),
            "{}",
            err.describe()
        );
        let err = replay.chat("m", &ask("again")).await.unwrap_err();
        assert!(matches!(
            err,
            LlmError::RateLimited(RateLimit {
                retry_after_ms: Some(200),
                ..
            })
        ));
    }

    #[tokio::test]
    async fn streams_come_word_by_word_and_embeddings_follow_words() {
        let replay = ReplayProvider::new("test");
        replay.load(&replies(r#"replies = ["one two three"]"#));
        let events: Vec<_> = replay
            .chat_stream("m", &ask("count"))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(events.len(), 4);
        assert!(matches!(&events[1], Ok(StreamEvent::Text(t)) if t == "two "));
        assert!(matches!(&events[3], Ok(StreamEvent::Finish(_))));

        let e = replay
            .embed(
                "m",
                &["red apple".into(), "Red apple".into(), "blue sky".into()],
            )
            .await
            .unwrap();
        assert_eq!(e.vectors[0], e.vectors[1]);
        assert_ne!(e.vectors[0], e.vectors[2]);
    }
}
