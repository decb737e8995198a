//! Shaping a chat request to what its model accepts, before anything is
//! sent: capabilities the model lacks are refused, sampling parameters it
//! does not take are dropped with a warning, a prompt too long for its
//! context window is refused with the numbers, and the output limit is
//! decided (see [`OutputLimit`]).
//!
//! Policy for parameters a model does not accept: **dropped, with a
//! warning** in the run's log, rather than refused. `temperature` and
//! `top_p` are hints about how to sample; a reasoning model that samples
//! its own way still answers the request, so a spell written for one model
//! keeps working when the user switches `--model`. Capabilities are
//! different: an image sent to a model without vision, or tools to a model
//! without tool calls, would lose what the spell asked for, so those are
//! `invalid-request` errors.

use super::{ModelSpec, Sampling};
use crate::bridges::llm::provider::{ChatRequest, ContentPart, LlmError};

/// Output tokens asked of a model the catalog does not know, when its API
/// needs a number (Anthropic's `max_tokens` is required): every Claude
/// model allows at least this many.
pub const DEFAULT_REQUIRED_OUTPUT: u32 = 4096;

/// The least output room left for an answer when the prompt nearly fills
/// the context window.
const MIN_ROOM: u32 = 1024;

/// What shaping decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaped {
    /// What was changed, for the run's log.
    pub warnings: Vec<String>,
    /// The most output tokens the request should ask for before the run's
    /// budget is applied: the spell's `max_tokens` (at most the model's
    /// maximum), else the model's maximum; `None` when neither is known.
    pub wanted: Option<u32>,
    /// Whether the spell set `max_tokens` itself.
    pub sized: bool,
}

/// How the output limit reaches the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLimit {
    /// The API's default is right (OpenAI and Gemini default to the model's
    /// maximum): send nothing.
    Omit,
    /// Send this number.
    Send(u32),
}

impl OutputLimit {
    /// Decides the output limit of a shaped request, given what the run's
    /// budget granted (`None`: the run has no token budget) and whether the
    /// provider's API requires a number.
    pub fn decide(shaped: &Shaped, granted: Option<u32>, required: bool) -> Self {
        let cap = match (granted, shaped.wanted) {
            (Some(g), Some(w)) => Some(g.min(w)),
            (Some(g), None) => Some(g),
            (None, w) => w,
        };
        if shaped.sized {
            return cap.map_or(Self::Omit, Self::Send);
        }
        if required {
            let default =
                granted.map_or(DEFAULT_REQUIRED_OUTPUT, |g| g.min(DEFAULT_REQUIRED_OUTPUT));
            return Self::Send(shaped.wanted.and(cap).unwrap_or(default));
        }
        // Unsized: send a number only where the budget binds below what
        // the model would produce anyway.
        match (granted, shaped.wanted) {
            (Some(g), Some(w)) if g < w => Self::Send(g),
            (Some(g), None) if g < crate::bridges::llm::meter::UNSIZED_RESERVATION => Self::Send(g),
            _ => Self::Omit,
        }
    }

    pub fn tokens(self) -> Option<u32> {
        match self {
            Self::Omit => None,
            Self::Send(n) => Some(n),
        }
    }
}

/// Shapes `request` for the model `id` (`spec`: its catalog entry, if any).
pub fn shape_request(
    id: &str,
    spec: Option<&ModelSpec>,
    request: &mut ChatRequest,
) -> Result<Shaped, LlmError> {
    let mut warnings = Vec::new();
    let sized = request.options.max_tokens.is_some();
    let Some(spec) = spec else {
        return Ok(Shaped {
            warnings,
            wanted: request.options.max_tokens,
            sized,
        });
    };
    let fix = format!("or correct the catalog with [models.\"{id}\"] in spellhost.toml");
    let has_images = request
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|part| matches!(part, ContentPart::ImageUrl(_)));
    if has_images && spec.vision == Some(false) {
        return Err(LlmError::InvalidRequest(format!(
            "`{id}` does not take images; send text only, use a model with vision, {fix}"
        )));
    }
    if !request.options.tools.is_empty() && spec.tools == Some(false) {
        return Err(LlmError::InvalidRequest(format!(
            "`{id}` cannot call tools; use a model with tool calls, {fix}"
        )));
    }
    let options = &mut request.options;
    match spec.sampling {
        Some(Sampling::Fixed) => {
            for (name, present) in [
                ("temperature", options.temperature.take().is_some()),
                ("top_p", options.top_p.take().is_some()),
            ] {
                if present {
                    warnings.push(format!(
                        "`{id}` does not accept `{name}` (it samples its own way); sent the request without it"
                    ));
                }
            }
        }
        Some(Sampling::Exclusive) if options.temperature.is_some() && options.top_p.is_some() => {
            options.top_p = None;
            warnings.push(format!(
                "`{id}` accepts `temperature` or `top_p`, not both; sent the request with `temperature` only"
            ));
        }
        _ => {}
    }
    if let (Some(asked), Some(max)) = (options.max_tokens, spec.max_output_tokens)
        && asked > max
    {
        options.max_tokens = Some(max);
        warnings.push(format!(
            "`{id}` writes at most {max} output tokens; asked for {max} instead of {asked}"
        ));
    }
    let mut wanted = request.options.max_tokens.or(spec.max_output_tokens);
    if let Some(window) = spec.context_window {
        let estimate = estimate_input_tokens(request);
        if estimate > u64::from(window) {
            return Err(LlmError::InvalidRequest(format!(
                "the prompt is about {estimate} tokens (estimated at 4 bytes a token) but `{id}` \
                 takes at most {window} input tokens; shorten the conversation, use a model with a \
                 larger context window, {fix}"
            )));
        }
        // A limit spellhost chooses itself must leave room for the prompt
        // (Anthropic refuses prompt + max_tokens beyond the window). The
        // estimate errs low, so half as much again is kept free.
        if !sized {
            let room = u64::from(window).saturating_sub(estimate + estimate / 2);
            let room = room.max(u64::from(MIN_ROOM)).min(u64::from(u32::MAX)) as u32;
            wanted = wanted.map(|w| w.min(room));
        }
    }
    Ok(Shaped {
        warnings,
        wanted,
        sized,
    })
}

/// A conservative estimate of a request's input tokens: 4 bytes of text a
/// token (runs of whitespace count as one byte, as tokenizers merge
/// them), plus a few tokens per message and per image. It errs low, so a
/// prompt is refused only when it clearly cannot fit.
pub fn estimate_input_tokens(request: &ChatRequest) -> u64 {
    let mut bytes = 0u64;
    let mut extra = 0u64;
    let mut count = |text: &str| bytes += compact_len(text);
    for message in &request.messages {
        extra += 3;
        for part in &message.content {
            match part {
                ContentPart::Text(text) => count(text),
                // The smallest an image costs (OpenAI's low detail).
                ContentPart::ImageUrl(_) => extra += 85,
            }
        }
        for call in &message.tool_calls {
            count(&call.name);
            count(&call.arguments_json);
        }
    }
    for tool in &request.options.tools {
        count(&tool.name);
        count(&tool.description);
        count(&tool.parameters_schema);
    }
    bytes.div_ceil(4) + extra
}

/// Length in bytes with each run of whitespace counted once.
fn compact_len(text: &str) -> u64 {
    let mut len = 0u64;
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                len += 1;
            }
            in_space = true;
        } else {
            len += c.len_utf8() as u64;
            in_space = false;
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::llm::{Role, ToolDefinition};
    use crate::bridges::llm::provider::{no_options, text_message};

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![text_message(Role::User, text)],
            options: no_options(),
        }
    }

    fn spec(max_output: u32, window: u32, sampling: Sampling) -> ModelSpec {
        ModelSpec {
            max_output_tokens: Some(max_output),
            context_window: Some(window),
            sampling: Some(sampling),
            vision: Some(false),
            tools: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn unsized_request_wants_the_model_maximum_and_sends_nothing() {
        let mut r = request("hi");
        let shaped = shape_request(
            "openai/m",
            Some(&spec(16_384, 128_000, Sampling::Free)),
            &mut r,
        )
        .unwrap();
        assert_eq!((shaped.wanted, shaped.sized), (Some(16_384), false));
        assert_eq!(
            OutputLimit::decide(&shaped, Some(16_384), false),
            OutputLimit::Omit
        );
        assert_eq!(OutputLimit::decide(&shaped, None, false), OutputLimit::Omit);
        assert_eq!(
            OutputLimit::decide(&shaped, Some(16_384), true),
            OutputLimit::Send(16_384),
            "Anthropic always gets a number"
        );
        assert_eq!(
            OutputLimit::decide(&shaped, Some(900), false),
            OutputLimit::Send(900),
            "the budget binds"
        );
    }

    #[test]
    fn sized_request_is_capped_by_the_model_and_the_budget() {
        let mut r = request("hi");
        r.options.max_tokens = Some(200_000);
        let shaped = shape_request(
            "anthropic/m",
            Some(&spec(64_000, 200_000, Sampling::Free)),
            &mut r,
        )
        .unwrap();
        assert_eq!(r.options.max_tokens, Some(64_000));
        assert!(
            shaped.warnings[0].contains("at most 64000"),
            "{:?}",
            shaped.warnings
        );
        assert_eq!(
            OutputLimit::decide(&shaped, Some(64_000), true),
            OutputLimit::Send(64_000)
        );
        assert_eq!(
            OutputLimit::decide(&shaped, Some(10), false),
            OutputLimit::Send(10)
        );
    }

    #[test]
    fn a_chosen_output_limit_leaves_room_for_a_long_prompt() {
        let mut r = request(&"word ".repeat(40_000));
        let shaped = shape_request(
            "anthropic/m",
            Some(&spec(64_000, 200_000, Sampling::Free)),
            &mut r,
        )
        .unwrap();
        assert_eq!(shaped.wanted, Some(64_000), "room enough");
        let shaped = shape_request(
            "anthropic/m",
            Some(&spec(64_000, 100_000, Sampling::Free)),
            &mut r,
        )
        .unwrap();
        // About 50 003 prompt tokens; 1.5× that kept free.
        assert_eq!(shaped.wanted, Some(100_000 - 75_004));
        let shaped = shape_request(
            "anthropic/m",
            Some(&spec(64_000, 60_000, Sampling::Free)),
            &mut r,
        )
        .unwrap();
        assert_eq!(shaped.wanted, Some(MIN_ROOM));
        r.options.max_tokens = Some(2000);
        let shaped = shape_request(
            "anthropic/m",
            Some(&spec(64_000, 60_000, Sampling::Free)),
            &mut r,
        )
        .unwrap();
        assert_eq!(shaped.wanted, Some(2000), "the spell's own number stays");
    }

    #[test]
    fn unknown_models_pass_unchanged() {
        let mut r = request("hi");
        r.options.temperature = Some(0.3);
        r.messages[0]
            .content
            .push(ContentPart::ImageUrl("https://x/y.png".into()));
        let shaped = shape_request("lab/new", None, &mut r).unwrap();
        assert_eq!(r.options.temperature, Some(0.3));
        assert_eq!(shaped.wanted, None);
        assert_eq!(
            OutputLimit::decide(&shaped, Some(200_000), false),
            OutputLimit::Omit
        );
        assert_eq!(
            OutputLimit::decide(&shaped, Some(100), false),
            OutputLimit::Send(100)
        );
        assert_eq!(
            OutputLimit::decide(&shaped, Some(200_000), true),
            OutputLimit::Send(DEFAULT_REQUIRED_OUTPUT),
            "a required limit of an unknown model is the default, never the budget"
        );
        assert_eq!(
            OutputLimit::decide(&shaped, Some(100), true),
            OutputLimit::Send(100)
        );
    }

    #[test]
    fn sampling_parameters_a_model_refuses_are_dropped_with_a_warning() {
        let mut r = request("hi");
        r.options.temperature = Some(0.2);
        r.options.top_p = Some(0.9);
        let shaped = shape_request(
            "openai/gpt-5",
            Some(&spec(128_000, 272_000, Sampling::Fixed)),
            &mut r,
        )
        .unwrap();
        assert_eq!((r.options.temperature, r.options.top_p), (None, None));
        assert_eq!(shaped.warnings.len(), 2);
        assert!(shaped.warnings[0].contains("`temperature`"));
        let mut r = request("hi");
        r.options.temperature = Some(0.2);
        r.options.top_p = Some(0.9);
        shape_request(
            "anthropic/c",
            Some(&spec(64_000, 200_000, Sampling::Exclusive)),
            &mut r,
        )
        .unwrap();
        assert_eq!((r.options.temperature, r.options.top_p), (Some(0.2), None));
    }

    #[test]
    fn missing_capabilities_and_long_prompts_are_refused_before_sending() {
        let mut r = request("look");
        r.messages[0]
            .content
            .push(ContentPart::ImageUrl("data:image/png;base64,AAAA".into()));
        let err = shape_request(
            "openai/o3-mini",
            Some(&spec(100, 1000, Sampling::Free)),
            &mut r,
        )
        .unwrap_err();
        assert!(
            matches!(&err, LlmError::InvalidRequest(m) if m.contains("does not take images") && m.contains("[models.\"openai/o3-mini\"]")),
            "{err:?}"
        );
        let mut r = request("x");
        r.options.tools.push(ToolDefinition {
            name: "t".into(),
            description: "d".into(),
            parameters_schema: "{}".into(),
        });
        let mut no_tools = spec(100, 1000, Sampling::Free);
        no_tools.tools = Some(false);
        assert!(shape_request("p/m", Some(&no_tools), &mut r).is_err());
        let mut r = request(&"word ".repeat(1000));
        let err = shape_request("p/m", Some(&spec(100, 1000, Sampling::Free)), &mut r).unwrap_err();
        assert!(
            matches!(&err, LlmError::InvalidRequest(m) if m.contains("about 1253 tokens") && m.contains("at most 1000 input tokens")),
            "{err:?}"
        );
    }

    #[test]
    fn whitespace_runs_count_once() {
        assert_eq!(compact_len("a    b\n\n\tc"), 5);
        assert_eq!(estimate_input_tokens(&request(&" ".repeat(10_000))), 4);
    }
}
