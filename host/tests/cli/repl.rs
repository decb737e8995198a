//! `spellhost repl` over a real process: entries piped on stdin, the model
//! a fake OpenAI-compatible server over HTTP, state in the home's store.

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use super::{fake_home, spellhost, text};
use crate::support::fake_llm::FakeLlm;

/// A piped session: `entries` on stdin, the command's output.
fn session(home: &Path, args: &[&str], entries: &str) -> Output {
    let mut child = spellhost(home)
        .arg("repl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting spellhost repl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(entries.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_lua_session_keeps_its_definitions_and_reaches_the_whole_api() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    std::fs::write(
        home.path().join("util.lua"),
        "return { shout = function(s) return s:upper() .. '!' end }\n",
    )
    .unwrap();
    let entries = "\
greeting = 'hello'
function twice(s)
  return s .. ' ' .. s
end
twice(greeting)
llm.ask('ping')
State.set('seen', { n = 1 })
require('util').shout(greeting)
print('printed as written')
undefined_function()
State.shared('team').get('x')
{ 1, 'two', k = true }
";
    let out = session(home.path(), &[], entries);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        stdout,
        "hello hello\necho: ping\nnil\nHELLO!\nprinted as written\n{ 1, \"two\", k = true }\n",
        "{stderr}"
    );
    // Errors keep their line in the entry; a denial names its grant.
    assert!(
        stderr.contains("stdin:1: attempt to call a nil value (global 'undefined_function')"),
        "{stderr}"
    );
    assert!(
        stderr.contains("denied") && stderr.contains("--allow-state-ns team"),
        "{stderr}"
    );
    // A piped session that had a failing entry exits 1, as a script would.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(fake.requests().len(), 1);

    // The state written in the session is the spell's (`--name`), kept.
    let out = session(home.path(), &[], "State.get('seen').n\n");
    assert_eq!(text(&out.stdout), "1\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_js_session_awaits_at_top_level_and_imports_from_its_directory() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    std::fs::write(
        home.path().join("util.js"),
        "export const shout = (s) => s.toUpperCase() + '!';\n",
    )
    .unwrap();
    let entries = "\
const greeting = 'hello'
function twice(s) {
  return `${s} ${s}`
}
twice(greeting)
await llm.ask('ping')
const { shout } = await import('./util.js')
shout(greeting)
console.log('printed as written')
null.x
await import('../outside.js')
({ list: [1, 2], ok: true })
";
    let out = session(home.path(), &["--lang", "js"], entries);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        stdout,
        "\"hello hello\"\n\"echo: ping\"\n\"HELLO!\"\nprinted as written\n{\"list\":[1,2],\"ok\":true}\n",
        "{stderr}"
    );
    assert!(
        stderr.contains("TypeError: cannot read property 'x' of null")
            && stderr.contains("stdin:1"),
        "{stderr}"
    );
    assert!(stderr.contains("outside the spell's directory"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_limit_stops_the_entry_and_the_session_starts_again() {
    let home = tempfile::tempdir().unwrap();
    let entries = "\
kept = 1
while true do end
kept
after = 2
after
for i = 1, 3 do
";
    let out = session(home.path(), &["--fuel", "50000000"], entries);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    // The runaway entry ends at the limit; the session goes on, fresh.
    assert_eq!(stdout, "nil\n2\n", "{stderr}");
    assert!(
        stderr.contains("ran out of fuel") && stderr.contains("--fuel"),
        "{stderr}"
    );
    assert!(stderr.contains("the session started again"), "{stderr}");
    // Input that ends inside an entry is reported, not dropped silently.
    assert!(
        stderr.contains("the input ended inside an unfinished entry"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_llm_budget_is_the_sessions_across_restarts() {
    let fake = FakeLlm::start(Duration::ZERO);
    let home = fake_home(&fake);
    let entries = "\
llm.ask('one')
while true do end
llm.ask('two')
:usage
";
    let out = session(home.path(), &["--fuel", "50000000"], entries);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("the session started again"), "{stderr}");
    // Both calls count, the one made before the restart too.
    let usage: serde_json::Value = stderr
        .lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no usage line in {stderr}"));
    assert_eq!(usage["calls"], 2, "{usage}");
    assert_eq!(fake.requests().len(), 2);
}
