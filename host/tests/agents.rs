//! Agents, tools, workflows and hooks, end to end: real guest components
//! (`tests/guests`, the example plugin `spells/wordtool`) against a fake
//! OpenAI-compatible server on 127.0.0.1 that scripts the model's tool
//! calls (`agent: …` prompts, see `support/fake_llm.rs`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spellhost::bridges::event::EventBus;
use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::bridges::state::SqliteStore;
use spellhost::limits::Limits;
use spellhost::policy::Grants;
use spellhost::runtime::plugin::{PluginConfig, default_plugin_limits};
use spellhost::runtime::{RunReport, Runtime, SpellConfig};
use support::fake_llm::FakeLlm;
use support::{guest, test_runtime};

struct Host {
    runtime: Runtime,
    fake: FakeLlm,
    bus: EventBus,
    _dir: tempfile::TempDir,
}

fn host_with_delay(delay: Duration) -> Host {
    let fake = FakeLlm::start(delay);
    let mut config = OpenAiConfig::new("fake", fake.base_url());
    config.http.request_timeout = Duration::from_secs(10);
    let router = ModelRouter::new()
        .with_provider(Arc::new(OpenAiProvider::new(config).unwrap()))
        .with_default_model(Some("fake/fake-model".into()));
    let dir = tempfile::tempdir().unwrap();
    let bus = EventBus::default();
    Host {
        runtime: test_runtime()
            .router(router)
            .state(SqliteStore::new(dir.path().join("state.sqlite3")))
            .events(bus.clone())
            .build()
            .unwrap(),
        fake,
        bus,
        _dir: dir,
    }
}

fn host() -> Host {
    host_with_delay(Duration::ZERO)
}

async fn run(
    host: &Host,
    name: &str,
    input: &str,
    config: SpellConfig,
    limits: Limits,
) -> RunReport {
    let bytes = std::fs::read(guest(name)).unwrap();
    let spell = host.runtime.load(name, &bytes, config).unwrap();
    host.runtime.run(&spell, input, &limits).await
}

/// The output of a run that must succeed.
async fn output(host: &Host, name: &str, input: &str, config: SpellConfig) -> String {
    run(host, name, input, config, Limits::default())
        .await
        .result
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

/// Runs the `agent_run` guest and parses its JSON report.
async fn agent(host: &Host, spec: Value) -> Value {
    agent_with(host, spec, SpellConfig::default()).await
}

async fn agent_with(host: &Host, spec: Value, config: SpellConfig) -> Value {
    let report = run(
        host,
        "agent_run",
        &spec.to_string(),
        config,
        Limits::default(),
    )
    .await;
    let output = report
        .result
        .unwrap_or_else(|e| panic!("agent_run failed: {e}"));
    serde_json::from_str(&output).unwrap()
}

#[tokio::test]
async fn agents_call_tools_over_several_steps_and_answer() {
    let host = host();
    let out = agent(
        &host,
        json!({
            "prompt": r#"agent: call calculator {"expression":"6*7"}; call spell_lookup {"key":"k1"}; say done: {tools}"#,
            "tools": ["calculator", "spell_lookup"],
        }),
    )
    .await;
    assert_eq!(out["stop"], "answered");
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{out}");
    assert!(steps[0][0]["ok"].as_str().unwrap().contains("42"), "{out}");
    assert_eq!(
        steps[1][0]["ok"], r#"{"found":"k1"}"#,
        "the spell's own tool ran"
    );
    assert_eq!(out["answer"], r#"done: {"found":"k1"}"#);
    // The model saw the tool definitions and the results, in the wire format.
    let requests = host.fake.requests();
    assert_eq!(requests.len(), 3);
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["calculator", "spell_lookup"]);
    let last = requests[2].body["messages"].as_array().unwrap();
    assert_eq!(last.last().unwrap()["role"], "tool");
}

#[tokio::test]
async fn parallel_tool_calls_run_together_and_come_back_in_order() {
    let host = host();
    let out = agent(
        &host,
        json!({
            "prompt": r#"agent: call calculator {"expression":"1+1"} & call spell_lookup {"key":"b"} & call calculator {"expression":"3*3"}; say {tools}"#,
            "tools": ["calculator", "spell_lookup"],
        }),
    )
    .await;
    let first = out["steps"][0].as_array().unwrap();
    assert_eq!(first.len(), 3, "{out}");
    let answer = out["answer"].as_str().unwrap();
    let parts: Vec<&str> = answer.split(" | ").collect();
    assert!(
        parts[0].contains('2') && parts[1].contains("\"b\"") && parts[2].contains('9'),
        "{answer}"
    );
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools_go_back_to_the_model() {
    let host = host();
    let out = agent(
        &host,
        json!({
            "prompt": r#"agent: call calculator {"expr":1} & call rm_rf {"path":"/"}; say recovered: {tools}"#,
            "tools": ["calculator"],
        }),
    )
    .await;
    assert_eq!(out["stop"], "answered");
    let errors = &out["steps"][0];
    let bad = errors[0]["error"].as_str().unwrap();
    assert!(
        bad.contains("invalid arguments") && bad.contains("expression"),
        "{bad}"
    );
    let unknown = errors[1]["error"].as_str().unwrap();
    assert!(unknown.contains("unknown tool `rm_rf`"), "{unknown}");
    assert!(
        out["answer"]
            .as_str()
            .unwrap()
            .starts_with("recovered: error:")
    );
}

#[tokio::test]
async fn agents_stop_after_max_steps() {
    let host = host();
    let out = agent(
        &host,
        json!({
            "prompt": r#"agent: call calculator {"expression":"1+1"}"#,
            "tools": ["calculator"],
            "max_steps": 3,
        }),
    )
    .await;
    assert_eq!(out["stop"], "max-steps");
    assert_eq!(out["steps"].as_array().unwrap().len(), 3);
    assert_eq!(host.fake.requests().len(), 3);
}

#[tokio::test]
async fn agent_memory_keeps_the_conversation_across_runs() {
    let host = host();
    let out = agent(
        &host,
        json!({ "prompt": "agent: say hello", "tools": [], "memory_runs": 2 }),
    )
    .await;
    assert_eq!(out["history"], 4, "two user turns and two answers");
    let second = &host.fake.requests()[1].body["messages"];
    assert_eq!(
        second.as_array().unwrap().len(),
        3,
        "the second run sent the first"
    );
}

#[tokio::test]
async fn agent_usage_counts_against_the_run_budget() {
    let host = host();
    let spec = json!({
        "prompt": r#"agent: call calculator {"expression":"1+1"}; say done"#,
        "tools": ["calculator"],
    });
    let limits = Limits {
        max_llm_tokens: Some(16),
        ..Limits::default()
    };
    let report = run(
        &host,
        "agent_run",
        &spec.to_string(),
        SpellConfig::default(),
        limits,
    )
    .await;
    let err = report.result.unwrap_err().to_string();
    assert!(err.contains("budget"), "{err}");
    assert_eq!(
        host.fake.requests().len(),
        1,
        "the second step was refused before any request"
    );
}

#[tokio::test]
async fn agent_steps_are_published_as_events() {
    let host = host();
    let mut events = host.bus.receiver();
    agent(
        &host,
        json!({ "prompt": r#"agent: call calculator {"expression":"2+2"}; say ok"#, "tools": ["calculator"] }),
    )
    .await;
    let mut steps = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.topic == "spellhost.agent.step" {
            steps.push(event.payload.clone());
        }
    }
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["tool_calls"][0]["name"], "calculator");
}

/// Every host event of a run — started, each LLM call, each tool call,
/// each agent step, finished — names the run, so events of runs that
/// overlap in one host can be told apart.
#[tokio::test]
async fn every_host_event_carries_its_run_id() {
    let host = host();
    let mut events = host.bus.receiver();
    let spec = json!({ "prompt": r#"agent: call calculator {"expression":"2+2"}; say ok"#, "tools": ["calculator"] });
    let input = spec.to_string();
    let (first, second) = tokio::join!(
        run(
            &host,
            "agent_run",
            &input,
            SpellConfig::default(),
            Limits::default()
        ),
        run(
            &host,
            "agent_run",
            &input,
            SpellConfig::default(),
            Limits::default()
        ),
    );
    let ids = [first.stats.run_id.clone(), second.stats.run_id.clone()];
    assert_ne!(ids[0], ids[1]);
    let mut topics = std::collections::BTreeMap::<String, Vec<String>>::new();
    while let Ok(event) = events.try_recv() {
        let run_id = event.payload["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no run_id", event.topic));
        assert!(
            ids.contains(&run_id.to_owned()),
            "{}: {run_id}",
            event.topic
        );
        assert_eq!(event.payload["spell"], "agent_run", "{}", event.topic);
        topics
            .entry(run_id.to_owned())
            .or_default()
            .push(event.topic.clone());
    }
    for id in &ids {
        let seen = &topics[id];
        for topic in [
            "spellhost.run.started",
            "spellhost.llm.completed",
            "spellhost.tool.called",
            "spellhost.agent.step",
            "spellhost.run.finished",
        ] {
            assert!(
                seen.iter().any(|t| t == topic),
                "run {id} has no {topic}: {seen:?}"
            );
        }
    }
}

#[tokio::test]
async fn spell_hooks_redact_cancel_and_rewrite() {
    let host = host();
    let prompt = r#"agent: call calculator {"expression":"666+1"} & call calculator {"expression":"2+2"}; say {tools} secret"#;
    let report = run(
        &host,
        "agent_hooks",
        prompt,
        SpellConfig::default(),
        Limits::default(),
    )
    .await;
    let answer = report.result.unwrap();
    let parts: Vec<&str> = answer.split(" | ").collect();
    assert!(
        parts[0].contains("cancelled by a hook: no devilish arithmetic"),
        "{answer}"
    );
    assert!(parts[1].contains("tagged"), "{answer}");
    assert!(answer.ends_with("[redacted]"), "{answer}");
    for request in host.fake.requests() {
        assert!(
            !request.body.to_string().contains("secret"),
            "redacted before sending"
        );
    }
}

#[tokio::test]
async fn builtin_tools_need_the_spells_grants() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    std::fs::write(dir_path.join("note.txt"), "granted text").unwrap();
    let call = json!({ "name": "read_file", "arguments": { "path": dir_path.join("note.txt") } });
    let denied = run(
        &host,
        "tool_call",
        &call.to_string(),
        SpellConfig::default(),
        Limits::default(),
    )
    .await;
    let out = denied.result.unwrap();
    assert!(
        out.starts_with("error:") && out.contains("--allow-read"),
        "{out}"
    );
    let granted = SpellConfig {
        grants: Grants {
            read: vec![dir_path.clone()],
            ..Grants::default()
        },
        ..SpellConfig::default()
    };
    let out = output(&host, "tool_call", &call.to_string(), granted).await;
    assert!(out.contains("granted text"), "{out}");
    let bad = json!({ "name": "calculator", "arguments": { "expression": 7 } });
    let out = output(&host, "tool_call", &bad.to_string(), SpellConfig::default()).await;
    assert!(
        out.contains("invalid arguments") && out.contains("expression"),
        "{out}"
    );
}

#[tokio::test]
async fn started_tool_calls_come_back_in_order_with_their_own_errors() {
    let host = host();
    let calls = json!({ "calls": [
        { "name": "calculator", "arguments": { "expression": "6*7" } },
        { "name": "no_such_tool", "arguments": {} },
        { "name": "calculator", "arguments": { "expression": 7 } },
        { "name": "calculator", "arguments": { "expression": "1+1" } },
    ] });
    let out = output(
        &host,
        "tool_call",
        &calls.to_string(),
        SpellConfig::default(),
    )
    .await;
    let outcomes: Vec<String> = serde_json::from_str(&out).unwrap();
    assert!(outcomes[0].contains("42"), "{out}");
    assert!(
        outcomes[1].starts_with("error:") && outcomes[1].contains("no_such_tool"),
        "{out}"
    );
    assert!(
        outcomes[2].contains("invalid arguments") && outcomes[2].contains("expression"),
        "{out}"
    );
    assert!(outcomes[3].contains('2'), "{out}");
}

async fn wordtool(host: &Host, grants: Grants) -> Arc<spellhost::bridges::tool::ToolPlugin> {
    let bytes = std::fs::read(guest("wordtool")).unwrap();
    let config = PluginConfig {
        grants,
        limits: default_plugin_limits(),
        ..PluginConfig::default()
    };
    host.runtime
        .load_tool_plugin("wordtool", &bytes, config)
        .await
        .unwrap()
}

#[tokio::test]
async fn tool_plugins_serve_agents_from_their_own_sandbox() {
    let host = host();
    let plugin = wordtool(&host, Grants::default()).await;
    let config = SpellConfig {
        tool_plugins: vec![plugin],
        ..SpellConfig::default()
    };
    let out = agent_with(
        &host,
        json!({
            "prompt": r#"agent: call word_stats {"text":"a b a. c"}; say {tools}"#,
            "tools": ["word_stats"],
        }),
        config,
    )
    .await;
    let stats: Value = serde_json::from_str(out["answer"].as_str().unwrap()).unwrap();
    assert_eq!(
        stats,
        json!({ "words": 4, "sentences": 1, "most_frequent": "a" })
    );
}

#[tokio::test]
async fn a_plugin_without_the_fs_grant_cannot_read_files() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    std::fs::write(dir_path.join("note.txt"), "plugin secret").unwrap();
    let call = json!({ "name": "read_note", "arguments": { "path": dir_path.join("note.txt") } });
    // The spell may read the directory; the plugin may not.
    let spell_grants = Grants {
        read: vec![dir_path.clone()],
        ..Grants::default()
    };
    let config = SpellConfig {
        grants: spell_grants.clone(),
        tool_plugins: vec![wordtool(&host, Grants::default()).await],
        ..SpellConfig::default()
    };
    let out = output(&host, "tool_call", &call.to_string(), config).await;
    assert!(
        out.starts_with("error:") && out.contains("cannot read"),
        "{out}"
    );
    assert!(!out.contains("plugin secret"));

    let config = SpellConfig {
        tool_plugins: vec![wordtool(&host, spell_grants).await],
        ..SpellConfig::default()
    };
    let out = output(&host, "tool_call", &call.to_string(), config).await;
    assert_eq!(out, r#"{"text":"plugin secret"}"#);
}

/// Runs the `workflow_run` guest on `definition`.
async fn workflow(host: &Host, definition: Value, input: &str, config: SpellConfig) -> String {
    let spec = json!({ "definition": definition, "input": input });
    run(
        host,
        "workflow_run",
        &spec.to_string(),
        config,
        Limits::default(),
    )
    .await
    .result
    .unwrap()
}

#[tokio::test]
async fn parallel_workflow_steps_run_concurrently_in_the_host() {
    let delay = Duration::from_millis(400);
    let host = host_with_delay(delay);
    let definition = json!({ "parallel": [
        { "llm": { "prompt": "one {{ input }}" } },
        { "llm": { "prompt": "two {{ input }}" } },
        { "llm": { "prompt": "three {{ input }}" } },
        { "llm": { "prompt": "four {{ input }}" } },
    ]});
    let started = Instant::now();
    let out = workflow(&host, definition, "x", SpellConfig::default()).await;
    let elapsed = started.elapsed();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out["output"],
        json!([
            "echo: one x",
            "echo: two x",
            "echo: three x",
            "echo: four x"
        ])
    );
    // Four 400 ms calls one after another would take 1.6 s.
    assert!(elapsed < delay * 2, "took {elapsed:?}: not concurrent");
}

#[tokio::test]
async fn workflows_sequence_branch_loop_and_map() {
    let host = host();
    let definition = json!({ "sequence": [
        { "id": "first", "llm": { "prompt": "about {{ input }}" } },
        { "id": "route", "if": {
            "condition": "'about' in steps.first",
            "then": { "tool": { "name": "calculator", "arguments": { "expression": "{{ input | length }} * 10" } } },
            "else": { "llm": { "prompt": "never" } } } },
        { "id": "counted", "loop": { "max": 5, "until": "iteration >= 2",
            "step": { "llm": { "prompt": "round {{ iteration }}" } } } },
        { "id": "each", "map": { "over": "['a', 'b']", "step": { "llm": { "prompt": "item {{ index }}={{ item }}" } } } },
    ]});
    let out: Value =
        serde_json::from_str(&workflow(&host, definition, "wasm", SpellConfig::default()).await)
            .unwrap();
    let steps = &out["steps"];
    assert_eq!(steps["first"], "echo: about wasm");
    assert!(steps["route"].to_string().contains("40"), "{out}");
    assert_eq!(
        steps["counted"], "echo: round 2",
        "stopped by `until` after three rounds"
    );
    assert_eq!(steps["each"], json!(["echo: item 0=a", "echo: item 1=b"]));
    assert_eq!(out["output"], steps["each"]);
    assert_eq!(host.fake.requests().len(), 1 + 3 + 2);
}

#[tokio::test]
async fn invalid_workflows_say_where() {
    let host = host();
    for (definition, expected) in [
        (
            json!({ "loop": { "max": 1000, "step": { "llm": { "prompt": "x" } } } }),
            "bounded at 100",
        ),
        (
            json!({ "sequence": [{ "llm": { "prompt": "x" }, "tool": {} }] }),
            "exactly one of",
        ),
        (
            json!({ "sequence": [{ "llm": { "prompt": "{{ nope }}" } }] }),
            "$.sequence[0].llm",
        ),
        (
            json!({ "map": { "over": "range(200) | list", "step": { "llm": { "prompt": "x" } } } }),
            "at most 100",
        ),
        (
            json!({ "map": { "over": "[1]", "step": { "id": "x", "llm": { "prompt": "x" } } } }),
            "cannot have ids",
        ),
        (
            json!({ "loop": { "max": 100, "step": { "loop": { "max": 100, "step": { "tool": { "name": "uuid" } } } } } }),
            "at most 1000 steps",
        ),
    ] {
        let out = workflow(&host, definition, "", SpellConfig::default()).await;
        assert!(
            out.starts_with("error: workflow: invalid workflow") && out.contains(expected),
            "{out}"
        );
    }
    assert!(host.fake.requests().is_empty());
}

#[tokio::test]
async fn workflows_run_other_spells_only_under_a_read_grant() {
    let host = host();
    let echo = guest("echo").canonicalize().unwrap();
    let definition = json!({ "spell": { "path": echo, "input": "from a workflow: {{ input }}" } });
    let out = workflow(&host, definition.clone(), "hi", SpellConfig::default()).await;
    assert!(out.contains("--allow-read"), "{out}");
    let granted = SpellConfig {
        grants: Grants {
            read: vec![echo.parent().unwrap().to_path_buf()],
            ..Grants::default()
        },
        ..SpellConfig::default()
    };
    let out: Value =
        serde_json::from_str(&workflow(&host, definition, "hi", granted).await).unwrap();
    assert_eq!(out["output"], "from a workflow: hi");
}

#[tokio::test]
async fn hook_plugins_see_change_and_cancel_every_call() {
    let host = host();
    let bytes = std::fs::read(guest("hook_guard")).unwrap();
    let plugin = host
        .runtime
        .load_hook_plugin("hook_guard", &bytes, PluginConfig::default())
        .unwrap();
    let config = || SpellConfig {
        hook_plugins: vec![plugin.clone()],
        ..SpellConfig::default()
    };
    let report = run(
        &host,
        "llm_chat",
        "quiet please",
        config(),
        Limits::default(),
    )
    .await;
    let out: Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    assert_eq!(
        out["text"], "ECHO: QUIET PLEASE",
        "after-llm changed the answer"
    );

    let report = run(
        &host,
        "llm_stream",
        "quiet please",
        config(),
        Limits::default(),
    )
    .await;
    let out = report.result.unwrap();
    assert!(
        out.contains("ECHO: QUIET PLEASE"),
        "streams are shown to after-llm hooks first: {out}"
    );

    let report = run(
        &host,
        "llm_chat",
        "crash the guard",
        config(),
        Limits::default(),
    )
    .await;
    let err = report.result.unwrap_err().to_string();
    assert!(
        err.contains("plugin hook_guard crashed"),
        "a crashed guard fails closed: {err}"
    );
    let sent = host
        .fake
        .requests()
        .iter()
        .filter(|r| r.body.to_string().contains("crash the guard"))
        .count();
    assert_eq!(sent, 0, "nothing was sent past the crashed guard");

    let call = json!({ "name": "read_file", "arguments": { "path": "/etc/hostname" } });
    let out = output(&host, "tool_call", &call.to_string(), config()).await;
    assert!(
        out.contains("cancelled") && out.contains("files are off limits"),
        "{out}"
    );
    let call = json!({ "name": "uuid", "arguments": {} });
    let out = output(&host, "tool_call", &call.to_string(), config()).await;
    assert!(!out.starts_with("error"), "other tools pass: {out}");
}

#[tokio::test]
async fn spells_run_by_a_workflow_share_its_llm_budget() {
    let host = host();
    let chat = guest("llm_chat").canonicalize().unwrap();
    let definition = json!({ "sequence": [
        { "llm": { "prompt": "first" } },
        { "spell": { "path": chat, "input": "second" } },
    ]});
    let spec = json!({ "definition": definition, "input": "" });
    let config = SpellConfig {
        grants: Grants {
            read: vec![chat.parent().unwrap().to_path_buf()],
            ..Grants::default()
        },
        ..SpellConfig::default()
    };
    let limits = Limits {
        max_llm_tokens: Some(16),
        ..Limits::default()
    };
    let report = run(&host, "workflow_run", &spec.to_string(), config, limits).await;
    let out = report.result.unwrap();
    assert!(
        out.contains("budget"),
        "the child spent from the parent's budget: {out}"
    );
    assert_eq!(host.fake.requests().len(), 1);
}

/// Spans a run opens, as a subscriber sees them: name, parent's name, and
/// the `run_id` field.
#[derive(Clone, Default)]
struct Spans(Arc<std::sync::Mutex<Vec<(String, String, String)>>>);

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct RunId(String);
        impl tracing::field::Visit for RunId {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "run_id" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut run_id = RunId(String::new());
        attrs.record(&mut run_id);
        let span = ctx.span(id).unwrap();
        let parent = span
            .parent()
            .map(|p| p.name().to_owned())
            .unwrap_or_default();
        self.0
            .lock()
            .unwrap()
            .push((span.name().to_owned(), parent, run_id.0));
    }
}

/// Every span of this test binary, recorded by a process-wide subscriber
/// (a thread's own would race with the other tests over tracing's
/// per-callsite interest cache).
fn recorded_spans() -> &'static Spans {
    static SPANS: std::sync::OnceLock<Spans> = std::sync::OnceLock::new();
    SPANS.get_or_init(|| {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let spans = Spans::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(
                spans.clone().with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target(spellhost::telemetry::TARGET, tracing::Level::TRACE),
                ),
            ),
        )
        .expect("no other subscriber in this test binary");
        spans
    })
}

#[tokio::test]
async fn agent_steps_tools_llm_calls_and_workflow_steps_are_spans_of_their_run() {
    let spans = recorded_spans();
    let host = host();
    let of_run = |run_id: &str| -> Vec<(String, String, String)> {
        spans
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(.., id)| id == run_id)
            .cloned()
            .collect()
    };
    let spec = json!({
        "prompt": r#"agent: call calculator {"expression":"6*7"}; say done"#,
        "tools": ["calculator"],
    });
    let report = run(
        &host,
        "agent_run",
        &spec.to_string(),
        SpellConfig::default(),
        Limits::default(),
    )
    .await;
    let out: Value = serde_json::from_str(&report.result.unwrap()).unwrap();
    assert_eq!(out["stop"], "answered", "{out}");
    let seen = of_run(&report.stats.run_id);
    for (name, parent) in [
        ("run", ""),
        ("agent.step", "run"),
        ("llm.call", "agent.step"),
        ("tool.call", "agent.step"),
    ] {
        assert!(
            seen.iter().any(|(n, p, _)| n == name && p == parent),
            "a `{name}` span under `{parent}` with the run's id: {seen:?}"
        );
    }

    let report = run(
        &host,
        "workflow_run",
        &json!({
            "definition": { "tool": { "name": "calculator", "arguments": { "expression": "1+1" } } },
            "input": "",
        })
        .to_string(),
        SpellConfig::default(),
        Limits::default(),
    )
    .await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    let seen = of_run(&report.stats.run_id);
    assert!(
        seen.iter()
            .any(|(n, p, _)| n == "workflow.step" && p == "run")
            && seen
                .iter()
                .any(|(n, p, _)| n == "tool.call" && p == "workflow.step"),
        "{seen:?}"
    );
}
