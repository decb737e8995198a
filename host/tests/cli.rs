//! CLI tests: run the `spellhost` binary and check stdout, stderr and the
//! exit code a user or a script would see.

#[path = "cli/authoring.rs"]
mod authoring;
#[path = "cli/repl.rs"]
mod repl;
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::fake_llm::FakeLlm;
use support::guest;

fn spellhost(home: &Path) -> Command {
    support::spellhost_command(home)
}

fn run(home: &Path, args: &[&str]) -> Output {
    spellhost(home)
        .args(args)
        .output()
        .expect("running spellhost")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn guest_arg(name: &str) -> String {
    guest(name).display().to_string()
}

#[test]
fn run_prints_the_output_on_stdout_and_exits_zero() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["run", &guest_arg("echo"), "--input", "hi there"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi there\n");
}

#[test]
fn input_can_come_from_a_file_or_stdin() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("in.txt"), "from a file\n").unwrap();
    let out = run(
        home.path(),
        &["run", &guest_arg("echo"), "--input-file", "in.txt"],
    );
    assert_eq!(text(&out.stdout), "from a file\n");

    use std::io::Write as _;
    let mut child = spellhost(home.path())
        .args(["run", &guest_arg("echo"), "--input-file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "from stdin\n");
}

#[test]
fn each_failure_has_its_own_exit_code_and_message() {
    let home = tempfile::tempdir().unwrap();
    let not_wasm = home.path().join("notes.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let cases: [(&[&str], i32, &str); 8] = [
        (&["run", &guest_arg("fails")], 1, "deliberate failure"),
        (
            &["run", &guest_arg("echo"), "--memory", "lots"],
            2,
            "not a size",
        ),
        (&["run", not_wasm.to_str().unwrap()], 3, "not WebAssembly"),
        (
            &["run", &guest_arg("imports_unknown_interface")],
            3,
            "test:unknown/raw-socket",
        ),
        (&["run", &guest_arg("panics")], 4, "the spell crashed"),
        (
            &[
                "run",
                &guest_arg("limits_infinite_loop"),
                "--fuel",
                "1_000_000",
            ],
            10,
            "--fuel 10000000",
        ),
        (
            &["run", &guest_arg("limits_memory_bomb"), "--memory", "16MiB"],
            11,
            "--memory 64MiB",
        ),
        (
            &[
                "run",
                &guest_arg("limits_wait_in_host"),
                "--timeout",
                "200ms",
            ],
            12,
            "--timeout 800ms",
        ),
    ];
    for (args, code, message) in cases {
        let out = run(home.path(), args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.contains(message),
            "{args:?}: expected {message:?} in {stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing on stdout on failure"
        );
    }
    let out = run(home.path(), &["run", "missing.wasm"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(text(&out.stderr).contains("reading spell missing.wasm"));
}

#[test]
fn state_survives_between_processes() {
    let home = tempfile::tempdir().unwrap();
    let counter = guest_arg("state_counter");
    for expected in ["1\n", "2\n", "3\n"] {
        let out = run(home.path(), &["run", &counter]);
        assert_eq!(text(&out.stdout), expected, "{}", text(&out.stderr));
    }
    assert!(home.path().join("data/state.sqlite3").exists());
}

/// `state du` shows what a spell's namespace holds; a quota smaller than
/// that refuses the spell's next write with `quota-exceeded`.
#[test]
fn state_du_shows_usage_and_a_quota_refuses_growth() {
    let home = tempfile::tempdir().unwrap();
    let counter = guest_arg("state_counter");
    let out = run(home.path(), &["run", &counter]);
    assert_eq!(text(&out.stdout), "1\n", "{}", text(&out.stderr));
    let out = run(home.path(), &["state", "du", "--json", "spell/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let usage: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(usage[0]["namespace"], "spell/state_counter", "{usage}");
    assert_eq!(usage[0]["keys"], 1, "{usage}");
    let out = run(home.path(), &["state", "du"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("spell/state_counter") && table.contains("64MiB"),
        "{table}"
    );

    let out = run(home.path(), &["run", &counter, "--state-keys", "0"]);
    // A replaced value adds no key: the counter still counts.
    assert_eq!(text(&out.stdout), "2\n", "{}", text(&out.stderr));
    let fresh = tempfile::tempdir().unwrap();
    let out = run(fresh.path(), &["run", &counter, "--state-quota", "4"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("state quota exceeded") && stderr.contains("--state-quota"),
        "{stderr}"
    );
}

#[test]
fn events_are_printed_as_json_lines() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["run", &guest_arg("events_roundtrip"), "--events"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let topics: Vec<&str> = events
        .iter()
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics.first(), Some(&"spellhost.run.started"));
    assert_eq!(topics.last(), Some(&"spellhost.run.finished"));
    assert_eq!(topics.iter().filter(|t| **t == "roundtrip.tick").count(), 3);
    let tick = events
        .iter()
        .find(|e| e["topic"] == "roundtrip.tick")
        .unwrap();
    assert_eq!(tick["payload"], serde_json::json!({ "n": 0 }));
    assert_eq!(tick["source"], "spell:events_roundtrip");
}

#[test]
fn stats_show_the_second_run_loads_from_the_cache() {
    let home = tempfile::tempdir().unwrap();
    // A private cache directory, so the first run surely compiles.
    let stats = |home: &Path| {
        let out = spellhost(home)
            .env("SPELLHOST_CACHE_DIR", home.join("cache"))
            .args(["run", &guest_arg("echo"), "--stats"])
            .output()
            .unwrap();
        let line = text(&out.stderr)
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap()
            .to_owned();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    assert_eq!(stats(home.path())["compile"], "compiled");
    assert_eq!(stats(home.path())["compile"], "cache");
}

#[test]
fn hello_answers_through_an_openai_compatible_server() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let out = spellhost(home.path())
        .env("OPENAI_BASE_URL", fake.base_url())
        .env("OPENAI_API_KEY", "sk-from-env")
        .args([
            "run",
            &guest_arg("hello"),
            "--model",
            "openai/gpt-test",
            "--input",
            "Say hi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "echo: Say hi\n");
    let request = &fake.requests()[0];
    assert_eq!(request.body["model"], "gpt-test");
    assert_eq!(request.credential.as_deref(), Some("Bearer sk-from-env"));
}

/// The README's example: hello with `--model openai/gpt-4o-mini --stats`,
/// no `[prices]` and no `max_tokens`: the fake refuses what the real API
/// refuses, and the cost comes from the model catalog.
#[test]
fn hello_on_gpt_4o_mini_sends_a_valid_request_and_reports_a_cost() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    let out = spellhost(home.path())
        .env("OPENAI_BASE_URL", fake.base_url())
        .env("OPENAI_API_KEY", "sk-test")
        .args([
            "run",
            &guest_arg("hello"),
            "--model",
            "openai/gpt-4o-mini",
            "--stats",
            "--input",
            "Say hi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = &fake.requests()[0].body;
    assert!(
        body.get("max_tokens").is_none() && body.get("max_completion_tokens").is_none(),
        "{body}"
    );
    let stderr = text(&out.stderr);
    let stats: serde_json::Value = serde_json::from_str(
        stderr
            .lines()
            .find(|l| l.starts_with('{'))
            .expect("stats on stderr"),
    )
    .unwrap();
    // 11 input and 5 output tokens at $0.15 and $0.60 per million.
    let cost = stats["llm"]["cost_usd"].as_f64().unwrap();
    assert!((cost - 4.65e-6).abs() < 1e-12, "{stats}");
    assert_eq!(
        stats["llm"]["per_call"][0]["cost_usd"],
        stats["llm"]["cost_usd"]
    );
}

/// A `[providers.openai]` table (another base URL, say) still speaks to
/// OpenAI: the output limit goes in `max_completion_tokens`.
#[test]
fn an_openai_table_in_the_config_keeps_max_completion_tokens() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("spellhost.toml"),
        format!(
            "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let out = run(
        home.path(),
        &[
            "run",
            &guest_arg("llm_chat"),
            "--model",
            "openai/gpt-5",
            "--var",
            "max_tokens=100",
            "--input",
            "hi",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = &fake.requests()[0].body;
    assert_eq!(body["max_completion_tokens"], 100, "{body}");
    assert!(
        text(&out.stderr).contains("does not accept `temperature`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn models_info_shows_a_catalog_entry_and_config_overrides() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["models", "info", "openai/gpt-4o-mini"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "context window:    128000 tokens",
        "max output:        16384 tokens",
        "input 0.15 · output 0.6",
        "vision:            yes",
        "sends no output limit",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
    let out = run(
        home.path(),
        &["models", "info", "anthropic/claude-sonnet-4-5"],
    );
    assert!(
        text(&out.stdout).contains("sends an output limit of 64000 tokens"),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(
        home.path().join("spellhost.toml"),
        "[aliases]\nmine = \"lab/qwen\"\n[providers.lab]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n[models.\"lab/qwen\"]\nmax_output_tokens = 8192\nprice = { input = 0.1, output = 0.3 }\n",
    )
    .unwrap();
    let out = run(home.path(), &["models", "info", "mine", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["id"], "lab/qwen");
    assert_eq!(info["entry"]["max_output_tokens"], 8192);
    assert_eq!(info["from"], serde_json::json!(["spellhost.toml"]));
    let out = run(home.path(), &["models", "info", "openai/gpt-4o-mni"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not in the model catalog")
            && stderr.contains("[models.\"openai/gpt-4o-mni\"]"),
        "{stderr}"
    );
}

#[test]
fn models_refresh_replaces_the_catalog_and_refuses_what_is_not_a_list() {
    let home = tempfile::tempdir().unwrap();
    let list = home.path().join("list.json");
    std::fs::write(
        &list,
        r#"{"gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "max_output_tokens": 777, "max_input_tokens": 1000}}"#,
    )
    .unwrap();
    let out = run(home.path(), &["models", "refresh", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("imported 1 models"),
        "{}",
        text(&out.stderr)
    );
    let out = run(home.path(), &["models", "info", "openai/gpt-4o-mini"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("777 tokens") && stdout.contains("refreshed catalog"),
        "{stdout}"
    );
    std::fs::write(&list, "[]").unwrap();
    let out = run(home.path(), &["models", "refresh", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("not a LiteLLM model list"),
        "{}",
        text(&out.stderr)
    );
    let out = run(home.path(), &["models", "info", "openai/gpt-4o-mini"]);
    assert!(
        text(&out.stdout).contains("777 tokens"),
        "a failed refresh keeps the last catalog"
    );
}

#[test]
fn providers_and_aliases_come_from_spellhost_toml() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("spellhost.toml"),
        format!(
            "default_model = \"smart\"\n[providers.lab]\nkind = \"openai\"\nbase_url = \"{}\"\n[aliases]\nsmart = \"lab/big-model\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let out = run(
        home.path(),
        &["run", &guest_arg("hello"), "--input", "from config"],
    );
    assert_eq!(
        text(&out.stdout),
        "echo: from config\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fake.requests()[0].body["model"], "big-model");
    assert_eq!(fake.requests()[0].credential, None);
}

#[test]
fn no_model_configured_says_how_to_configure_one() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["run", &guest_arg("hello")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--model provider/model"),
        "{}",
        text(&out.stderr)
    );
}

/// A hosted model without its key, or a provider whose base URL is not a
/// URL, fails with what to set — before anything is sent. The lab's
/// address is unroutable: had the host tried the network, the error would
/// be a connection timeout, not the missing key.
#[test]
fn provider_mistakes_are_reported_before_the_network_is_touched() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("spellhost.toml"),
        "[providers.lab]\nkind = \"anthropic\"\nbase_url = \"http://10.255.255.1/v1\"\napi_key_env = \"LAB_KEY\"\n\
         [providers.typo]\nkind = \"openai\"\nbase_url = \"localhost:8080/v1\"\n",
    )
    .unwrap();
    let cases = [
        ("openai/gpt-4o-mini", "$OPENAI_API_KEY is not set"),
        ("lab/claude", "$LAB_KEY is not set"),
        ("typo/x", "must be an http:// or https:// URL"),
    ];
    for (model, expected) in cases {
        let started = std::time::Instant::now();
        let out = spellhost(home.path())
            .env_remove("LAB_KEY")
            .args(["run", &guest_arg("hello"), "--model", model])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{model}: {stderr}");
        assert!(stderr.contains(expected), "{model}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(30), "{model}");
    }
}

#[test]
fn inspect_lists_imports_and_bridges() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["inspect", &guest_arg("hello")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("runnable spell"), "{stdout}");
    assert!(stdout.contains("bridges: llm"), "{stdout}");
    assert!(stdout.contains("spellhost:spell/llm@0.1.0"), "{stdout}");
    assert!(stdout.contains("run (function)"), "{stdout}");

    let out = run(
        home.path(),
        &["inspect", &guest_arg("imports_unknown_interface"), "--json"],
    );
    assert_eq!(out.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["runnable"], false);
    assert!(
        json["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "unknown")
    );

    let out = run(home.path(), &["inspect", &guest_arg("wordtool")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tool plugin (load it with --tool)"));
    let out = run(
        home.path(),
        &["inspect", &guest_arg("hook_guard"), "--json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "hook-plugin");
    assert_eq!(json["runnable"], true);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `spellhost inspect x.wasm | head -1`: the pipe closes before the
    // output is written.
    let home = tempfile::tempdir().unwrap();
    let mut child = spellhost(home.path())
        .args(["inspect", &guest_arg("hello")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn inspect_describes_script_spells_by_their_interpreter() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["inspect", &example("hello.lua")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("script spell (its code is checked when it runs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Lua script, run by spellhost's built-in Lua interpreter"),
        "{stdout}"
    );
    assert!(stdout.contains("spellhost:spell/tool@0.1.0"), "{stdout}");

    let out = run(home.path(), &["inspect", &example("hello.js"), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["script"]["language"], "JavaScript");
    assert_eq!(json["kind"], "spell");
}

#[test]
fn help_teaches_flags_examples_and_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Examples:"));
    let out = run(home.path(), &["run", "--help"]);
    let help = text(&out.stdout);
    for flag in [
        "--fuel",
        "--memory",
        "--timeout",
        "--model",
        "--allow-model",
        "--events",
        "Exit codes:",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}");
    }
}

#[test]
fn manifest_requests_are_shown_and_granted_only_when_approved() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("data")).unwrap();
    std::fs::write(root.join("data/note.txt"), "noted").unwrap();
    std::fs::copy(guest("hostile_fs_read"), root.join("reader.wasm")).unwrap();
    std::fs::write(
        root.join("reader.spell.toml"),
        "[spell]\nname = \"reader\"\ndescription = \"reads notes\"\n[requests]\nread = [\"data\"]\n",
    )
    .unwrap();
    let note = root.join("data/note.txt");
    let note = note.to_str().unwrap();

    let out = run(&root, &["inspect", "reader.wasm"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "asks for: --allow-read {}",
            root.join("data").display()
        )),
        "{stdout}"
    );

    let out = run(&root, &["run", "reader.wasm", "--input", note]);
    assert!(
        text(&out.stdout).starts_with("blocked"),
        "a request is not a grant"
    );
    assert!(
        text(&out.stderr).contains("manifest asks for --allow-read"),
        "{}",
        text(&out.stderr)
    );

    let out = run(
        &root,
        &["run", "reader.wasm", "--input", note, "--grant-requested"],
    );
    assert_eq!(text(&out.stdout), "READ: noted\n", "{}", text(&out.stderr));

    std::fs::write(
        root.join("policy.toml"),
        "[spells.reader]\ngrant_requested = true\n",
    )
    .unwrap();
    let out = run(
        &root,
        &[
            "run",
            "reader.wasm",
            "--input",
            note,
            "--policy",
            "policy.toml",
        ],
    );
    assert_eq!(text(&out.stdout), "READ: noted\n", "{}", text(&out.stderr));
}

#[test]
fn the_audit_log_records_uses_and_denials() {
    let home = tempfile::tempdir().unwrap();
    let audit = home.path().join("audit.jsonl");
    let audit_arg = audit.to_str().unwrap();
    run(
        home.path(),
        &[
            "run",
            &guest_arg("state_shared"),
            "--input",
            "x",
            "--audit",
            audit_arg,
        ],
    );
    run(
        home.path(),
        &[
            "run",
            &guest_arg("state_shared"),
            "--input",
            "x",
            "--audit",
            audit_arg,
            "--allow-state-ns",
            "team",
        ],
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["capability"], "state");
    assert_eq!(lines[0]["target"], "shared/team");
    assert_eq!(lines[0]["allowed"], false);
    assert!(
        lines[0]["detail"]
            .as_str()
            .unwrap()
            .contains("--allow-state-ns team")
    );
    assert_eq!(lines[1]["allowed"], true);
    assert_eq!(lines[1]["spell"], "state_shared");
    let run_ids: Vec<&str> = lines
        .iter()
        .map(|l| l["run_id"].as_str().expect("run_id"))
        .collect();
    assert_ne!(run_ids[0], run_ids[1], "each record names its own run");
}

#[test]
fn api_keys_never_reach_the_spell() {
    let home = tempfile::tempdir().unwrap();
    let out = spellhost(home.path())
        .env("OPENAI_API_KEY", "sk-must-not-leak")
        .args(["run", &guest_arg("hostile_env"), "--allow-env", "HOME"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\"openai_key\":null"), "{stdout}");
    assert!(!stdout.contains("sk-must-not-leak"), "{stdout}");
}

#[test]
fn network_denials_name_the_flag_and_grants_open_the_host() {
    let home = tempfile::tempdir().unwrap();
    let web = support::web::WebServer::start();
    let port = web.port().to_string();
    let audit = home.path().join("audit.jsonl");
    let audit_arg = audit.to_str().unwrap();
    let spell = guest_arg("hostile_http_unlisted");
    let denied = run(
        home.path(),
        &["run", &spell, "--input", &port, "--audit", audit_arg],
    );
    assert_eq!(denied.status.code(), Some(0), "{}", text(&denied.stderr));
    assert!(text(&denied.stdout).starts_with("blocked"));
    let expected = format!(
        "denied: network access to localhost:{port} is not granted; allow it with --allow-net localhost:{port}"
    );
    assert!(
        text(&denied.stderr).contains(&expected),
        "{}",
        text(&denied.stderr)
    );
    assert!(web.hits().is_empty());

    let grant = format!("localhost:{port}");
    let allowed = run(
        home.path(),
        &[
            "run",
            &spell,
            "--input",
            &port,
            "--audit",
            audit_arg,
            "--allow-net",
            &grant,
        ],
    );
    assert_eq!(
        text(&allowed.stdout),
        format!("READ 200: hello from {port}\n")
    );
    assert!(!text(&allowed.stderr).contains("denied"));

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let net: Vec<_> = lines.iter().filter(|l| l["capability"] == "net").collect();
    assert_eq!(net.len(), 2, "{lines:?}");
    assert_eq!(net[0]["allowed"], false);
    assert_eq!(net[1]["allowed"], true);
    assert_eq!(net[1]["target"], format!("GET http://localhost:{port}/"));

    let bad = run(
        home.path(),
        &["run", &spell, "--allow-net", "http://x.test/"],
    );
    assert_eq!(bad.status.code(), Some(2), "a URL is not a grant");
    assert!(text(&bad.stderr).contains("give a host, not a URL"));
}

#[test]
fn pinned_names_resolving_to_loopback_are_denied_with_the_address_flag() {
    let home = tempfile::tempdir().unwrap();
    let web = support::web::WebServer::start();
    let port = web.port().to_string();
    let config = home.path().join("spellhost.toml");
    std::fs::write(&config, "[net.hosts]\n\"rebind.test\" = [\"127.0.0.1\"]\n").unwrap();
    let out = run(
        home.path(),
        &[
            "run",
            &guest_arg("hostile_http_rebind"),
            "--config",
            config.to_str().unwrap(),
            "--input",
            &port,
            "--allow-net",
            &format!("rebind.test:{port}"),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "denied: rebind.test resolves to 127.0.0.1, a loopback address, which a name grant does not open; allow it with --allow-net 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(web.hits().is_empty());
}

/// A home whose `spellhost.toml` makes the fake server the default model.
fn fake_home(fake: &FakeLlm) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("spellhost.toml"),
        format!(
            "default_model = \"fake/m\"\n[providers.fake]\nkind = \"openai\"\nbase_url = \"{}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    home
}

#[test]
fn tool_and_hook_plugins_load_from_the_command_line() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    let spec = serde_json::json!({
        "prompt": r#"agent: call word_stats {"text":"x y z"}; say {tools}"#,
        "tools": ["word_stats"],
    });
    let out = run(
        home.path(),
        &[
            "run",
            &guest_arg("agent_run"),
            "--tool",
            &guest_arg("wordtool"),
            "--input",
            &spec.to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["answer"].as_str().unwrap().contains(r#""words":3"#),
        "{report}"
    );

    let out = run(
        home.path(),
        &[
            "run",
            &guest_arg("hello"),
            "--hook",
            &guest_arg("hook_guard"),
            "--input",
            "psst",
        ],
    );
    assert_eq!(text(&out.stdout), "ECHO: PSST\n", "{}", text(&out.stderr));

    let out = run(
        home.path(),
        &[
            "run",
            &guest_arg("hello"),
            "--tool",
            &guest_arg("echo"),
            "--input",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "a spell is not a tool plugin");
    assert!(
        text(&out.stderr).contains("not a tool plugin"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_example_agent_and_workflow_spells_run_end_to_end() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    let research = run(
        home.path(),
        &[
            "run",
            &guest_arg("research"),
            "--events",
            "--input",
            r#"agent: call calculator {"expression":"0.17 * 2340"}; say 17% of 2340 is {tools}"#,
        ],
    );
    assert_eq!(
        research.status.code(),
        Some(0),
        "{}",
        text(&research.stderr)
    );
    assert!(
        text(&research.stdout).contains("397.8"),
        "{}",
        text(&research.stdout)
    );
    assert!(text(&research.stderr).contains("spellhost.agent.step"));

    let long_text = (1..=5)
        .map(|i| format!("Paragraph {i} {}", "word ".repeat(100)))
        .collect::<Vec<_>>()
        .join("\n\n");
    let before = fake.requests().len();
    let mapreduce = run(
        home.path(),
        &["run", &guest_arg("mapreduce"), "--input", &long_text],
    );
    assert_eq!(
        mapreduce.status.code(),
        Some(0),
        "{}",
        text(&mapreduce.stderr)
    );
    assert!(text(&mapreduce.stdout).starts_with("echo: Combine these summaries"));
    assert_eq!(
        fake.requests().len() - before,
        5 + 1,
        "one call per chunk, then one to reduce"
    );

    let router = run(
        home.path(),
        &["run", &guest_arg("router"), "--input", "hello there"],
    );
    assert_eq!(router.status.code(), Some(0), "{}", text(&router.stderr));
    let routed = text(&router.stdout);
    assert!(
        routed.starts_with("[echo: Classify") && routed.contains("Answer briefly: hello there"),
        "{routed}"
    );
}

fn example(file: &str) -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spells")
        .join(file)
        .display()
        .to_string()
}

#[test]
fn the_lua_and_js_examples_run_end_to_end() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    for hello in ["hello.lua", "hello.js"] {
        let out = run(home.path(), &["run", &example(hello), "--input", "Say hi"]);
        assert_eq!(out.status.code(), Some(0), "{hello}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "echo: Say hi\n", "{hello}");
        assert!(
            text(&out.stderr).contains("answered by fake/m"),
            "{hello}: {}",
            text(&out.stderr)
        );
    }
    for agent in ["agent.lua", "agent.js"] {
        let out = run(
            home.path(),
            &[
                "run",
                &example(agent),
                "--input",
                r#"agent: call word_stats {"text":"the quick brown fox"} & call calculator {"expression":"4*12"}; say {tools}"#,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{agent}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(r#""words":4"#)
                && stdout.contains(r#""characters":19"#)
                && stdout.contains("48"),
            "{agent}: {stdout}"
        );
        assert!(
            text(&out.stderr).contains("word_stats("),
            "{agent}: the steps are logged"
        );
    }
    for fanout in ["fanout.lua", "fanout.js"] {
        let before = fake.requests().len();
        let out = run(
            home.path(),
            &["run", &example(fanout), "--events", "--input", "a, b, c"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{fanout}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            fake.requests().len() - before,
            3 + 1,
            "{fanout}: one call per topic, then one to merge"
        );
        assert!(
            text(&out.stdout).contains("- b: echo: In one sentence, what is b?"),
            "{fanout}"
        );
        assert_eq!(
            text(&out.stderr).matches("\"fanout.note\"").count(),
            3,
            "{fanout}"
        );
    }
}

#[test]
fn script_errors_and_denials_reach_the_cli_with_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let lua = home.path().join("broken.lua");
    std::fs::write(
        &lua,
        "local x = 1\nlocal v = State.shared('team').get('k')\nreturn v\n",
    )
    .unwrap();
    let out = run(home.path(), &["run", lua.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.lua:2: denied: shared state namespace `team`"),
        "{stderr}"
    );
    assert!(stderr.contains("denied: shared state namespace `team` is not granted to this spell; allow it with --allow-state-ns team"), "{stderr}");

    let granted = run(
        home.path(),
        &["run", lua.to_str().unwrap(), "--allow-state-ns", "team"],
    );
    assert_eq!(granted.status.code(), Some(0), "{}", text(&granted.stderr));

    let js = home.path().join("broken.mjs");
    std::fs::write(&js, "export default () => {\n  null.x;\n};\n").unwrap();
    let out = run(home.path(), &["run", js.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("TypeError: cannot read property 'x' of null\n    at default (broken.mjs:2"),
        "{}",
        text(&out.stderr)
    );

    // A shebang picks the language of a file without an extension.
    let script = home.path().join("tool");
    std::fs::write(
        &script,
        "#!/usr/bin/env lua\nreturn 'lua by shebang ' .. _VERSION\n",
    )
    .unwrap();
    let out = run(home.path(), &["run", script.to_str().unwrap()]);
    assert_eq!(
        text(&out.stdout),
        "lua by shebang Lua 5.4\n",
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn output_json_is_one_object_with_output_error_stats_and_denials() {
    let home = tempfile::tempdir().unwrap();
    let json = |args: &[&str]| {
        let out = run(home.path(), args);
        let stdout = text(&out.stdout);
        let value: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
        (out.status.code(), value)
    };
    let script = |name: &str, code: &str| {
        let path = home.path().join(name);
        std::fs::write(&path, code).unwrap();
        path.display().to_string()
    };

    let ok = script("ok.lua", "return { a = 1 }");
    let (code, value) = json(&["run", &ok, "--output", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(value["output"], r#"{"a":1}"#);
    assert!(value["error"].is_null());
    assert!(value["stats"]["fuel_consumed"].is_u64(), "{value}");
    assert_eq!(value["denied"], serde_json::json!([]));

    let denied = script("denied.lua", "return State.shared('team').get('k')");
    let (code, value) = json(&["run", &denied, "--output", "json"]);
    assert_eq!(code, Some(1));
    assert!(value["output"].is_null());
    assert_eq!(value["error"]["kind"], "failed");
    assert_eq!(value["error"]["exit_code"], 1);
    let refusal = &value["denied"][0];
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("--allow-state-ns team"),
        "{value}"
    );
    assert!(refusal["grant"].is_object(), "{value}");

    let spin = script("spin.lua", "while true do end");
    let (code, value) = json(&["run", &spin, "--fuel", "1000000", "--output", "json"]);
    assert_eq!(code, Some(10));
    assert_eq!(value["error"]["kind"], "limit");
    assert_eq!(value["error"]["limit"], "fuel");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--fuel"),
        "{value}"
    );

    let not_a_spell = script("notes.wasm", "just text");
    let (code, value) = json(&["run", &not_a_spell, "--output", "json"]);
    assert_eq!(code, Some(3));
    assert_eq!(value["error"]["kind"], "not-a-spell");
    assert!(value["stats"].is_null());
}

#[test]
fn printed_output_comes_first_and_multi_file_spells_load_their_own_modules() {
    let home = tempfile::tempdir().unwrap();
    let app = home.path().join("app");
    std::fs::create_dir_all(app.join("lib")).unwrap();
    let write = |path: &str, code: &[u8]| std::fs::write(app.join(path), code).unwrap();
    // Three Lua files; a string literal holds a byte that is not UTF-8.
    write(
        "main.lua",
        b"local fmt = require('lib.fmt')\nprint('hello from', fmt.name())\nio.write('partial')\nreturn fmt.shout(...)\n",
    );
    write(
        "lib/fmt.lua",
        b"local words = require('lib.words')\nreturn { name = function() return words.lua end, shout = function(s) return s:upper() .. '!' end }\n",
    );
    write("lib/words.lua", b"return { lua = 'lua', raw = '\xff' }\n");
    let main = app.join("main.lua");
    let out = run(
        home.path(),
        &["run", main.to_str().unwrap(), "--input", "done"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello from\tlua\npartial\nDONE!\n");

    // With --output json, stdout is the JSON alone; printing goes to stderr.
    let out = run(
        home.path(),
        &[
            "run",
            main.to_str().unwrap(),
            "--input",
            "x",
            "--output",
            "json",
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(value["output"], "X!");
    assert!(text(&out.stderr).contains("hello from\tlua\npartial"));

    // A spell that only prints shows only what it printed.
    write("quiet.lua", b"print('just this')\n");
    let out = run(
        home.path(),
        &["run", app.join("quiet.lua").to_str().unwrap()],
    );
    assert_eq!(text(&out.stdout), "just this\n");

    // Three JavaScript files; console.error goes to stderr.
    write(
        "main.mjs",
        b"import { shout } from './lib/shout.js';\nconsole.log('from js', 1 + 1);\nconsole.error('a warning');\nexport default (input) => shout(input);\n",
    );
    write(
        "lib/shout.js",
        b"import { bang } from './bang.js';\nexport const shout = (s) => s.toUpperCase() + bang;\n",
    );
    write("lib/bang.js", b"export const bang = '!';\n");
    let out = run(
        home.path(),
        &[
            "run",
            app.join("main.mjs").to_str().unwrap(),
            "--input",
            "hey",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from js 2\nHEY!\n");
    assert!(text(&out.stderr).contains("a warning"));

    // Nothing outside the spell's directory, however it is asked for.
    std::fs::write(home.path().join("secret.lua"), "return 'secret'").unwrap();
    std::fs::write(home.path().join("secret.js"), "export default 'secret';").unwrap();
    write(
        "escape.lua",
        b"package.path = '../?.lua;' .. package.path\nreturn require('secret')\n",
    );
    write(
        "escape.mjs",
        b"import s from '../secret.js';\nexport default () => s;\n",
    );
    for escape in ["escape.lua", "escape.mjs"] {
        let out = run(home.path(), &["run", app.join(escape).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{escape}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("../secret") && stderr.contains("outside the spell's directory"),
            "{escape}: {stderr}"
        );
        assert!(!text(&out.stdout).contains("secret"), "{escape}");
    }

    // A JavaScript source must be UTF-8, and says where it is not.
    write("latin1.mjs", b"export default () => '\xe9';\n");
    let out = run(
        home.path(),
        &["run", app.join("latin1.mjs").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("is not UTF-8 text (byte 22)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_finds_syntax_errors_world_mismatches_and_bad_manifests_without_running() {
    let home = tempfile::tempdir().unwrap();
    let write = |name: &str, code: &str| {
        let path = home.path().join(name);
        std::fs::write(&path, code).unwrap();
        path.display().to_string()
    };
    // Nothing runs: a script that would fail or spin passes the check.
    let good = write(
        "good.lua",
        "error('would fail if run')\nwhile true do end\n",
    );
    let broken_lua = write("broken.lua", "local x = 1\nlocal = 2\n");
    write("lib.mjs", "export const x = ;\n");
    let broken_js = write(
        "main.mjs",
        "import { x } from './lib.mjs';\nexport default () => x;\n",
    );
    let bad_manifest = write("bad.spell.toml", "[limits]\nmax_llm_cost = -1\n");
    let not_a_spell = write("notes.wasm", "just text");

    let out = run(home.path(), &["check", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(text(&out.stdout), format!("{good}: ok (lua script)\n"));

    let out = run(
        home.path(),
        &[
            "check",
            &broken_lua,
            &broken_js,
            &bad_manifest,
            &not_a_spell,
            &guest_arg("hello"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("broken.lua:2: syntax error: <name> expected near '='"),
        "{stdout}"
    );
    // The imported module is compiled too, and named with line and column.
    assert!(stdout.contains("lib.mjs:1:18: SyntaxError:"), "{stdout}");
    assert!(stdout.contains("max_llm_cost"), "{stdout}");
    assert!(stdout.contains("notes.wasm: 1 problem(s)"), "{stdout}");
    assert!(stdout.contains("hello.wasm: ok (spell)"), "{stdout}");

    let out = run(home.path(), &["check", &broken_lua, "--output", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value[0]["kind"], "lua script");
    assert_eq!(value[0]["ok"], false);
    assert_eq!(
        value[0]["problems"][0],
        "broken.lua:2: syntax error: <name> expected near '='"
    );
}
