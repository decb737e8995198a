//! One loaded GGUF model and its generation loop.

use std::path::Path;

use anyhow::Context as _;
use candle_core::Device;
use candle_core::quantized::gguf_file;
use tokenizers::Tokenizer;

use super::grammar::{MAX_PARTS, Recognizer, Shape, Tag, mask};
use super::llama::Llama;
use super::sampler::{Sampler, penalize_repeats};
use super::template::{TOOL_CALL_CLOSE, TOOL_CALL_OPEN, call_prefix};

use super::super::provider::{
    ChatRequest, FinishReason, LlmError, ResponseFormat, ToolCall, Usage, parse_json,
};

/// Output tokens when the request sets no limit.
pub const DEFAULT_MAX_TOKENS: u32 = 256;
/// Penalty on recently generated tokens; keeps small models from looping.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_WINDOW: usize = 64;

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub max_tokens: u32,
    /// `None` or `0.0`: greedy (reproducible).
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: u64,
    pub stop: Vec<String>,
    pub answer: Answer,
    /// The start of the answer, given (see [`super::template::prefill`]).
    pub prefill: String,
}

/// What the answer must look like; constrained decoding keeps it so.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Free text.
    Text,
    /// A JSON value of this shape (`response-format`).
    Json(Shape),
    /// Free text, or tool calls: once the model writes `<tool_call>`, what
    /// follows is `{"name": ..., "arguments": ...}` for one of the tools
    /// (or a list of them, as SmolLM2 writes calls), the arguments in the
    /// shape of the tool's schema.
    TextOrToolCall(Shape),
}

impl Answer {
    fn from_request(request: &ChatRequest) -> Result<Self, LlmError> {
        let options = &request.options;
        if !options.tools.is_empty() {
            let mut tags = Vec::with_capacity(options.tools.len());
            for tool in &options.tools {
                if options.tools.iter().filter(|t| t.name == tool.name).count() > 1 {
                    return Err(LlmError::InvalidRequest(format!(
                        "two tools are named `{}`; each tool needs its own name",
                        tool.name
                    )));
                }
                let schema = parse_json(&tool.parameters_schema, || {
                    format!("the parameters schema of tool `{}`", tool.name)
                })?;
                tags.push(Tag {
                    prefix: call_prefix(&tool.name).into_bytes(),
                    shape: Shape::from_schema(&schema),
                    suffix: b"}".to_vec(),
                });
            }
            let call = followable(Shape::Tagged(tags), "the tools' parameters schemas")?;
            return Ok(Answer::TextOrToolCall(Shape::Union(vec![
                call.clone(),
                Shape::Array(Box::new(call)),
            ])));
        }
        Ok(match &options.response_format {
            None | Some(ResponseFormat::Text) => Answer::Text,
            Some(ResponseFormat::Json) => Answer::Json(Shape::Object(None)),
            Some(ResponseFormat::JsonSchema(schema)) => {
                let schema = parse_json(schema, || "the response format's JSON Schema".into())?;
                Answer::Json(followable(
                    Shape::from_schema(&schema),
                    "the response format's JSON Schema",
                )?)
            }
        })
    }
}

/// `shape`, unless it is too large to follow token by token.
fn followable(shape: Shape, what: &str) -> Result<Shape, LlmError> {
    let parts = shape.parts();
    if parts > MAX_PARTS {
        return Err(LlmError::InvalidRequest(format!(
            "{what} have {parts} parts (types, keys, enum values); a local model follows at \
             most {MAX_PARTS}: simplify them"
        )));
    }
    Ok(shape)
}

impl GenerateParams {
    pub fn from_request(request: &ChatRequest) -> Result<Self, LlmError> {
        let options = &request.options;
        if request.messages.is_empty() {
            return Err(LlmError::InvalidRequest(
                "a chat request needs at least one message".into(),
            ));
        }
        Ok(Self {
            max_tokens: options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            temperature: options.temperature.map(f64::from).filter(|t| *t > 0.0),
            top_p: options.top_p.map(f64::from),
            seed: options.seed.unwrap_or(299_792_458),
            stop: options.stop.clone(),
            answer: Answer::from_request(request)?,
            prefill: super::template::prefill(request).unwrap_or_default(),
        })
    }
}

/// How a generation ended.
pub struct Generated {
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// The tool call the answer ended with, if any.
    pub tool_calls: Vec<ToolCall>,
}

/// Weights, tokenizer and the ids that end an answer.
pub struct LocalModel {
    weights: Llama,
    /// The tokens whose keys and values the model has cached, in order: a
    /// prompt that starts with them starts after them.
    cached: Vec<u32>,
    tokenizer: Tokenizer,
    /// Each token's bytes (`None`: a special token), for constrained decoding.
    token_bytes: Vec<Option<Vec<u8>>>,
    /// The special token that opens a tool call, in vocabularies that have
    /// one (elsewhere the model writes `<tool_call>` as text).
    tool_call_token: Option<u32>,
    eos: Vec<u32>,
    device: Device,
}

impl LocalModel {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let device = Device::Cpu;
        let mut file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let content = gguf_file::Content::read(&mut file)
            .with_context(|| format!("{} is not a GGUF file", path.display()))?;
        // The weights first: they name a file of another architecture, whose
        // tokenizer may not be one we read either.
        let weights =
            Llama::load(&content, &mut file, &device).context("reading the model weights")?;
        let vocabulary = super::tokenizer::from_gguf(&content.metadata)?;
        let vocab = &vocabulary.tokens;
        let id_of = |token: &str| vocab.iter().position(|t| t == token).map(|i| i as u32);
        let mut eos: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"]
            .into_iter()
            .filter_map(id_of)
            .collect();
        if let Some(id) = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
        {
            eos.push(id);
        }
        Ok(Self {
            weights,
            cached: Vec::new(),
            tokenizer: vocabulary.tokenizer,
            tool_call_token: id_of(TOOL_CALL_OPEN)
                .filter(|&id| vocabulary.bytes[id as usize].is_none()),
            token_bytes: vocabulary.bytes,
            eos,
            device,
        })
    }

    /// Generates an answer to `prompt` (already templated), calling
    /// `on_text` with each new piece of text (an empty one while a tool
    /// call is written, which shows no text); generation stops early when
    /// it returns `false`. The whole loop runs inside candle's CPU thread pool
    /// (its workers stay warm across the many short parallel sections of
    /// each forward pass).
    pub fn generate(
        &mut self,
        prompt: &str,
        params: &GenerateParams,
        on_text: impl FnMut(&str) -> bool + Send,
    ) -> Result<Generated, LlmError> {
        let device = self.device.clone();
        device.with_context(|| self.generate_here(prompt, params, on_text))
    }

    fn generate_here(
        &mut self,
        prompt: &str,
        params: &GenerateParams,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Generated, LlmError> {
        let fail = |e: &dyn std::fmt::Display| local_error(&e.to_string());
        let encoding = self.tokenizer.encode(prompt, false).map_err(|e| fail(&e))?;
        let prompt_ids = encoding.get_ids().to_vec();
        if prompt_ids.is_empty() {
            return Err(LlmError::InvalidRequest("the prompt is empty".into()));
        }
        let context_length = self.weights.context_length();
        if prompt_ids.len() >= context_length {
            return Err(LlmError::InvalidRequest(format!(
                "the prompt is {} tokens; the model's context holds {}",
                prompt_ids.len(),
                context_length
            )));
        }
        let mut sampler = Sampler::new(params.seed, params.temperature, params.top_p);
        // What the cache already holds of this prompt (at least its last
        // token is computed again: its logits choose the first answer token).
        let reused = self
            .cached
            .iter()
            .zip(&prompt_ids)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt_ids.len().saturating_sub(1));
        self.cached.truncate(reused);
        let mut all = prompt_ids.clone();
        let mut generated = 0u32;
        let mut detokenizer = Detokenizer::default();
        let mut text = String::new();
        // How much of `text` went to `on_text`, and whether the rest is
        // text held back as a possible stop (sent if none comes).
        let mut sent = 0;
        let mut held_back = true;
        // Constrained decoding: the shape the answer must keep (JSON
        // answers), or the call once the model opens one (`call` holds its
        // bytes).
        let tool_shape = match &params.answer {
            Answer::TextOrToolCall(shape) => Some(shape),
            _ => None,
        };
        let mut recognizer = None;
        let mut call: Option<Vec<u8>> = None;
        // A prefilled start is part of the value or call it begins.
        let prefilled_call = params
            .prefill
            .rfind(TOOL_CALL_OPEN)
            .map(|at| &params.prefill[at + TOOL_CALL_OPEN.len()..])
            .filter(|rest| !rest.contains(TOOL_CALL_CLOSE));
        let misfit = |what: &str| {
            LlmError::InvalidRequest(format!(
                "the answer's given start (the last assistant message) does not begin {what}"
            ))
        };
        match (&params.answer, prefilled_call) {
            (Answer::Json(shape), _) => {
                let mut start = Recognizer::new(shape);
                if !params.prefill.is_empty() && !start.push_all(params.prefill.as_bytes()) {
                    return Err(misfit("JSON of the requested shape"));
                }
                recognizer = Some(start);
            }
            (Answer::TextOrToolCall(shape), Some(rest)) => {
                let mut start = Recognizer::new(shape);
                if !start.push_all(rest.as_bytes()) {
                    return Err(misfit("a call of one of the tools"));
                }
                recognizer = Some(start);
                call = Some(rest.as_bytes().to_vec());
            }
            _ => {}
        }
        // What ends the text: a stop sequence, or the opening of a call.
        let mut markers = params.stop.clone();
        if tool_shape.is_some() {
            markers.push(TOOL_CALL_OPEN.to_owned());
        }
        let longest_marker = markers.iter().map(String::len).max().unwrap_or(0);
        let mut finish = FinishReason::Length;
        if call.is_some() && recognizer.as_ref().is_some_and(Recognizer::is_finished) {
            finish = FinishReason::ToolCalls; // the prefill holds the whole call
        }
        let mut input = prompt_ids[reused..].to_vec();
        while finish == FinishReason::Length
            && generated < params.max_tokens
            && all.len() < context_length
        {
            let position = self.cached.len();
            let mut logits = match self.weights.forward(&input, position) {
                Ok(logits) => logits,
                Err(e) => {
                    self.cached.clear();
                    return Err(fail(&e));
                }
            };
            self.cached.extend_from_slice(&input);
            let start = all.len().saturating_sub(REPEAT_WINDOW);
            penalize_repeats(&mut logits, REPEAT_PENALTY, &all[start..]);
            if let Some(recognizer) = &recognizer
                && !mask(&mut logits, recognizer, &self.token_bytes, &self.eos)
            {
                break; // no token continues the value (a schema that allows none here)
            }
            let next = sampler.sample(&logits);
            if self.eos.contains(&next) {
                finish = FinishReason::Stop;
                break;
            }
            all.push(next);
            generated += 1;
            input = vec![next];
            let opens_call = call.is_none() && Some(next) == self.tool_call_token;
            if let (Some(shape), true) = (tool_shape, opens_call) {
                // The call opens with its own token (Hermes-trained
                // vocabularies): the text so far is the answer's text.
                if sent < text.len() && !on_text(&text[sent..]) {
                    break;
                }
                sent = text.len();
                recognizer = Some(Recognizer::new(shape));
                call = Some(Vec::new());
                continue;
            }
            if let Some(recognizer) = &mut recognizer {
                let bytes = self.token_bytes[next as usize]
                    .as_deref()
                    .unwrap_or_default();
                recognizer.push_all(bytes); // the mask let only fitting tokens through
                if let Some(call) = &mut call {
                    call.extend_from_slice(bytes);
                    if recognizer.is_finished() {
                        finish = FinishReason::ToolCalls;
                    } else if !on_text("") {
                        break; // nobody waits for the answer any more
                    }
                    continue;
                }
            }
            if let Some(piece) = detokenizer
                .push(next, &self.tokenizer)
                .map_err(|e| fail(&e))?
            {
                // A marker may span pieces: look for it in the tail that
                // could hold one, and hold back text that may be the start
                // of one (a stop never reaches the answer, as with the
                // hosted providers; nor does a call's markup).
                let mut from = text.len().saturating_sub(longest_marker + piece.len());
                while !text.is_char_boundary(from) {
                    from -= 1;
                }
                text.push_str(&piece);
                let found = markers
                    .iter()
                    .filter_map(|m| text[from..].find(m.as_str()).map(|i| (from + i, m)))
                    .min_by_key(|(at, _)| *at);
                let end = found.map_or_else(|| held_back_from(&text, &markers), |(at, _)| at);
                if end > sent && !on_text(&text[sent..end]) {
                    finish = FinishReason::Stop;
                    held_back = false;
                    break;
                }
                sent = sent.max(end);
                if let Some((at, marker)) = found {
                    if let (Some(shape), true) = (tool_shape, marker == TOOL_CALL_OPEN) {
                        // The call begins: what this piece holds after its
                        // opening is the call's first bytes.
                        let mut opened = Recognizer::new(shape);
                        let rest = text.as_bytes()[at + marker.len()..].to_vec();
                        let bytes = if opened.push_all(&rest) {
                            rest
                        } else {
                            opened = Recognizer::new(shape);
                            Vec::new()
                        };
                        text.truncate(at);
                        if opened.is_finished() {
                            finish = FinishReason::ToolCalls;
                        }
                        recognizer = Some(opened);
                        call = Some(bytes);
                        continue;
                    }
                    finish = FinishReason::Stop;
                    held_back = false;
                    break;
                }
            }
            if recognizer.as_ref().is_some_and(Recognizer::is_finished) {
                finish = FinishReason::Stop;
                break;
            }
        }
        if held_back && sent < text.len() {
            on_text(&text[sent..]);
        }
        let tool_calls = match (&call, finish) {
            (Some(bytes), FinishReason::ToolCalls) => tool_calls(bytes)?,
            _ => Vec::new(),
        };
        // An empty list of calls (SmolLM2's "no call needed") is an answer.
        if finish == FinishReason::ToolCalls && tool_calls.is_empty() {
            finish = FinishReason::Stop;
        }
        Ok(Generated {
            finish_reason: finish,
            usage: Usage {
                input_tokens: prompt_ids.len() as u32,
                output_tokens: generated,
            },
            tool_calls,
        })
    }
}

/// An error of the local model itself (not of the request).
fn local_error(message: &str) -> LlmError {
    LlmError::Provider(super::super::provider::ProviderError {
        status: None,
        message: format!("local model: {message}"),
    })
}

/// The tool calls a model wrote, `{"name": ..., "arguments": ...}` or a
/// list of them, each with an id unique in this process.
fn tool_calls(bytes: &[u8]) -> Result<Vec<ToolCall>, LlmError> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let invalid = || {
        local_error(&format!(
            "a malformed tool call: {}",
            String::from_utf8_lossy(bytes)
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| invalid())?;
    let calls = match value {
        serde_json::Value::Array(calls) => calls,
        call => vec![call],
    };
    calls
        .iter()
        .map(|call| {
            let name = call["name"].as_str().ok_or_else(invalid)?;
            let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(ToolCall {
                id: format!("call_local_{id}"),
                name: name.to_owned(),
                arguments_json: call["arguments"].to_string(),
            })
        })
        .collect()
}

/// Where `text` stops being safe to send: the start of its longest ending
/// that is the beginning of a stop sequence (`text.len()` when none is).
fn held_back_from(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .filter_map(|stop| {
            (1..stop.len())
                .rev()
                .filter(|&n| stop.is_char_boundary(n) && n <= text.len())
                .find(|&n| text.ends_with(&stop[..n]))
                .map(|n| text.len() - n)
        })
        .min()
        .unwrap_or(text.len())
}

/// Generated ids to text, a few tokens at a time: each new token is
/// decoded with the ones since the last complete piece (so a character
/// split over tokens, or a decoder that treats a first token specially,
/// comes out right) instead of decoding the whole answer again.
#[derive(Default)]
struct Detokenizer {
    tokens: Vec<u32>,
    /// Where the text being assembled starts, and where its emitted part ends.
    prev: usize,
    current: usize,
}

impl Detokenizer {
    /// The text `token` completes, if any.
    fn push(
        &mut self,
        token: u32,
        tokenizer: &Tokenizer,
    ) -> Result<Option<String>, tokenizers::Error> {
        let before = tokenizer.decode(&self.tokens[self.prev..self.current], true)?;
        self.tokens.push(token);
        let after = tokenizer.decode(&self.tokens[self.prev..], true)?;
        if after.len() > before.len()
            && !after.ends_with('\u{FFFD}')
            && after.is_char_boundary(before.len())
        {
            self.prev = self.current;
            self.current = self.tokens.len();
            return Ok(Some(after[before.len()..].to_owned()));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::{Answer, held_back_from};
    use crate::bridges::llm::provider::{
        ChatRequest, LlmError, ResponseFormat, Role, no_options, text_message,
    };

    #[test]
    fn a_schema_too_large_to_follow_is_refused() {
        let values: Vec<u32> = (0..5000).collect();
        let mut options = no_options();
        options.response_format = Some(ResponseFormat::JsonSchema(
            serde_json::json!({ "enum": values }).to_string(),
        ));
        let request = ChatRequest {
            messages: vec![text_message(Role::User, "Pick one")],
            options,
        };
        let error = Answer::from_request(&request).unwrap_err();
        assert!(
            matches!(&error, LlmError::InvalidRequest(m) if m.contains("5001 parts") && m.contains("at most 4096")),
            "{error:?}"
        );
    }

    #[test]
    fn text_that_may_begin_a_stop_is_held_back() {
        let stops = vec!["\nUser:".to_owned(), "###".to_owned()];
        assert_eq!(held_back_from("Hello", &stops), 5);
        assert_eq!(held_back_from("Hello\n", &stops), 5);
        assert_eq!(held_back_from("Hello\nUse", &stops), 5);
        assert_eq!(held_back_from("Hello #", &stops), 6);
        assert_eq!(held_back_from("Hello ##", &stops), 6);
        assert_eq!(held_back_from("Hello", &[]), 5);
        // Multi-byte stops are cut on character boundaries only.
        assert_eq!(
            held_back_from("voilà é", &["é!".to_owned()]),
            "voilà ".len()
        );
    }
}
