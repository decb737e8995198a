//! Scenario tests: real guest components (built from `tests/guests` by
//! `just test-guests`) run in the real runtime, against a fake
//! OpenAI-compatible server on 127.0.0.1 where they need a model.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::bridges::state::SqliteStore;
use spellhost::cache::{CompileCache, CompileSource};
use spellhost::limits::{LimitExceeded, Limits};
use spellhost::runtime::{Grants, RunError, RunReport, Runtime, SpellConfig};
use support::fake_llm::FakeLlm;
use support::{guest, test_runtime};

struct Host {
    runtime: Runtime,
    dir: tempfile::TempDir,
}

fn host_with(router: ModelRouter) -> Host {
    let dir = tempfile::tempdir().unwrap();
    host_at(router, dir)
}

fn host_at(router: ModelRouter, dir: tempfile::TempDir) -> Host {
    Host {
        runtime: test_runtime()
            .router(router)
            .state(SqliteStore::new(dir.path().join("state.sqlite3")))
            .build()
            .unwrap(),
        dir,
    }
}

fn host() -> Host {
    host_with(ModelRouter::new())
}

fn fake_router(fake: &FakeLlm) -> ModelRouter {
    let mut config = OpenAiConfig::new("fake", fake.base_url());
    config.api_key = Some("sk-test-secret".into());
    config.http.request_timeout = Duration::from_secs(10);
    ModelRouter::new()
        .with_provider(Arc::new(OpenAiProvider::new(config).unwrap()))
        .with_default_model(Some("fake/fake-model".into()))
}

async fn run_with(
    host: &Host,
    name: &str,
    input: &str,
    limits: Limits,
    config: SpellConfig,
) -> RunReport {
    let bytes = std::fs::read(guest(name)).unwrap();
    let spell = host
        .runtime
        .load(name, &bytes, config)
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    host.runtime.run(&spell, input, &limits).await
}

async fn run(host: &Host, name: &str, input: &str) -> RunReport {
    run_with(host, name, input, Limits::default(), SpellConfig::default()).await
}

fn output(report: RunReport) -> String {
    report.result.unwrap_or_else(|e| panic!("run failed: {e}"))
}

fn failure(report: RunReport) -> RunError {
    match report.result {
        Ok(output) => panic!("expected a failure, got output {output:?}"),
        Err(err) => err,
    }
}

#[tokio::test]
async fn echo_returns_its_input() {
    let host = host();
    assert_eq!(
        output(run(&host, "echo", "hello spell").await),
        "hello spell"
    );
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_fuel() {
    let host = host();
    let limits = Limits {
        fuel: 20_000_000,
        ..Limits::default()
    };
    let report = run_with(
        &host,
        "limits_infinite_loop",
        "",
        limits,
        SpellConfig::default(),
    )
    .await;
    assert_eq!(report.stats.fuel_consumed, 20_000_000);
    let err = failure(report);
    assert!(
        matches!(
            err,
            RunError::Limit(LimitExceeded::Fuel { limit: 20_000_000 })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--fuel 200000000"), "{err}");
}

#[tokio::test]
async fn infinite_loop_is_stopped_by_the_wall_clock() {
    let host = host();
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let err = failure(
        run_with(
            &host,
            "limits_infinite_loop",
            "",
            limits,
            SpellConfig::default(),
        )
        .await,
    );
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Timeout { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("--timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn waiting_in_the_host_is_stopped_by_the_wall_clock() {
    let host = host();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let err = failure(
        run_with(
            &host,
            "limits_wait_in_host",
            "",
            limits,
            SpellConfig::default(),
        )
        .await,
    );
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Timeout { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn memory_bomb_is_stopped_by_the_memory_limit() {
    let host = host();
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let report = run_with(
        &host,
        "limits_memory_bomb",
        "",
        limits,
        SpellConfig::default(),
    )
    .await;
    assert!(report.stats.peak_memory_bytes <= 32 << 20);
    // The run's budget saw at least what the spell's memories held, and
    // never more than the limit.
    assert!(report.stats.run_memory_peak_bytes >= report.stats.peak_memory_bytes);
    assert!(report.stats.run_memory_peak_bytes <= 32 << 20);
    assert!(report.stats.peak_memory_bytes > 16 << 20);
    let err = failure(report);
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Memory { limit, .. }) if limit == 32 << 20),
        "{err:?}"
    );
    assert!(err.to_string().contains("--memory 128MiB"), "{err}");
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let err = failure(run(&host(), "limits_deep_recursion", "").await);
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Stack)),
        "{err:?}"
    );
}

#[tokio::test]
async fn output_over_the_limit_is_refused() {
    let host = host();
    let limits = Limits {
        max_output_bytes: 1 << 20,
        ..Limits::default()
    };
    let err = failure(
        run_with(
            &host,
            "limits_big_output",
            "2097152",
            limits.clone(),
            SpellConfig::default(),
        )
        .await,
    );
    assert!(
        matches!(
            err,
            RunError::Limit(LimitExceeded::Output { size: 2097152, .. })
        ),
        "{err:?}"
    );
    let fits = output(
        run_with(
            &host,
            "limits_big_output",
            "1000",
            limits,
            SpellConfig::default(),
        )
        .await,
    );
    assert_eq!(fits.len(), 1000);
}

#[tokio::test]
async fn a_spell_error_and_a_panic_are_told_apart() {
    let host = host();
    let err = failure(run(&host, "fails", "").await);
    assert!(
        matches!(&err, RunError::Failed(m) if m.contains("deliberate failure")),
        "{err:?}"
    );
    let err = failure(run(&host, "panics", "").await);
    assert!(matches!(&err, RunError::Trap(_)), "{err:?}");
}

#[tokio::test]
async fn state_persists_across_runs_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let first = host_at(ModelRouter::new(), dir);
    assert_eq!(output(run(&first, "state_counter", "").await), "1");
    assert_eq!(output(run(&first, "state_counter", "").await), "2");
    // A new runtime (as a new process would have) opens the same file.
    let Host { runtime, dir } = first;
    drop(runtime);
    let second = host_at(ModelRouter::new(), dir);
    assert_eq!(output(run(&second, "state_counter", "").await), "3");
    assert!(path.join("state.sqlite3").exists());
}

#[tokio::test]
async fn shared_state_needs_a_grant() {
    let host = host();
    let err = failure(run(&host, "state_shared", "hi").await);
    assert!(
        matches!(&err, RunError::Failed(m) if m.contains("--allow-state-ns team")),
        "{err:?}"
    );
    let granted = SpellConfig {
        grants: Grants {
            state_namespaces: vec!["team".into()],
            ..Grants::default()
        },
        ..SpellConfig::default()
    };
    let out = output(run_with(&host, "state_shared", "hi", Limits::default(), granted).await);
    assert_eq!(out, "hi / [\"note\"]");
}

#[tokio::test]
async fn events_round_trip_through_the_bus() {
    let host = host();
    let mut all = host.runtime.services().bus.receiver();
    let out: serde_json::Value =
        serde_json::from_str(&output(run(&host, "events_roundtrip", "").await)).unwrap();
    let source = "spell:events_roundtrip";
    assert_eq!(
        out["seen"],
        serde_json::json!([
            format!("roundtrip.tick=0@{source}"),
            format!("roundtrip.tick=1@{source}"),
            format!("roundtrip.tick=2@{source}")
        ])
    );
    assert!(
        out["reserved"]
            .as_str()
            .unwrap()
            .contains("reserved for the host")
    );
    let mut topics = Vec::new();
    while let Ok(event) = all.try_recv() {
        topics.push(event.topic.clone());
    }
    assert_eq!(
        topics.first().map(String::as_str),
        Some("spellhost.run.started")
    );
    assert_eq!(
        topics.last().map(String::as_str),
        Some("spellhost.run.finished")
    );
    assert_eq!(topics.iter().filter(|t| *t == "roundtrip.tick").count(), 3);
}

#[tokio::test]
async fn config_vars_reach_the_spell() {
    let host = host();
    let config = SpellConfig {
        vars: [("tone".into(), "dry".into()), ("lang".into(), "en".into())].into(),
        ..SpellConfig::default()
    };
    let out = output(run_with(&host, "config_vars", "", Limits::default(), config).await);
    assert_eq!(out, r#"[["lang","en"],["tone","dry"]]"#);
}

#[tokio::test]
async fn chat_speaks_the_openai_wire_format() {
    let fake = FakeLlm::start(Duration::ZERO);
    let host = host_with(fake_router(&fake));
    let report = run(&host, "llm_chat", "What is 2+2?").await;
    assert_eq!(report.stats.llm.calls, 1);
    assert_eq!(report.stats.llm.input_tokens, 11);
    let out: serde_json::Value = serde_json::from_str(&output(report)).unwrap();
    assert_eq!(out["text"], "echo: What is 2+2?");
    assert_eq!(out["model"], "fake/fake-model");
    assert_eq!(out["finish"], "FinishReason::Stop");
    assert_eq!(out["output_tokens"], 5);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.credential.as_deref(), Some("Bearer sk-test-secret"));
    assert_eq!(request.body["model"], "fake-model");
    assert_eq!(
        request.body["messages"][0],
        serde_json::json!({ "role": "system", "content": "test system prompt" })
    );
    assert_eq!(request.body["temperature"], 0.0);
}

#[tokio::test]
async fn tool_calls_come_back_to_the_spell() {
    let fake = FakeLlm::start(Duration::ZERO);
    let host = host_with(fake_router(&fake));
    let out: serde_json::Value =
        serde_json::from_str(&output(run(&host, "llm_chat", "please call tool").await)).unwrap();
    assert_eq!(out["finish"], "FinishReason::ToolCalls");
    assert_eq!(
        out["tool_calls"],
        serde_json::json!([{ "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" }])
    );
}

#[tokio::test]
async fn streaming_delivers_chunks_then_the_finish() {
    let fake = FakeLlm::start(Duration::ZERO);
    let host = host_with(fake_router(&fake));
    let out: serde_json::Value =
        serde_json::from_str(&output(run(&host, "llm_stream", "one two three").await)).unwrap();
    assert_eq!(
        out["chunks"],
        serde_json::json!(["echo:", " one", " two", " three"])
    );
    assert_eq!(
        out["finish"],
        serde_json::json!(["FinishReason::Stop", 5, "fake/fake-model"])
    );
    assert_eq!(fake.requests()[0].body["stream"], true);
}

#[tokio::test]
async fn a_cut_stream_is_a_clear_error_not_a_hang() {
    let fake = FakeLlm::start(Duration::ZERO);
    let host = host_with(fake_router(&fake));
    let limits = Limits {
        timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let err = failure(
        run_with(
            &host,
            "llm_stream",
            "please cut stream",
            limits,
            SpellConfig::default(),
        )
        .await,
    );
    assert!(
        matches!(&err, RunError::Failed(m) if m.contains("LLM unavailable") && m.contains("cut")),
        "{err:?}"
    );
}

#[tokio::test]
async fn provider_errors_are_typed() {
    let fake = FakeLlm::start(Duration::ZERO);
    let host = host_with(fake_router(&fake));
    for (prompt, expected) in [
        ("please fail 429", "LLM rate limited: fake error 429"),
        (
            "please fail 401",
            "LLM authentication failed: fake error 401",
        ),
        ("please fail 500", "LLM provider error: fake error 500"),
        ("please send garbage", "malformed answer"),
    ] {
        let err = failure(run(&host, "llm_chat", prompt).await);
        assert!(
            matches!(&err, RunError::Failed(m) if m.contains(expected)),
            "{prompt}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    // Bind and drop a listener to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = OpenAiConfig::new("down", format!("http://127.0.0.1:{port}/v1"));
    let router = ModelRouter::new()
        .with_provider(Arc::new(OpenAiProvider::new(config).unwrap()))
        .with_default_model(Some("down/m".into()));
    let err = failure(run(&host_with(router), "llm_chat", "hi").await);
    assert!(
        matches!(&err, RunError::Failed(m) if m.contains("cannot connect to down")),
        "{err:?}"
    );
}

#[tokio::test]
async fn four_requests_in_flight_at_once() {
    let fake = FakeLlm::start(Duration::from_millis(500));
    let host = host_with(fake_router(&fake));
    // Warm the compile cache so only the run itself is timed.
    let bytes = std::fs::read(guest("llm_concurrent")).unwrap();
    let spell = host
        .runtime
        .load("llm_concurrent", &bytes, SpellConfig::default())
        .unwrap();
    let started = Instant::now();
    let report = host.runtime.run(&spell, "", &Limits::default()).await;
    let elapsed = started.elapsed();
    let answers: Vec<String> = serde_json::from_str(&output(report)).unwrap();
    assert_eq!(
        answers,
        [
            "echo: question 0",
            "echo: question 1",
            "echo: question 2",
            "echo: question 3"
        ]
    );
    // Sequential calls would take 4 × 500 ms.
    assert!(
        elapsed < Duration::from_millis(1500),
        "4 concurrent 500 ms calls took {elapsed:?}"
    );
}

#[tokio::test]
async fn models_outside_the_grant_are_denied() {
    let fake = FakeLlm::start(Duration::ZERO);
    let host = host_with(fake_router(&fake));
    let wants_other = |grants: Vec<String>| SpellConfig {
        grants: Grants {
            models: grants,
            ..Grants::default()
        },
        vars: [("model".into(), "fake/other-model".into())].into(),
        ..SpellConfig::default()
    };
    let err = failure(
        run_with(
            &host,
            "llm_chat",
            "hi",
            Limits::default(),
            wants_other(vec![]),
        )
        .await,
    );
    assert!(
        matches!(&err, RunError::Failed(m) if m.contains("--allow-model fake/other-model")),
        "{err:?}"
    );
    assert!(
        fake.requests().is_empty(),
        "a denied request must not reach the provider"
    );
    let out = output(
        run_with(
            &host,
            "llm_chat",
            "hi",
            Limits::default(),
            wants_other(vec!["fake/*".into()]),
        )
        .await,
    );
    assert!(out.contains("\"model\":\"fake/other-model\""), "{out}");
}

fn load_error(host: &Host, bytes: &[u8]) -> RunError {
    match host.runtime.load("bad", bytes, SpellConfig::default()) {
        Ok(_) => panic!("expected the load to fail"),
        Err(err) => err,
    }
}

#[test]
fn malformed_components_are_rejected_with_what_they_are() {
    let host = host();
    let err = load_error(&host, b"#!/bin/sh\necho not wasm\n");
    assert!(
        matches!(&err, RunError::NotAComponent(m) if m.contains("not WebAssembly")),
        "{err:?}"
    );
    let err = load_error(&host, b"\0asm\x01\0\0\0");
    assert!(
        matches!(&err, RunError::NotAComponent(m) if m.contains("core WebAssembly module")),
        "{err:?}"
    );
    let bytes = std::fs::read(guest("echo")).unwrap();
    let err = load_error(&host, &bytes[..bytes.len() / 2]);
    assert!(matches!(&err, RunError::Invalid(_)), "{err:?}");
}

#[test]
fn a_component_of_the_wrong_world_is_not_a_spell() {
    let err = load_error(&host(), &std::fs::read(guest("not_a_spell")).unwrap());
    assert!(matches!(&err, RunError::NotASpell(_)), "{err:?}");
    assert!(err.to_string().contains("must export `run"), "{err}");
}

#[test]
fn an_unknown_import_is_named() {
    let err = load_error(
        &host(),
        &std::fs::read(guest("imports_unknown_interface")).unwrap(),
    );
    assert!(
        matches!(&err, RunError::MissingImport { import, .. } if import == "test:unknown/raw-socket"),
        "{err:?}"
    );
}

/// Deployments of one component share its prepared form: the second load
/// neither compiles nor reads the cache, yet each keeps its own vars; once
/// no deployment uses it, it is freed.
#[tokio::test]
async fn deployments_share_one_prepared_component() {
    let runtime = test_runtime().build().unwrap();
    let bytes = std::fs::read(guest("config_vars")).unwrap();
    let deploy = |who: &str| SpellConfig {
        vars: [("who".to_owned(), who.to_owned())].into(),
        ..SpellConfig::default()
    };
    let alice = runtime.load("alice", &bytes, deploy("alice")).unwrap();
    let bob = runtime.load("bob", &bytes, deploy("bob")).unwrap();
    assert_ne!(alice.compile_source, CompileSource::Memory);
    assert_eq!(bob.compile_source, CompileSource::Memory);
    assert!(Arc::ptr_eq(alice.prepared(), bob.prepared()));
    assert_eq!(runtime.prepared_components(), 1);
    let limits = Limits::default();
    let (a, b) = tokio::join!(
        runtime.run(&alice, "", &limits),
        runtime.run(&bob, "", &limits)
    );
    assert_eq!(a.result.unwrap(), r#"[["who","alice"]]"#);
    assert_eq!(b.result.unwrap(), r#"[["who","bob"]]"#);
    drop((alice, bob));
    assert_eq!(
        runtime.prepared_components(),
        0,
        "unused components are freed"
    );
    let again = runtime.load("carol", &bytes, deploy("carol")).unwrap();
    assert_ne!(again.compile_source, CompileSource::Memory);
}

#[test]
fn the_second_load_skips_compilation() {
    let cache_dir = tempfile::tempdir().unwrap();
    let load = |path: &Path| {
        let runtime = Runtime::builder()
            .compile_cache(CompileCache::at(cache_dir.path()))
            .build()
            .unwrap();
        runtime
            .load(
                "echo",
                &std::fs::read(path).unwrap(),
                SpellConfig::default(),
            )
            .unwrap()
            .compile_source
    };
    assert_eq!(load(&guest("echo")), CompileSource::Compiled);
    assert_eq!(load(&guest("echo")), CompileSource::Cache);
    assert_eq!(
        load(&guest("fails")),
        CompileSource::Compiled,
        "a different component is a miss"
    );
}
