//! Lua spells end to end: scripts from `tests/lua/` run by the shipped Lua
//! interpreter component (`host/prebuilt/lua.wasm`) against a fake
//! OpenAI-compatible server on 127.0.0.1. Each API script checks itself
//! with `assert` and returns "ok"; a failed assertion fails the test with
//! the script's file name, line and traceback.

mod support;

use std::time::{Duration, Instant};

use spellhost::limits::Limits;
use spellhost::policy::Grants;
use spellhost::runtime::{RunReport, SpellConfig};
use spellhost::scripts::Language;
use support::scripts::{ScriptHost, failure};

fn host() -> ScriptHost {
    ScriptHost::new(Language::Lua)
}

fn host_with_delay(delay: Duration) -> ScriptHost {
    ScriptHost::with_delay(Language::Lua, delay)
}

async fn run_code(
    host: &ScriptHost,
    name: &str,
    code: &str,
    config: SpellConfig,
    limits: Limits,
) -> RunReport {
    host.run(name, code, config, limits).await
}

async fn check_script(host: &ScriptHost, name: &str, config: SpellConfig) {
    host.check(name, config).await
}

/// Every Lua script runs on one prepared interpreter component.
#[tokio::test]
async fn scripts_share_the_prepared_interpreter() {
    let host = host();
    let first = host.load("a.lua", "return 'a'", SpellConfig::default());
    let second = host.load("b.lua", "return 'b'", SpellConfig::default());
    assert!(std::sync::Arc::ptr_eq(first.prepared(), second.prepared()));
    assert_eq!(
        second.compile_source,
        spellhost::cache::CompileSource::Memory
    );
    let report = host.runtime.run(&second, "", &Limits::default()).await;
    assert_eq!(report.result.unwrap(), "b");
    assert_eq!(
        report.stats.compile,
        spellhost::cache::CompileSource::Memory
    );
}

#[tokio::test]
async fn conversions_between_lua_and_json_are_faithful_both_ways() {
    check_script(&host(), "conversions.lua", SpellConfig::default()).await;
}

#[tokio::test]
async fn llm_chat_stream_errors_and_models() {
    check_script(&host(), "llm.lua", SpellConfig::default()).await;
}

#[tokio::test]
async fn state_events_config_and_log() {
    let config = SpellConfig {
        vars: [("greeting".to_string(), "hi".to_string())].into(),
        ..Default::default()
    };
    check_script(&host(), "state_events.lua", config).await;
}

#[tokio::test]
async fn agents_tools_hooks_and_workflows() {
    check_script(&host(), "agents.lua", SpellConfig::default()).await;
}

#[tokio::test]
async fn sandbox_removes_escapes_and_confines_files_to_grants() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    let config = SpellConfig {
        vars: [("dir".to_string(), path.display().to_string())].into(),
        grants: Grants {
            read: vec![path.clone()],
            write: vec![path.clone()],
            ..Default::default()
        },
        ..Default::default()
    };
    check_script(&host(), "sandbox.lua", config).await;
    assert_eq!(
        std::fs::read_to_string(path.join("out.txt")).unwrap(),
        "written by lua"
    );
}

#[tokio::test]
async fn a_spell_of_several_files_requires_its_own_modules_and_nothing_outside() {
    check_script(&host(), "modules/main.lua", SpellConfig::default()).await;
}

#[tokio::test]
async fn parallel_llm_calls_are_in_flight_together() {
    // Each answer takes 400 ms. Concurrently, the script's three fan-outs
    // (4 calls; 1 beside a nested 2; 2) take about 1.2 s; one after
    // another its 9 calls would take 3.6 s.
    let host = host_with_delay(Duration::from_millis(400));
    let started = Instant::now();
    check_script(&host, "parallel.lua", SpellConfig::default()).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2400),
        "parallel calls took {elapsed:?}"
    );
}

#[tokio::test]
async fn tool_calls_in_parallel_tasks_run_together() {
    let code = r#"
local url = config.get("url")
local pages = parallel.map({ 1, 2, 3, 4 }, function()
  return Tool.call("http_fetch", { url = url })
end)
for _, page in ipairs(pages) do assert(page.text == "slow", json.encode(page)) end
local ok, err = pcall(Tool.call, "http_fetch", { url = "http://example.invalid/" })
assert(not ok and err.kind == "denied", tostring(err))
local ok2, err2 = pcall(Tool.call, "no_such_tool", {})
assert(not ok2 and err2.kind == "not-found", tostring(err2))
-- More calls than run at once (64): the rest wait for a slot.
local numbers = {}
for i = 1, 70 do numbers[i] = i end
local sums = parallel.map(numbers, function(i)
  return Tool.call("calculator", { expression = i .. " + 1" }).result
end)
assert(#sums == 70 and sums[1] == 2 and sums[70] == 71, json.encode(sums))
return #pages .. " pages"
"#;
    support::scripts::tool_calls_run_together(Language::Lua, "tools.lua", code).await;
}

#[tokio::test]
async fn a_runtime_error_names_file_line_and_traceback() {
    let code = "local function inner(t)\n  return t.missing.field\nend\n\nfunction run(input)\n  local value = inner({})\n  return value\nend\n";
    let err = host().fails("broken.lua", code).await;
    let message = err.to_string();
    assert!(
        message.contains("broken.lua:2: attempt to index a nil value (field 'missing')"),
        "{message}"
    );
    assert!(message.contains("stack traceback:"), "{message}");
    assert!(message.contains("broken.lua:6"), "{message}");
    assert!(
        !message.contains("spellhost:"),
        "prelude frames are hidden: {message}"
    );
}

#[tokio::test]
async fn a_syntax_error_points_to_its_line() {
    let code = "local x = 1\nlocal y = \nreturn (x\n";
    let err = host().fails("syntax.lua", code).await;
    let message = err.to_string();
    assert!(message.contains("syntax error: syntax.lua:3:"), "{message}");
}

#[tokio::test]
async fn an_uncaught_bridge_error_names_the_grant_to_add() {
    let code = "local value = State.shared('team').get('k')\nreturn value";
    let report = run_code(
        &host(),
        "denied.lua",
        code,
        SpellConfig::default(),
        Limits::default(),
    )
    .await;
    assert_eq!(report.denials.len(), 1, "the denial is recorded");
    let message = failure(report).to_string();
    assert!(
        message.contains("denied.lua:1: denied: shared state namespace `team`"),
        "{message}"
    );
    assert!(message.contains("--allow-state-ns team"), "{message}");
}

/// A loop of `State.set` (the attack that wrote 497 MB in 15 s) stops at
/// the state quota with `quota-exceeded`, which the spell can catch; the
/// same loop, bounded, fits under the quota it was given.
#[tokio::test]
async fn filling_state_stops_at_the_quota() {
    let host = host();
    let code = r#"
local big = string.rep("x", 64 * 1024)
for i = 1, 100000 do
  local ok, err = pcall(State.set, "k" .. i, big)
  if not ok then return err.kind .. " after " .. (i - 1) .. ": " .. err.message end
end
return "filled"
"#;
    let limits = Limits {
        state_bytes: 1 << 20,
        ..Limits::default()
    };
    let out = host
        .run("fill.lua", code, SpellConfig::default(), limits.clone())
        .await
        .result
        .unwrap();
    assert!(out.starts_with("quota-exceeded after 15: "), "{out}");
    assert!(out.contains("--state-quota 4MiB"), "{out}");
    let keys_limited = Limits {
        state_keys: 10,
        ..Limits::default()
    };
    let code = "for i = 1, 10 do State.run.set('k' .. i, i) end\n\
                local ok, err = pcall(State.run.set, 'one-more', 1)\n\
                return err.kind";
    let out = host
        .run("keys.lua", code, SpellConfig::default(), keys_limited)
        .await
        .result
        .unwrap();
    assert_eq!(out, "quota-exceeded");
}

/// `json_query` with a filter that doubles its value forty times stops at
/// the jq sandbox's budget, as an error the spell sees, in well under a
/// second; jq as a whole (`def`, `range`) works.
#[tokio::test]
async fn json_query_bombs_stop_at_the_sandbox_budget() {
    let host = host();
    let code = r#"
local filter = "." .. string.rep(" | [., .]", 40)
local started = os.clock()
local ok, err = pcall(Tool.call, "json_query", { input = "x", filter = filter })
assert(not ok, "the bomb returned")
local ok2, err2 = pcall(Tool.call, "json_query", { input = "x", filter = string.rep(".+.|", 40) .. "." })
assert(not ok2, "the string bomb returned")
local sum = Tool.call("json_query", { input = 10, filter = "def f(n): if n > 0 then n + f(n - 1) else 0 end; [f(.), ([range(3)] | add)]" })
return err.message .. " | " .. err2.message .. " | " .. sum[1] .. "," .. sum[2]
"#;
    let started = std::time::Instant::now();
    let out = host
        .run("bomb.lua", code, SpellConfig::default(), Limits::default())
        .await
        .result
        .unwrap();
    assert!(out.contains("larger than"), "{out}");
    assert!(out.contains("memory"), "{out}");
    assert!(out.ends_with("55,3"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn held_handles_stop_at_the_handle_limit() {
    support::scripts::handle_leaks_stop_at_the_handle_limit(
        Language::Lua,
        "local subs = {}\nfor i = 1, 1000 do subs[i] = Event.subscribe('leak.' .. i) end\nreturn 'held ' .. #subs",
    )
    .await;
}

#[tokio::test]
async fn log_and_event_floods_stop_at_their_limits() {
    support::scripts::floods_stop_at_the_log_and_event_limits(
        Language::Lua,
        "local line = string.rep('x', 10240)\nfor i = 1, 1000 do print(line) end\nreturn 'logged 1000'",
        "for i = 1, 5000 do\n  local ok, err = pcall(Event.emit, 'flood.tick', { i = i })\n  \
         if not ok then return 'sent ' .. (i - 1) .. ', then: ' .. tostring(err) end\nend\nreturn 'sent 5000'",
    )
    .await;
}

#[tokio::test]
async fn runaway_code_hits_fuel_deadline_and_memory_limits() {
    support::scripts::runaway_code_hits_every_limit(
        Language::Lua,
        "while true do end",
        "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end",
    )
    .await;
}

#[tokio::test]
async fn the_spell_returns_values_and_run_functions() {
    let host = host();
    for (code, want) in [
        ("return 'text'", "text"),
        ("return {a = 1, b = {1, 2}}", r#"{"a":1,"b":[1,2]}"#),
        ("return 42", "42"),
        ("return nil", ""),
        (
            "function run(input) return 'run got ' .. input end",
            "run got ",
        ),
        (
            "return function(input) return 'returned fn' end",
            "returned fn",
        ),
        (
            "#!/usr/bin/env lua\nreturn 'after shebang'",
            "after shebang",
        ),
    ] {
        let report = run_code(
            &host,
            "values.lua",
            code,
            SpellConfig::default(),
            Limits::default(),
        )
        .await;
        assert_eq!(report.result.unwrap(), want, "{code}");
    }
}

#[tokio::test]
async fn a_result_that_is_not_json_is_an_error_with_its_line() {
    let code = "local t = {}\nreturn { handler = function() end }";
    let err = host().fails("bad_output.lua", code).await;
    let message = err.to_string();
    assert!(
        message.contains("value.handler: a function cannot be converted to JSON"),
        "{message}"
    );
}
