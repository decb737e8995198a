//! Provider tests: the same guest spells against each wire format
//! (OpenAI-compatible, Anthropic, Gemini) served by a fake on 127.0.0.1,
//! plus resilience (retries, timeouts), budgets, and the real local model
//! when it is installed.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use spellhost::bridges::llm::anthropic::{AnthropicConfig, AnthropicProvider};
use spellhost::bridges::llm::gemini::{GeminiConfig, GeminiProvider};
use spellhost::bridges::llm::http::HttpSettings;
use spellhost::bridges::llm::local::{self, LocalProvider, catalog};
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider, OutputTokensField};
use spellhost::bridges::llm::provider::{
    ChatRequest, FinishReason, LlmError, Message, Options, ResponseFormat, Role, StreamEvent,
    ToolDefinition, no_options, text_message,
};
use spellhost::bridges::llm::{LlmProvider, ModelRouter};
use spellhost::limits::Limits;
use spellhost::runtime::{RunError, RunReport, Runtime, SpellConfig};
use support::fake_llm::FakeLlm;
use support::{guest, test_runtime};

#[derive(Debug, Clone, Copy)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

const ALL: [Wire; 3] = [Wire::OpenAi, Wire::Anthropic, Wire::Gemini];

impl Wire {
    fn id(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
            Wire::Gemini => "gemini",
        }
    }

    /// The credential header value the provider must send for key `k`.
    fn credential(self, key: &str) -> String {
        match self {
            Wire::OpenAi => format!("Bearer {key}"),
            Wire::Anthropic | Wire::Gemini => key.to_owned(),
        }
    }

    fn provider(self, fake: &FakeLlm, http: HttpSettings) -> Arc<dyn LlmProvider> {
        let (id, key, env) = (
            self.id().to_owned(),
            Some(format!("key-{}", self.id())),
            None,
        );
        match self {
            // As the built-in `openai` provider is configured.
            Wire::OpenAi => Arc::new(
                OpenAiProvider::new(OpenAiConfig {
                    id,
                    base_url: fake.base_url(),
                    api_key: key,
                    api_key_env: env,
                    http,
                })
                .unwrap()
                .with_output_field(OutputTokensField::MaxCompletionTokens),
            ),
            Wire::Anthropic => Arc::new(
                AnthropicProvider::new(AnthropicConfig {
                    id,
                    base_url: fake.anthropic_url(),
                    api_key: key,
                    api_key_env: env,
                    http,
                })
                .unwrap(),
            ),
            Wire::Gemini => Arc::new(
                GeminiProvider::new(GeminiConfig {
                    id,
                    base_url: fake.gemini_url(),
                    api_key: key,
                    api_key_env: env,
                    http,
                })
                .unwrap(),
            ),
        }
    }
}

/// Fast settings for tests: short backoffs, short timeouts.
fn http() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        stream_idle_timeout: Duration::from_secs(5),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(1),
    }
}

fn runtime(provider: Arc<dyn LlmProvider>, default_model: &str) -> Runtime {
    let router = ModelRouter::new()
        .with_provider(provider)
        .with_default_model(Some(default_model.into()));
    test_runtime().router(router).build().unwrap()
}

fn wire_runtime(wire: Wire, fake: &FakeLlm, http: HttpSettings) -> Runtime {
    runtime(
        wire.provider(fake, http),
        &format!("{}/fake-model", wire.id()),
    )
}

async fn run(runtime: &Runtime, name: &str, input: &str, limits: &Limits) -> RunReport {
    run_with(runtime, name, input, limits, &[]).await
}

/// Runs a guest with `--var`s.
async fn run_with(
    runtime: &Runtime,
    name: &str,
    input: &str,
    limits: &Limits,
    vars: &[(&str, &str)],
) -> RunReport {
    let bytes = std::fs::read(guest(name)).unwrap();
    let config = SpellConfig {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..SpellConfig::default()
    };
    let spell = runtime.load(name, &bytes, config).unwrap();
    runtime.run(&spell, input, limits).await
}

fn json_output(report: RunReport) -> serde_json::Value {
    serde_json::from_str(&report.result.unwrap_or_else(|e| panic!("run failed: {e}"))).unwrap()
}

fn failure(report: RunReport) -> String {
    match report.result {
        Ok(output) => panic!("expected a failure, got {output}"),
        Err(RunError::Failed(message)) => message,
        Err(other) => panic!("expected the spell to fail with an LLM error, got {other:?}"),
    }
}

#[tokio::test]
async fn each_wire_format_answers_a_chat() {
    for wire in ALL {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, http());
        let report = run(&rt, "llm_chat", "What is 2+2?", &Limits::default()).await;
        assert_eq!(report.stats.llm.input_tokens, 11, "{wire:?}");
        let out = json_output(report);
        assert_eq!(out["text"], "echo: What is 2+2?", "{wire:?}");
        assert_eq!(
            out["model"],
            format!("{}/fake-model", wire.id()),
            "{wire:?}"
        );
        assert_eq!(out["finish"], "FinishReason::Stop", "{wire:?}");
        assert_eq!(out["output_tokens"], 5, "{wire:?}");
        let request = &fake.requests()[0];
        assert_eq!(
            request.credential.as_deref(),
            Some(wire.credential(&format!("key-{}", wire.id())).as_str()),
            "{wire:?}"
        );
        // The system prompt travels the way each API wants it.
        let system = match wire {
            Wire::OpenAi => request.body["messages"][0]["content"].clone(),
            Wire::Anthropic => request.body["system"].clone(),
            Wire::Gemini => request.body["systemInstruction"]["parts"][0]["text"].clone(),
        };
        assert_eq!(system, "test system prompt", "{wire:?}");
    }
}

#[tokio::test]
async fn each_wire_format_streams() {
    for wire in ALL {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, http());
        let out = json_output(run(&rt, "llm_stream", "one two three", &Limits::default()).await);
        assert_eq!(
            out["chunks"],
            json!(["echo:", " one", " two", " three"]),
            "{wire:?}"
        );
        assert_eq!(
            out["finish"],
            json!(["FinishReason::Stop", 5, format!("{}/fake-model", wire.id())]),
            "{wire:?}"
        );
    }
}

#[tokio::test]
async fn each_wire_format_returns_tool_calls() {
    for wire in ALL {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, http());
        let out = json_output(run(&rt, "llm_chat", "please call tool", &Limits::default()).await);
        assert_eq!(out["finish"], "FinishReason::ToolCalls", "{wire:?}");
        assert_eq!(out["tool_calls"][0]["name"], "get_weather", "{wire:?}");
        let args: serde_json::Value =
            serde_json::from_str(out["tool_calls"][0]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({ "city": "Paris" }), "{wire:?}");
        let out = json_output(run(&rt, "llm_stream", "please call tool", &Limits::default()).await);
        assert_eq!(
            out["chunks"],
            json!(["<tool:get_weather>"]),
            "{wire:?} streamed"
        );
        assert_eq!(
            out["finish"][0], "FinishReason::ToolCalls",
            "{wire:?} streamed"
        );
    }
}

#[tokio::test]
async fn each_wire_format_reports_a_cut_stream() {
    for wire in ALL {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, http());
        let started = Instant::now();
        let message =
            failure(run(&rt, "llm_stream", "please cut stream", &Limits::default()).await);
        assert!(
            message.contains("LLM unavailable") && message.contains("cut"),
            "{wire:?}: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{wire:?}: a cut must not wait for a timeout"
        );
    }
}

#[tokio::test]
async fn each_wire_format_maps_errors() {
    let no_retry = HttpSettings {
        max_attempts: 1,
        ..http()
    };
    for wire in ALL {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, no_retry.clone());
        for (prompt, expected) in [
            ("please fail 429", "LLM rate limited: fake error 429"),
            (
                "please fail 401",
                "LLM authentication failed: fake error 401",
            ),
            ("please fail 500", "LLM provider error: fake error 500"),
            ("please fail 503", "LLM unavailable: fake error 503"),
            ("please send garbage", "malformed answer"),
        ] {
            let message = failure(run(&rt, "llm_chat", prompt, &Limits::default()).await);
            assert!(message.contains(expected), "{wire:?} {prompt}: {message}");
        }
    }
}

#[tokio::test]
async fn transient_failures_are_retried() {
    for wire in ALL {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, http());
        let out =
            json_output(run(&rt, "llm_chat", "please fail 503 once", &Limits::default()).await);
        assert_eq!(out["text"], "echo: please fail 503 once", "{wire:?}");
        assert_eq!(fake.requests().len(), 2, "{wire:?}: one failure, one retry");
    }
}

#[tokio::test]
async fn a_retry_after_longer_than_the_backoff_cap_goes_to_the_spell() {
    let fake = FakeLlm::start(Duration::ZERO);
    let rt = wire_runtime(Wire::OpenAi, &fake, http());
    let started = Instant::now();
    let message = failure(run(&rt, "llm_chat", "please fail 429", &Limits::default()).await);
    assert!(message.contains("rate limited"), "{message}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "it waited {:?} for a 2 s Retry-After",
        started.elapsed()
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_provider_hits_the_first_byte_timeout() {
    let fake = FakeLlm::start(Duration::from_secs(3));
    let settings = HttpSettings {
        first_byte_timeout: Duration::from_millis(200),
        max_attempts: 1,
        ..http()
    };
    let rt = wire_runtime(Wire::Anthropic, &fake, settings);
    let started = Instant::now();
    let message = failure(run(&rt, "llm_chat", "hi", &Limits::default()).await);
    assert!(
        message.contains("LLM timed out") && message.contains("no response within"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_token_budget_caps_and_then_stops_calls() {
    let fake = FakeLlm::start(Duration::ZERO);
    let rt = wire_runtime(Wire::OpenAi, &fake, http());
    // Each fake call uses 16 tokens: the first fits, the second is capped to
    // the 4 left, the third is refused.
    let limits = Limits {
        max_llm_tokens: Some(20),
        ..Limits::default()
    };
    let report = run(&rt, "llm_sequence", "3", &limits).await;
    assert_eq!(report.stats.llm.calls, 3);
    assert_eq!(report.stats.llm.failures, 1);
    let message = failure(report);
    assert!(
        message.contains("LLM budget exceeded") && message.contains("--max-llm-tokens"),
        "{message}"
    );
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        2,
        "the refused call never reaches the provider"
    );
    assert_eq!(requests[0].body["max_completion_tokens"], 20);
    assert_eq!(requests[1].body["max_completion_tokens"], 4);
}

/// The output limit a request carries, in its wire format's field.
fn output_limit(wire: Wire, body: &serde_json::Value) -> Option<u64> {
    match wire {
        Wire::OpenAi => {
            assert!(
                body.get("max_tokens").is_none(),
                "OpenAI gets max_completion_tokens: {body}"
            );
            body["max_completion_tokens"].as_u64()
        }
        Wire::Anthropic => body["max_tokens"].as_u64(),
        Wire::Gemini => body["generationConfig"]["maxOutputTokens"].as_u64(),
    }
}

/// The regression test of each provider: the README's models, without
/// `max_tokens`, with one above the model's limit and with a small one,
/// whole and streamed. The fake refuses what each real API refuses (the
/// model's output limit, OpenAI reasoning models' `max_tokens` and
/// `temperature`, the published request shapes), so a request sized from
/// the run's budget instead of the model turns this red.
#[tokio::test]
async fn catalog_models_get_requests_their_real_apis_accept() {
    for (wire, model, maximum) in [
        (Wire::OpenAi, "gpt-4o-mini", 16_384),
        (Wire::OpenAi, "gpt-5", 128_000),
        (Wire::Anthropic, "claude-sonnet-4-5", 64_000),
        (Wire::Gemini, "gemini-2.5-flash", 65_536),
    ] {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = runtime(
            wire.provider(&fake, http()),
            &format!("{}/{model}", wire.id()),
        );
        for max_tokens in [None, Some("200000"), Some("300")] {
            let vars: Vec<(&str, &str)> =
                max_tokens.map(|n| ("max_tokens", n)).into_iter().collect();
            for guest in ["llm_chat", "llm_stream"] {
                let report = run_with(&rt, guest, "hi", &Limits::default(), &vars).await;
                assert!(
                    report.result.is_ok(),
                    "{model} {guest} max_tokens={max_tokens:?}: {:?}",
                    report.result
                );
            }
        }
        let limits: Vec<Option<u64>> = fake
            .requests()
            .iter()
            .map(|r| output_limit(wire, &r.body))
            .collect();
        let unsized_ = match wire {
            Wire::Anthropic => Some(maximum),
            Wire::OpenAi | Wire::Gemini => None,
        };
        assert_eq!(
            limits,
            [
                unsized_,
                unsized_,
                Some(maximum),
                Some(maximum),
                Some(300),
                Some(300)
            ],
            "{model}"
        );
        if model == "gpt-5" {
            let chat = &fake.requests()[0].body;
            assert!(
                chat.get("temperature").is_none(),
                "a reasoning model gets no temperature: {chat}"
            );
        }
    }
}

#[tokio::test]
async fn the_budget_sizes_a_request_when_less_is_left_than_the_model_writes() {
    let fake = FakeLlm::start(Duration::ZERO);
    let rt = runtime(Wire::OpenAi.provider(&fake, http()), "openai/gpt-4o-mini");
    let limits = Limits {
        max_llm_tokens: Some(1000),
        ..Limits::default()
    };
    let report = run(&rt, "llm_chat", "hi", &limits).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    assert_eq!(fake.requests()[0].body["max_completion_tokens"], 1000);
}

#[tokio::test]
async fn catalog_models_are_priced_without_configuration() {
    let fake = FakeLlm::start(Duration::ZERO);
    let rt = runtime(
        Wire::Anthropic.provider(&fake, http()),
        "anthropic/claude-sonnet-4-5",
    );
    let limits = Limits {
        max_llm_cost_usd: Some(1.0),
        ..Limits::default()
    };
    let report = run(&rt, "llm_chat", "hi", &limits).await;
    // 11 input and 5 output tokens at $3 and $15 per million.
    assert!(
        (report.stats.llm.cost_usd - 1.08e-4).abs() < 1e-12,
        "{:?}",
        report.stats.llm
    );
    assert!(report.result.is_ok());
}

#[tokio::test]
async fn what_a_model_cannot_take_is_refused_before_anything_is_sent() {
    let fake = FakeLlm::start(Duration::ZERO);
    let rt = runtime(Wire::OpenAi.provider(&fake, http()), "openai/o3-mini");
    let report = run_with(
        &rt,
        "llm_chat",
        "what is this?",
        &Limits::default(),
        &[("image", "https://example.com/cat.png")],
    )
    .await;
    let message = failure(report);
    assert!(
        message.contains("`openai/o3-mini` does not take images"),
        "{message}"
    );
    let rt = runtime(Wire::OpenAi.provider(&fake, http()), "openai/gpt-4");
    let message = failure(
        run(
            &rt,
            "llm_chat",
            &"many words ".repeat(4000),
            &Limits::default(),
        )
        .await,
    );
    assert!(
        message.contains("takes at most 8192 input tokens") && message.contains("about 11"),
        "{message}"
    );
    assert!(fake.requests().is_empty(), "nothing reached the provider");
}

#[tokio::test]
async fn images_reach_each_provider_in_its_own_format() {
    for (wire, model) in [
        (Wire::OpenAi, "gpt-4o-mini"),
        (Wire::Anthropic, "claude-sonnet-4-5"),
        (Wire::Gemini, "gemini-2.5-flash"),
    ] {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = runtime(
            wire.provider(&fake, http()),
            &format!("{}/{model}", wire.id()),
        );
        for image in [
            "https://example.com/cat.png",
            "data:image/png;base64,iVBORw0KGgo=",
        ] {
            let report = run_with(
                &rt,
                "llm_chat",
                "what is this?",
                &Limits::default(),
                &[("image", image)],
            )
            .await;
            assert!(report.result.is_ok(), "{model}: {:?}", report.result);
        }
        let bodies: Vec<serde_json::Value> = fake.requests().into_iter().map(|r| r.body).collect();
        let (url, data) = match wire {
            Wire::OpenAi => (
                bodies[0]["messages"][1]["content"][1].clone(),
                bodies[1]["messages"][1]["content"][1].clone(),
            ),
            Wire::Anthropic => (
                bodies[0]["messages"][0]["content"][1].clone(),
                bodies[1]["messages"][0]["content"][1].clone(),
            ),
            Wire::Gemini => (
                bodies[0]["contents"][0]["parts"][1].clone(),
                bodies[1]["contents"][0]["parts"][1].clone(),
            ),
        };
        let (want_url, want_data) = match wire {
            Wire::OpenAi => (
                json!({ "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } }),
                json!({ "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } }),
            ),
            Wire::Anthropic => (
                json!({ "type": "image", "source": { "type": "url", "url": "https://example.com/cat.png" } }),
                json!({ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } }),
            ),
            Wire::Gemini => (
                json!({ "fileData": { "fileUri": "https://example.com/cat.png" } }),
                json!({ "inlineData": { "mimeType": "image/png", "data": "iVBORw0KGgo=" } }),
            ),
        };
        assert_eq!((url, data), (want_url, want_data), "{model}");
    }
}

#[tokio::test]
async fn embeddings_come_back_in_order() {
    for wire in [Wire::OpenAi, Wire::Gemini] {
        let fake = FakeLlm::start(Duration::ZERO);
        let rt = wire_runtime(wire, &fake, http());
        let out = json_output(run(&rt, "llm_embed", "a bbb cc", &Limits::default()).await);
        let firsts: Vec<f64> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[0].as_f64().unwrap())
            .collect();
        assert_eq!(firsts, [1.0, 3.0, 2.0], "{wire:?}");
    }
    let fake = FakeLlm::start(Duration::ZERO);
    let rt = wire_runtime(Wire::Anthropic, &fake, http());
    let message = failure(run(&rt, "llm_embed", "a", &Limits::default()).await);
    assert!(message.contains("no embeddings API"), "{message}");
}

/// The models directory, when the real local model is installed there
/// (`spellhost models pull smollm2`; `just test` pulls it). CI must have it,
/// so there it is never skipped.
fn local_models_dir() -> Option<std::path::PathBuf> {
    let dir = catalog::models_dir();
    if !catalog::model_path(&dir, catalog::DEFAULT_MODEL).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must pull the local model first (just pull-model)"
        );
        eprintln!(
            "skipping: local/smollm2 is not installed in {}",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_answers_reproducibly() {
    let Some(dir) = local_models_dir() else {
        return;
    };
    let rt = runtime(
        Arc::new(LocalProvider::new(dir)),
        &format!("{}/smollm2", local::PROVIDER_ID),
    );
    let ask = async |guest: &str, question: &str| {
        json_output(run(&rt, guest, question, &Limits::default()).await)
    };
    const QUESTION: &str = "What is the capital of France?";
    let first = ask("llm_chat", QUESTION).await;
    // The same question again reuses all of its cached prompt but the last
    // token; after another question in between, only the start they share.
    // Either way the answer is the one computed whole.
    let again = ask("llm_chat", QUESTION).await;
    assert_eq!(first["text"], again["text"], "the whole prompt cached");
    let other = ask("llm_chat", "Name a primary colour.").await;
    assert_ne!(other["text"], first["text"]);
    let second = ask("llm_chat", QUESTION).await;
    assert_eq!(
        first["text"], second["text"],
        "greedy decoding is reproducible, with the prompt's start cached or not"
    );
    assert!(!first["text"].as_str().unwrap().trim().is_empty());
    assert_eq!(first["model"], "local/smollm2");
    assert!(first["input_tokens"].as_u64().unwrap() > 10);
    assert!(first["output_tokens"].as_u64().unwrap() > 0);
    let streamed = ask("llm_stream", QUESTION).await;
    assert!(
        streamed["chunks"].as_array().unwrap().len() > 1,
        "tokens arrive one by one"
    );
    assert_eq!(streamed["finish"][2], "local/smollm2");
}

/// The real local model's provider, when the model is installed.
fn local_provider() -> Option<LocalProvider> {
    local_models_dir().map(LocalProvider::new)
}

fn local_request(messages: Vec<Message>, options: Options) -> ChatRequest {
    ChatRequest { messages, options }
}

/// A JSON answer from the real small model parses and has the schema's
/// shape: its keys, each once, the required ones all there, an integer
/// where the schema says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_answers_json_in_the_schema_shape() {
    let Some(provider) = local_provider() else {
        return;
    };
    let mut options = no_options();
    options.max_tokens = Some(120);
    options.response_format = Some(ResponseFormat::JsonSchema(
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "country": {"type": "string"},
                "population": {"type": "integer"},
                "size": {"enum": ["small", "large"]}
            },
            "required": ["city", "country", "population", "size"]
        })
        .to_string(),
    ));
    let request = local_request(
        vec![text_message(Role::User, "Describe Paris as JSON.")],
        options,
    );
    let answer = provider
        .chat(catalog::DEFAULT_MODEL, &request)
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&answer.text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", answer.text));
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["city", "country", "population", "size"], "{value}");
    assert!(
        value["population"].is_i64() || value["population"].is_u64(),
        "{value}"
    );
    assert!(
        ["small", "large"].contains(&value["size"].as_str().unwrap()),
        "{value}"
    );
    assert_eq!(answer.finish_reason, FinishReason::Stop);

    // A given start that cannot begin such JSON is refused, saying why.
    let mut request = request;
    request
        .messages
        .push(text_message(Role::Assistant, "Sure! "));
    let error = provider
        .chat(catalog::DEFAULT_MODEL, &request)
        .await
        .unwrap_err();
    assert!(
        error
            .describe()
            .contains("does not begin JSON of the requested shape"),
        "{}",
        error.describe()
    );
}

fn weather_and_calculator() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "calculator".into(),
            description: "Evaluates an arithmetic expression.".into(),
            parameters_schema: json!({
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"]
            })
            .to_string(),
        },
        ToolDefinition {
            name: "get_weather".into(),
            description: "Current weather of a city.".into(),
            parameters_schema: json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"enum": ["celsius", "fahrenheit"]}
                },
                "required": ["city"]
            })
            .to_string(),
        },
    ]
}

/// Tools offered to the real small model: an answer started with
/// `<tool_call>` (a prefill) is a call to one of them, its arguments in the
/// tool's schema shape, in one piece and streamed; the conversation goes on
/// with the call and its result in the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_calls_tools_in_their_schema_shape() {
    let Some(provider) = local_provider() else {
        return;
    };
    let mut options = no_options();
    options.tools = weather_and_calculator();
    options.max_tokens = Some(80);
    let question = text_message(Role::User, "What's the weather in Oslo?");
    let request = local_request(
        vec![
            question.clone(),
            text_message(Role::Assistant, "<tool_call>"),
        ],
        options.clone(),
    );
    let answer = provider
        .chat(catalog::DEFAULT_MODEL, &request)
        .await
        .unwrap();
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls, "{answer:?}");
    assert_eq!(answer.text, "");
    let [call] = answer.tool_calls.as_slice() else {
        panic!("one call: {answer:?}")
    };
    assert_eq!(call.name, "get_weather", "{call:?}");
    let arguments: serde_json::Value = serde_json::from_str(&call.arguments_json).unwrap();
    let city = arguments["city"]
        .as_str()
        .unwrap_or_else(|| panic!("{arguments}"));
    assert!(city.contains("Oslo"), "{arguments}");
    if let Some(unit) = arguments.get("unit") {
        assert!(unit == "celsius" || unit == "fahrenheit", "{arguments}");
    }

    // Streamed: the call arrives as one event before the finish.
    let mut stream = provider
        .chat_stream(catalog::DEFAULT_MODEL, &request)
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(event) = futures::StreamExt::next(&mut stream).await {
        events.push(event.unwrap());
    }
    match events.as_slice() {
        [StreamEvent::ToolCall(streamed), StreamEvent::Finish(end)] => {
            assert_eq!(
                (&streamed.name, &streamed.arguments_json),
                (&call.name, &call.arguments_json)
            );
            assert_eq!(end.finish_reason, FinishReason::ToolCalls);
        }
        other => panic!("{other:?}"),
    }

    // The call and its result in the history: the model answers in text.
    let mut asked = text_message(Role::Assistant, "");
    asked.tool_calls = vec![call.clone()];
    let mut result = text_message(Role::Tool, r#"{"celsius": 4, "sky": "snow"}"#);
    result.tool_call_id = Some(call.id.clone());
    let follow_up = local_request(vec![question, asked, result], options);
    let answer = provider
        .chat(catalog::DEFAULT_MODEL, &follow_up)
        .await
        .unwrap();
    assert!(answer.tool_calls.is_empty(), "{answer:?}");
    assert!(!answer.text.trim().is_empty());
}

/// A tool whose parameters schema is not JSON is refused before any
/// generation, naming the tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_model_refuses_a_tool_schema_that_is_not_json() {
    let Some(provider) = local_provider() else {
        return;
    };
    let mut options = no_options();
    options.tools = vec![ToolDefinition {
        name: "broken".into(),
        description: "".into(),
        parameters_schema: "{type: object".into(),
    }];
    let request = local_request(vec![text_message(Role::User, "Hi")], options);
    let error = provider
        .chat(catalog::DEFAULT_MODEL, &request)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LlmError::InvalidRequest(m) if m.contains("tool `broken`")),
        "{}",
        error.describe()
    );
}
