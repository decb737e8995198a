//! One trace follows a run from `spellhost submit` through the queue to the
//! worker that ran it, down to its LLM call — exported over OTLP/HTTP to a
//! collector on 127.0.0.1, with the run's id on every span.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use support::fake_llm::FakeLlm;
use support::otlp::{Collector, Span};
use support::servers::Redis;

/// The spans as an indented tree (for the failure message, and to read).
fn tree(spans: &[Span]) -> String {
    fn walk(spans: &[Span], parent: &str, depth: usize, out: &mut String) {
        for span in spans.iter().filter(|s| s.parent_span_id == parent) {
            let attributes: BTreeMap<_, _> = span.attributes.iter().collect();
            out.push_str(&format!(
                "{}{} ({:.1} ms, {}) {}\n",
                "  ".repeat(depth),
                span.name,
                span.ms,
                span.service,
                attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            walk(spans, &span.span_id, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(spans, "", 0, &mut out);
    out
}

#[test]
fn one_trace_follows_a_run_from_submit_to_the_worker_and_its_llm_call() {
    let redis = Redis::start();
    let collector = Collector::start();
    let fake = FakeLlm::start(Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(
        &config,
        format!(
            "[queue]\nurl = \"{}\"\n\n[telemetry]\nendpoint = \"{}\"\nprotocol = \"http/json\"\n",
            redis.url(),
            collector.endpoint()
        ),
    )
    .unwrap();
    let mut worker = support::spellhost_command(home.path())
        .args(["worker", "--model", "openai/fake-model", "--config"])
        .arg(&config)
        .arg(support::guest("llm_chat"))
        .env("OPENAI_BASE_URL", fake.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, log) = support::listening::after_line(worker.stderr.take().unwrap(), "taking runs");

    let out = support::spellhost_command(home.path())
        .args([
            "submit", "llm_chat", "--wait", "--json", "--input", "hello", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = result["run_id"].as_str().unwrap().to_owned();

    // A worker stopped with Ctrl-C sends its last spans before it exits.
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &worker.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = worker.wait().unwrap();
    assert!(status.success(), "{status}: {:?}", log.lock().unwrap());

    let spans = collector.spans();
    let shown = tree(&spans);
    eprintln!("{shown}");
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no `{name}` span in\n{shown}"))
    };
    let submit = named("submit");
    let taken = named("worker.run");
    let run = named("run");
    let llm = named("llm.call");
    assert_eq!(submit.parent_span_id, "", "submit starts the trace");
    assert_eq!(taken.parent_span_id, submit.span_id, "{shown}");
    assert_eq!(run.parent_span_id, taken.span_id, "{shown}");
    assert_eq!(llm.parent_span_id, run.span_id, "{shown}");
    for span in [submit, taken, run, llm] {
        assert_eq!(span.trace_id, submit.trace_id, "one trace: {shown}");
        assert_eq!(
            span.attribute("run_id").as_deref(),
            Some(run_id.as_str()),
            "{shown}"
        );
    }
    assert_eq!(
        llm.attribute("gen_ai.request.model").as_deref(),
        Some("openai/fake-model")
    );
    assert!(
        llm.attribute("gen_ai.usage.output_tokens").is_some(),
        "{shown}"
    );
    assert_eq!(run.attribute("ok").as_deref(), Some("true"), "{shown}");
}

#[test]
fn a_bad_telemetry_setting_is_refused_naming_it() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(&config, "[telemetry]\nendpoint = \"127.0.0.1:4318\"\n").unwrap();
    let out = support::spellhost_command(home.path())
        .args(["submit", "x", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[telemetry] endpoint `127.0.0.1:4318`"),
        "{stderr}"
    );
}
