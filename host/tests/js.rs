//! JavaScript spells end to end: ES modules from `tests/js/` run by the
//! shipped QuickJS interpreter component (`host/prebuilt/js.wasm`)
//! against a fake OpenAI-compatible server on 127.0.0.1. Each API module
//! checks itself and resolves to "ok"; a failed check fails the test with
//! the module's file name, line and stack.

mod support;

use std::time::{Duration, Instant};

use spellhost::limits::Limits;
use spellhost::policy::Grants;
use spellhost::runtime::{RunError, SpellConfig};
use spellhost::scripts::Language;
use support::scripts::{ScriptHost, failure};

fn host() -> ScriptHost {
    ScriptHost::new(Language::JavaScript)
}

#[tokio::test]
async fn conversions_between_js_and_json_are_faithful_both_ways() {
    host().check("conversions.js", SpellConfig::default()).await;
}

#[tokio::test]
async fn llm_chat_stream_errors_and_models() {
    host().check("llm.js", SpellConfig::default()).await;
}

#[tokio::test]
async fn state_events_config_and_console() {
    let config = SpellConfig {
        vars: [("greeting".to_string(), "hi".to_string())].into(),
        ..Default::default()
    };
    host().check("state_events.js", config).await;
}

#[tokio::test]
async fn agents_tools_hooks_and_workflows() {
    host().check("agents.js", SpellConfig::default()).await;
}

#[tokio::test]
async fn sandbox_has_no_escapes() {
    host().check("sandbox.js", SpellConfig::default()).await;
}

#[tokio::test]
async fn a_spell_of_several_files_imports_its_own_modules_and_nothing_outside() {
    host()
        .check("modules/main.js", SpellConfig::default())
        .await;
}

#[tokio::test]
async fn fetch_reaches_granted_hosts_only_and_follows_checked_redirects() {
    let granted = support::web::WebServer::start();
    let refused = support::web::WebServer::start();
    let config = SpellConfig {
        grants: Grants {
            net: vec![
                format!("127.0.0.1:{}", granted.port()),
                format!("localhost:{}", granted.port()),
            ],
            ..Default::default()
        },
        vars: [
            ("granted".to_string(), granted.url("")),
            ("refused".to_string(), refused.url("")),
            (
                "other".to_string(),
                format!("http://localhost:{}", granted.port()),
            ),
        ]
        .into(),
        ..Default::default()
    };
    host().check("fetch.js", config).await;
    assert!(
        refused.hits().is_empty(),
        "nothing reached the server not granted"
    );
    let hits = granted.hits();
    let posted = format!("POST /echo host=127.0.0.1:{}", granted.port());
    assert!(hits.contains(&posted), "{hits:?}");
    // The credential went to its origin and not past the redirect.
    let port = granted.port();
    assert!(
        hits.contains(&format!(
            "GET /redirect host=127.0.0.1:{port} auth=Bearer s3cret"
        )),
        "{hits:?}"
    );
    assert!(
        hits.contains(&format!("GET /echo host=localhost:{port}")),
        "{hits:?}"
    );
}

#[tokio::test]
async fn timers_wait_in_the_host_alongside_llm_calls() {
    host().check("timers.js", SpellConfig::default()).await;
}

#[tokio::test]
async fn promise_all_keeps_llm_calls_in_flight_together() {
    // Each answer takes 400 ms: one after another, the module's 4 + 3 + 2
    // calls would take at least 3.6 s.
    let host = ScriptHost::with_delay(Language::JavaScript, Duration::from_millis(400));
    let started = Instant::now();
    host.check("parallel.js", SpellConfig::default()).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(2400), "took {elapsed:?}");
}

#[tokio::test]
async fn files_work_inside_granted_directories_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    std::fs::write(path.join("in.txt"), "granted text").unwrap();
    let code = format!(
        "export default async () => (await Tool.call('read_file', {{ path: '{}/in.txt' }})).content",
        path.display()
    );
    let config = SpellConfig {
        grants: Grants {
            read: vec![path.clone()],
            ..Default::default()
        },
        ..Default::default()
    };
    let report = host()
        .run("files.js", &code, config, Limits::default())
        .await;
    assert_eq!(report.result.unwrap(), "granted text");
}

#[tokio::test]
async fn promise_all_keeps_tool_calls_running_together() {
    let code = r#"
export default async function run() {
  const url = config.get("url");
  const pages = await Promise.all([1, 2, 3, 4].map(() => Tool.call("http_fetch", { url })));
  for (const page of pages) if (page.text !== "slow") throw new Error(JSON.stringify(page));
  const kind = (promise) => promise.then(() => "no error", (e) => e.kind);
  const denied = await kind(Tool.call("http_fetch", { url: "http://example.invalid/" }));
  if (denied !== "denied") throw new Error(denied);
  const missing = await kind(Tool.call("no_such_tool", {}));
  if (missing !== "not-found") throw new Error(missing);
  // More calls than run at once (64): the rest wait for a slot.
  const sums = await Promise.all(
    Array.from({ length: 70 }, (_, i) => Tool.call("calculator", { expression: `${i + 1} + 1` })),
  );
  if (sums.length !== 70 || sums[0].result !== 2 || sums[69].result !== 71) throw new Error(JSON.stringify(sums));
  return `${pages.length} pages`;
}
"#;
    support::scripts::tool_calls_run_together(Language::JavaScript, "tools.js", code).await;
}

#[tokio::test]
async fn an_uncaught_exception_names_file_line_and_stack() {
    let code = "function inner(o) {\n  return o.missing.field;\n}\n\nexport default async function run() {\n  const v = inner({});\n  return v;\n}\n";
    let message = host().fails("spell.js", code).await.to_string();
    assert!(
        message.contains("TypeError: cannot read property 'field' of undefined"),
        "{message}"
    );
    assert!(message.contains("at inner (spell.js:2"), "{message}");
    assert!(message.contains("at run (spell.js:6"), "{message}");
    assert!(
        !message.contains("spellhost:"),
        "prelude frames are hidden: {message}"
    );
}

#[tokio::test]
async fn an_uncaught_bridge_error_names_the_grant_and_the_line() {
    let code = "export default async function () {\n  await state.shared('team').get('k');\n}\n";
    let report = host()
        .run("spell.js", code, SpellConfig::default(), Limits::default())
        .await;
    assert_eq!(report.denials.len(), 1, "the denial is recorded");
    let message = failure(report).to_string();
    assert!(
        message.contains("denied: shared state namespace `team`"),
        "{message}"
    );
    assert!(message.contains("spell.js:2"), "{message}");
    assert!(message.contains("--allow-state-ns team"), "{message}");
}

#[tokio::test]
async fn a_rejected_llm_call_points_at_the_line_that_made_it() {
    let code = "export default async function () {\n  const a = 1;\n  return await llm.chat({ prompt: 'please fail 401' });\n}\n";
    let message = host().fails("spell.js", code).await.to_string();
    assert!(message.contains("auth: "), "{message}");
    assert!(message.contains("spell.js:3"), "{message}");
}

#[tokio::test]
async fn a_syntax_error_points_to_its_line() {
    let message = host()
        .fails("spell.js", "const a = 1;\nconst b = ;\n")
        .await
        .to_string();
    assert!(message.contains("SyntaxError"), "{message}");
    assert!(message.contains("spell.js:2"), "{message}");
}

#[tokio::test]
async fn a_promise_nothing_settles_is_an_error_not_a_hang() {
    let message = host()
        .fails("spell.js", "export default () => new Promise(() => {});")
        .await
        .to_string();
    assert!(
        message.contains("awaits a promise that nothing will settle"),
        "{message}"
    );
}

#[tokio::test]
async fn deep_recursion_is_a_clear_error_and_the_next_run_is_fresh() {
    let host = host();
    // Realistic depths work (both the wasm stack and QuickJS's C stack in
    // linear memory are sized for it)...
    let deep_enough =
        "function f(n) { return n === 0 ? 0 : 1 + f(n - 1); }\nexport default () => f(10000);";
    let report = host
        .run(
            "deep.js",
            deep_enough,
            SpellConfig::default(),
            Limits::default(),
        )
        .await;
    assert_eq!(report.result.unwrap(), "10000");
    // ...and runaway recursion is a clear error.
    let code = "function f(n) { return f(n + 1) + 1; }\nexport default () => f(0);";
    let message = failure(
        host.run("deep.js", code, SpellConfig::default(), Limits::default())
            .await,
    )
    .to_string();
    assert!(message.contains("stack"), "{message}");
    assert!(
        matches!(
            failure(
                host.run("deep.js", code, SpellConfig::default(), Limits::default())
                    .await
            ),
            RunError::Limit(spellhost::limits::LimitExceeded::Stack)
        ),
        "a stack overflow is the stack limit"
    );
    // A new instance answers normally after the trap.
    let report = host
        .run(
            "ok.js",
            "export default () => 'fine';",
            SpellConfig::default(),
            Limits::default(),
        )
        .await;
    assert_eq!(report.result.unwrap(), "fine");
}

#[tokio::test]
async fn held_handles_stop_at_the_handle_limit() {
    support::scripts::handle_leaks_stop_at_the_handle_limit(
        Language::JavaScript,
        "export default () => { for (let i = 0; i < 1000; i++) setTimeout(() => {}, 1e7); return 'held 1000'; };",
    )
    .await;
}

#[tokio::test]
async fn log_and_event_floods_stop_at_their_limits() {
    support::scripts::floods_stop_at_the_log_and_event_limits(
        Language::JavaScript,
        "export default () => { const line = 'x'.repeat(10240); \
         for (let i = 0; i < 1000; i++) console.log(line); return 'logged 1000'; };",
        "import { events } from 'spellhost';\nexport default async () => { for (let i = 0; i < 5000; i++) { \
         try { await events.emit('flood.tick', { i }); } catch (e) { return `sent ${i}, then: ${e.kind}: ${e.message}`; } } \
         return 'sent 5000'; };",
    )
    .await;
}

#[tokio::test]
async fn runaway_code_hits_fuel_deadline_and_memory_limits() {
    support::scripts::runaway_code_hits_every_limit(
        Language::JavaScript,
        "export default () => { for (;;) {} };",
        "export default () => { const a = []; for (;;) a.push('x'.repeat(1024) + a.length); };",
    )
    .await;
}

#[tokio::test]
async fn entry_points_and_outputs() {
    let host = host();
    for (code, want) in [
        ("export default async (input) => 'got ' + input", "got "),
        (
            "export async function run() { return { a: 1, b: [1, 2] }; }",
            r#"{"a":1,"b":[1,2]}"#,
        ),
        ("export default 42;", "42"),
        ("export default () => undefined;", ""),
        (
            "const x = await Promise.resolve('top-level await'); export default x;",
            "top-level await",
        ),
        (
            "#!/usr/bin/env node\nexport default () => 'after shebang';",
            "after shebang",
        ),
        (
            "import { llm } from 'spellhost';\nexport default async () => llm.ask('imported');",
            "echo: imported",
        ),
    ] {
        let report = host
            .run(
                "values.mjs",
                code,
                SpellConfig::default(),
                Limits::default(),
            )
            .await;
        assert_eq!(report.result.unwrap(), want, "{code}");
    }
}

#[tokio::test]
async fn a_module_without_an_entry_is_an_error() {
    let message = host().fails("spell.js", "const x = 1;").await.to_string();
    assert!(
        message.contains("exports neither `default` nor `run`"),
        "{message}"
    );
}

#[tokio::test]
async fn errors_in_anonymous_callbacks_keep_their_lines() {
    let code = "export default async () => {\n  const xs = await Promise.all([1, 2].map(async (n) => {\n    if (n === 2) null.boom;\n    return n;\n  }));\n  return xs;\n};\n";
    let message = host().fails("spell.js", code).await.to_string();
    assert!(message.contains("spell.js:3"), "{message}");
}

#[tokio::test]
async fn an_unhandled_rejection_fails_the_run_even_if_the_spell_returns() {
    // The run ends when the spell's promise settles; the sleep lets the
    // forgotten call fail first.
    let code = "export default async function () {\n  llm.chat({ prompt: 'please fail 401' });\n  await sleep(300);\n  return 'done';\n}\n";
    let message = host().fails("spell.js", code).await.to_string();
    assert!(
        message.contains("unhandled promise rejection: auth: "),
        "{message}"
    );
    assert!(message.contains("spell.js:2"), "{message}");
}

#[tokio::test]
async fn a_workflow_runs_script_spells_as_steps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    std::fs::write(
        path.join("child.lua"),
        "local input = ...\nreturn 'lua child got ' .. input",
    )
    .unwrap();
    std::fs::write(
        path.join("child.js"),
        "export default (input) => 'js child got ' + input;",
    )
    .unwrap();
    let code = format!(
        "export default async () => {{\n  const r = await workflow.run({{ parallel: [\n    {{ spell: {{ path: '{dir}/child.lua', input: 'a' }} }},\n    {{ spell: {{ path: '{dir}/child.js', input: 'b' }} }},\n  ] }});\n  return r.output.join(' / ');\n}};",
        dir = path.display()
    );
    let config = SpellConfig {
        grants: Grants {
            read: vec![path.clone()],
            ..Default::default()
        },
        ..Default::default()
    };
    let report = host()
        .run("parent.js", &code, config, Limits::default())
        .await;
    assert_eq!(report.result.unwrap(), "lua child got a / js child got b");
}
