//! Authoring as a user does it: `spellhost new` → edit → `spellhost test`
//! → `spellhost run`, for each language, and recording a test's replies
//! from a real (fake, over HTTP) provider.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{fake_home, run, text};
use crate::support::fake_llm::FakeLlm;

/// `spellhost new NAME --lang LANG [--kind KIND]` in `home`; the project's
/// directory.
fn new_project(home: &Path, name: &str, lang: &str, kind: &str) -> PathBuf {
    let out = run(home, &["new", name, "--lang", lang, "--kind", kind]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("spellhost test"),
        "{}",
        text(&out.stdout)
    );
    home.join(name)
}

/// `spellhost test` in `dir`, with extra arguments.
fn test_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    run(dir, &all)
}

/// A fake model server, a home whose `spellhost.toml` makes it the
/// default model, and that file's path (for `--config`).
fn model_server_home() -> (FakeLlm, tempfile::TempDir, String) {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    let config = home.path().join("spellhost.toml").display().to_string();
    (fake, home, config)
}

/// The command succeeded; else fail with what it printed.
fn passed(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} has no {from:?}:\n{text}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// new → test → edit (a failing test, then the fix) → test → run on a
/// model server, as the README of a new script project says.
fn script_project_round_trip(lang: &str, ext: &str, ask: &str) {
    let (fake, home, config) = model_server_home();
    let dir = new_project(home.path(), "greeter", lang, "spell");
    let source = dir.join(format!("greeter.{ext}"));

    let out = test_in(&dir, &[]);
    passed(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ok    answers with the model's reply"),
        "{stdout}"
    );
    assert!(stdout.contains("2 tests: 2 passed, 0 failed"), "{stdout}");
    assert!(
        fake.requests().is_empty(),
        "a test reached the model server"
    );

    // The edit: the spell shouts; the old test now fails and says why.
    edit(&source, "return reply.text", "return reply.text:upper()");
    if lang == "js" {
        edit(
            &source,
            "return reply.text:upper()",
            "return reply.text.toUpperCase()",
        );
    }
    let junit = home.path().join("junit.xml");
    let out = test_in(&dir, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAIL  answers with the model's reply"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("output: expected \"{ask}\"")),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");

    // The test follows the edit, and passes again.
    edit(
        &dir.join("greeter.test.toml"),
        &format!("output = \"{ask}\""),
        &format!("output = \"{}\"", ask.to_uppercase()),
    );
    let out = test_in(&dir, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 2);

    // And it runs for real, on the configured model.
    let out = run(
        &dir,
        &[
            "run",
            source.to_str().unwrap(),
            "--config",
            &config,
            "--input",
            "hi there",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ECHO: HI THERE\n");
}

#[test]
fn a_new_lua_spell_tests_edits_and_runs() {
    script_project_round_trip("lua", "lua", "Lua is a small, fast scripting language.");
}

#[test]
fn a_new_js_spell_tests_edits_and_runs() {
    script_project_round_trip("js", "js", "JavaScript is the language of the web.");
}

#[test]
fn a_new_rust_spell_and_tool_plugin_build_test_and_run() {
    let (_fake, home, config) = model_server_home();

    let dir = new_project(home.path(), "rusty", "rust", "spell");
    // `spellhost test` builds the component first ([build] in the manifest).
    let out = test_in(&dir, &[]);
    passed(&out);
    assert!(
        text(&out.stderr).contains("building rusty.spell.toml"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("2 tests: 2 passed"),
        "{}",
        text(&out.stdout)
    );
    edit(
        &dir.join("src/lib.rs"),
        "Ok(reply.text)",
        "Ok(format!(\"[{}]\", reply.text))",
    );
    let out = run(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(
        &dir,
        &["run", "rusty.wasm", "--config", &config, "--input", "hello"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "[echo: hello]\n");

    // A tool plugin, tested through the small spell the template gives it.
    let dir = new_project(home.path(), "counter-tool", "rust", "tool");
    let out = test_in(&dir, &[]);
    passed(&out);
    assert!(
        text(&out.stdout).contains("ok    counts words"),
        "{}",
        text(&out.stdout)
    );

    // What cannot be made is refused with what to do instead.
    let out = run(
        home.path(),
        &["new", "x", "--lang", "lua", "--kind", "hook"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--lang rust"),
        "{}",
        text(&out.stderr)
    );
    let out = run(home.path(), &["new", "rusty"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        text(&out.stderr).contains("exists and is not empty"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn record_keeps_a_real_models_answers_and_later_runs_replay_them() {
    let (fake, home, config) = model_server_home();
    std::fs::write(
        home.path().join("ask.lua"),
        "local q = ...\nlocal a = llm.chat { prompt = q, max_tokens = 50 }\n\
         local b = llm.chat { prompt = 'again: ' .. q, max_tokens = 50 }\nreturn a.text .. ' | ' .. b.text\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("ask.test.toml"),
        "[[test]]\nname = \"Two questions\"\ninput = \"hello\"\n\
         [test.expect]\noutput = \"echo: hello | echo: again: hello\"\nmodel_calls = 2\n",
    )
    .unwrap();

    // Without replies or a recording, the test says how to get one.
    let out = test_in(home.path(), &["--config", &config]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("record them with `spellhost test --record`"),
        "{}",
        text(&out.stdout)
    );
    assert!(fake.requests().is_empty());

    let out = test_in(home.path(), &["--config", &config, "--record"]);
    passed(&out);
    assert_eq!(fake.requests().len(), 2);
    let recording = home.path().join("ask.replies/two-questions.json");
    let replies: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&recording).unwrap()).unwrap();
    assert_eq!(replies[0]["text"], "echo: hello");
    assert_eq!(replies[1]["text"], "echo: again: hello");

    // Replayed: the same answers, and the server is not asked again.
    let out = test_in(home.path(), &["--config", &config]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn a_new_python_spell_builds_tests_edits_and_runs() {
    let (_fake, home, config) = model_server_home();
    let dir = new_project(home.path(), "snake", "python", "spell");

    // componentize-py builds it (the test command installs it from PyPI).
    let out = test_in(&dir, &[]);
    passed(&out);
    assert!(
        text(&out.stdout).contains("2 tests: 2 passed"),
        "{}",
        text(&out.stdout)
    );

    edit(
        &dir.join("snake.py"),
        "return reply.text",
        "return reply.text.upper()",
    );
    let out = test_in(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(
            "output: expected \"Python is a language that lets you work quickly.\", got \"PYTHON IS"
        ),
        "{}",
        text(&out.stdout)
    );

    let out = run(
        &dir,
        &[
            "run",
            "snake.wasm",
            "--config",
            &config,
            "--input",
            "hi there",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ECHO: HI THERE\n");
}
