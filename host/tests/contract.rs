//! Contract tests: every kind of request each remote provider builds is
//! checked against the provider's published API description
//! (`host/tests/specs/`), over real HTTP on 127.0.0.1: the fake server
//! refuses what breaks the description with the real API's 400, and the
//! test checks each recorded body once more itself. Responses are parsed
//! from the OpenAI description's own examples.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::{Value, json};
use spellhost::bindings::llm::{
    ChatRequest, ContentPart, FinishReason, Message, Options, ResponseFormat, Role, StreamEvent,
    ToolCall, ToolDefinition,
};
use spellhost::bridges::llm::LlmProvider;
use spellhost::bridges::llm::anthropic::AnthropicProvider;
use spellhost::bridges::llm::gemini::GeminiProvider;
use spellhost::bridges::llm::http::RemoteConfig;
use spellhost::bridges::llm::openai::{OpenAiProvider, OutputTokensField};
use spellhost::bridges::llm::provider::{no_options, text_message};
use support::contract;
use support::fake_llm::FakeLlm;

fn message(role: Role, parts: Vec<ContentPart>) -> Message {
    Message {
        role,
        content: parts,
        tool_calls: vec![],
        tool_call_id: None,
    }
}

const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAHnOcQAAAAABJRU5ErkJggg==";

/// One request of each kind a spell can make, named.
fn request_matrix() -> Vec<(&'static str, ChatRequest)> {
    let weather = ToolDefinition {
        name: "get_weather".into(),
        description: "Weather in a city".into(),
        parameters_schema: r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}"#.into(),
    };
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments_json: r#"{"city":"Paris"}"#.into(),
    };
    let tool_turns = vec![
        text_message(Role::System, "Be brief."),
        text_message(Role::User, "Weather in Paris?"),
        Message {
            tool_calls: vec![call],
            ..message(Role::Assistant, vec![])
        },
        Message {
            tool_call_id: Some("call_1".into()),
            ..text_message(Role::Tool, r#"{"celsius":21}"#)
        },
        text_message(Role::Assistant, "It is 21 °C."),
        text_message(Role::User, "And tomorrow?"),
    ];
    let plain = |messages: Vec<Message>, options: Options| ChatRequest { messages, options };
    vec![
        ("plain", plain(vec![text_message(Role::User, "Hello")], no_options())),
        (
            "all options",
            plain(
                vec![text_message(Role::System, "Be brief."), text_message(Role::User, "Hello")],
                Options {
                    temperature: Some(0.2),
                    top_p: Some(0.9),
                    max_tokens: Some(256),
                    stop: vec!["END".into()],
                    seed: Some(7),
                    ..no_options()
                },
            ),
        ),
        (
            "tools and tool results",
            plain(
                tool_turns,
                Options {
                    tools: vec![weather],
                    ..no_options()
                },
            ),
        ),
        (
            "json output",
            plain(
                vec![text_message(Role::User, "A JSON object, please")],
                Options {
                    response_format: Some(ResponseFormat::Json),
                    ..no_options()
                },
            ),
        ),
        (
            "json schema output",
            plain(
                vec![text_message(Role::User, "A city, please")],
                Options {
                    response_format: Some(ResponseFormat::JsonSchema(
                        r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}"#.into(),
                    )),
                    ..no_options()
                },
            ),
        ),
        (
            "images",
            plain(
                vec![message(
                    Role::User,
                    vec![
                        ContentPart::Text("What is in these?".into()),
                        ContentPart::ImageUrl("https://example.com/cat.png".into()),
                        ContentPart::ImageUrl(PNG.into()),
                    ],
                )],
                no_options(),
            ),
        ),
    ]
}

fn config(id: &str, base_url: String) -> RemoteConfig {
    RemoteConfig {
        api_key: Some("test-key".into()),
        ..RemoteConfig::new(id, base_url)
    }
}

/// Sends every request of the matrix, whole and streamed, and checks both
/// that the server took it and that its recorded body fits `contract`.
async fn drive(
    provider: &dyn LlmProvider,
    model: &str,
    fake: &FakeLlm,
    contract: &contract::Contract,
) {
    for (name, request) in request_matrix() {
        let answer = provider.chat(model, &request).await;
        assert!(answer.is_ok(), "{name}: {answer:?}");
        let mut stream = provider
            .chat_stream(model, &request)
            .await
            .unwrap_or_else(|e| panic!("{name} (streamed): {e:?}"));
        let mut finished = false;
        while let Some(event) = stream.next().await {
            let event = event.unwrap_or_else(|e| panic!("{name} (streamed): {e:?}"));
            finished |= matches!(event, StreamEvent::Finish(_));
        }
        assert!(finished, "{name}: the stream finished");
    }
    let bodies: Vec<Value> = fake
        .requests()
        .into_iter()
        .filter(|r| !r.path.contains("Embed") && !r.path.ends_with("embeddings"))
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies.len(), request_matrix().len() * 2);
    for body in &bodies {
        contract.assert_valid(body);
    }
}

#[tokio::test]
async fn openai_requests_match_the_published_openapi_description() {
    let fake = FakeLlm::start(Duration::ZERO);
    let provider = OpenAiProvider::new(config("openai", fake.base_url()))
        .unwrap()
        .with_output_field(OutputTokensField::MaxCompletionTokens);
    drive(&provider, "gpt-4o-mini", &fake, contract::openai_chat()).await;
    let sent = fake.requests();
    assert!(sent.iter().all(|r| r.body.get("max_tokens").is_none()));
    assert!(sent.iter().any(|r| r.body["max_completion_tokens"] == 256));
    assert!(
        sent.iter()
            .any(|r| r.body["stream_options"]["include_usage"] == true),
        "streams ask for usage"
    );
    let embeddings = provider
        .embed("text-embedding-3-small", &["a".into(), "bb".into()])
        .await
        .unwrap();
    assert_eq!(embeddings.vectors.len(), 2);
    let embed_body = fake.requests().last().unwrap().body.clone();
    contract::openai_embeddings().assert_valid(&embed_body);
    assert!(
        provider
            .list_models()
            .await
            .unwrap()
            .contains(&"fake-model".to_owned())
    );
}

#[tokio::test]
async fn generic_openai_compatible_servers_keep_max_tokens() {
    let fake = FakeLlm::start(Duration::ZERO);
    let provider = OpenAiProvider::new(config("vllm", fake.base_url())).unwrap();
    let (_, request) = request_matrix().swap_remove(1);
    provider.chat("qwen", &request).await.unwrap();
    let body = &fake.requests()[0].body;
    assert_eq!(body["max_tokens"], 256);
    assert!(body.get("max_completion_tokens").is_none());
    contract::openai_chat().assert_valid(body);
}

#[tokio::test]
async fn anthropic_requests_match_the_sdk_types() {
    let fake = FakeLlm::start(Duration::ZERO);
    let provider = AnthropicProvider::new(config("anthropic", fake.anthropic_url())).unwrap();
    // A model the catalog does not know: the provider alone shapes the body.
    drive(
        &provider,
        "claude-contract",
        &fake,
        contract::anthropic_messages(),
    )
    .await;
    for request in fake.requests() {
        assert_eq!(request.headers["anthropic-version"], "2023-06-01");
        assert_eq!(request.credential.as_deref(), Some("test-key"));
    }
}

#[tokio::test]
async fn gemini_requests_match_the_rest_reference() {
    let fake = FakeLlm::start(Duration::ZERO);
    let provider = GeminiProvider::new(config("gemini", fake.gemini_url())).unwrap();
    drive(
        &provider,
        "gemini-2.5-flash",
        &fake,
        contract::gemini_generate(),
    )
    .await;
    let sent = fake.requests();
    let tools = sent.iter().find(|r| r.body.get("tools").is_some()).unwrap();
    assert!(
        tools.body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["additionalProperties"]
            == false,
        "full JSON Schema goes in parametersJsonSchema"
    );
}

/// The validators are strict: a field the API does not know, a wrong
/// type or a missing requirement each break the contract.
#[test]
fn a_wrong_field_breaks_each_contract() {
    let openai =
        json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "Hi" }] });
    assert!(contract::openai_chat().violations(&openai).is_empty());
    for (broken, why) in [
        (json!({ "max_tokenz": 5 }), "unknown top-level field"),
        (json!({ "max_completion_tokens": "5" }), "wrong type"),
        (
            json!({ "messages": [{ "role": "user", "content": "Hi", "tool_call_id": "x" }] }),
            "field of another message kind",
        ),
        (
            json!({ "messages": [{ "role": "robot", "content": "Hi" }] }),
            "unknown role",
        ),
        (
            json!({ "stream_options": { "include_usage": true, "usage": true } }),
            "unknown nested field",
        ),
        (
            json!({ "messages": [{ "role": "assistant", "content": "x", "bogus": 1 }] }),
            "unknown field of an assistant message",
        ),
        (
            json!({ "messages": [{ "role": "tool", "content": "x", "tool_call_id": "c", "name": "f" }] }),
            "unknown field of a tool message",
        ),
        (
            json!({ "tools": [{ "type": "function", "function": { "name": "f", "parameters": {}, "strict_mode": true } }] }),
            "unknown field of a function",
        ),
    ] {
        let mut body = openai.clone();
        body.as_object_mut()
            .unwrap()
            .extend(broken.as_object().unwrap().clone());
        assert!(
            !contract::openai_chat().violations(&body).is_empty(),
            "openai: {why}: {body}"
        );
    }
    let mut no_model = openai.clone();
    no_model.as_object_mut().unwrap().remove("model");
    assert!(!contract::openai_chat().violations(&no_model).is_empty());

    let anthropic = json!({ "model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{ "role": "user", "content": "Hi" }] });
    assert!(
        contract::anthropic_messages()
            .violations(&anthropic)
            .is_empty()
    );
    let mut broken = anthropic.clone();
    broken["max_completion_tokens"] = json!(10);
    assert!(
        !contract::anthropic_messages()
            .violations(&broken)
            .is_empty()
    );
    let mut broken = anthropic.clone();
    broken.as_object_mut().unwrap().remove("max_tokens");
    assert!(
        !contract::anthropic_messages()
            .violations(&broken)
            .is_empty()
    );

    let gemini = json!({ "contents": [{ "role": "user", "parts": [{ "text": "Hi" }] }], "generationConfig": { "maxOutputTokens": 10 } });
    assert!(contract::gemini_generate().violations(&gemini).is_empty());
    let mut broken = gemini.clone();
    broken["generationConfig"]["max_output_tokens"] = json!(10);
    assert!(!contract::gemini_generate().violations(&broken).is_empty());
    let mut broken = gemini.clone();
    broken["tools"] = json!([{ "functionDeclarations": [{ "name": "f", "parameters": { "type": "object", "additionalProperties": false } }] }]);
    assert!(
        !contract::gemini_generate().violations(&broken).is_empty(),
        "parameters takes Gemini's OpenAPI subset only"
    );
}

/// Serves the OpenAI description's response examples: `Default`,
/// `Image input` and `Functions` whole, `Streaming` as SSE; embeddings
/// and the model list.
fn example_server() -> (String, tokio::task::JoinHandle<()>) {
    let chat = contract::openai_examples("/chat/completions", "post");
    let example = |title: &str| {
        chat.iter()
            .find(|(t, _)| t == title)
            .unwrap_or_else(|| panic!("no example {title}"))
            .1
            .clone()
    };
    let (default, functions, streaming) = (
        example("Default"),
        example("Functions"),
        example("Streaming"),
    );
    let embeddings = contract::openai_examples("/embeddings", "post")[0]
        .1
        .clone();
    let models = contract::openai_examples("/models", "get")[0].1.clone();
    let json = |text: String| {
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(text))
            .unwrap()
    };
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |body: String| {
                let (default, functions, streaming) =
                    (default.clone(), functions.clone(), streaming.clone());
                async move {
                    let body: Value = serde_json::from_str(&body).unwrap();
                    contract::openai_chat().assert_valid(&body);
                    if body["stream"] == true {
                        let frames: String = streaming
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .map(|l| format!("data: {l}\n\n"))
                            .collect();
                        return Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(Body::from(frames))
                            .unwrap();
                    }
                    json(if body.get("tools").is_some() {
                        functions
                    } else {
                        default
                    })
                }
            }),
        )
        .route(
            "/v1/embeddings",
            post(move || {
                let e = embeddings.clone();
                async move { json(e) }
            }),
        )
        .route(
            "/v1/models",
            get(move || {
                let m = models.clone();
                async move { json(m) }
            }),
        );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, task)
}

#[tokio::test]
async fn openai_responses_from_the_description_examples_parse() {
    let (url, _server) = example_server();
    let provider: Arc<dyn LlmProvider> = Arc::new(
        OpenAiProvider::new(config("openai", url))
            .unwrap()
            .with_output_field(OutputTokensField::MaxCompletionTokens),
    );
    let matrix = request_matrix();
    let answer = provider.chat("gpt-4o-mini", &matrix[0].1).await.unwrap();
    assert_eq!(answer.text, "Hello! How can I assist you today?");
    assert_eq!(
        (answer.usage.input_tokens, answer.usage.output_tokens),
        (19, 10)
    );
    let answer = provider.chat("gpt-4o-mini", &matrix[2].1).await.unwrap();
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.tool_calls[0].name, "get_current_weather");
    let arguments: Value = serde_json::from_str(&answer.tool_calls[0].arguments_json).unwrap();
    assert_eq!(arguments["location"], "Boston, MA");
    let mut stream = provider
        .chat_stream("gpt-4o-mini", &matrix[0].1)
        .await
        .unwrap();
    let mut streamed = String::new();
    let mut finish = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Text(t) => streamed.push_str(&t),
            StreamEvent::Finish(end) => finish = Some(end.finish_reason),
            StreamEvent::ToolCall(_) => panic!("no tool calls in the example"),
        }
    }
    assert_eq!(
        (streamed.as_str(), finish),
        ("Hello", Some(FinishReason::Stop))
    );
    let embeddings = provider
        .embed("text-embedding-3-small", &["x".into()])
        .await
        .unwrap();
    assert_eq!(embeddings.vectors[0][..2], [0.0023064255, -0.009327292]);
    assert_eq!(embeddings.usage.input_tokens, 8);
    assert_eq!(
        provider.list_models().await.unwrap(),
        ["model-id-0", "model-id-1", "model-id-2"]
    );
}
