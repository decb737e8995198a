//! Events shared between processes through a real Redis server or a real
//! PostgreSQL (`[events] url`): a spell subscribed in one `spellhost`
//! process sees an event a spell emitted in another — and without the
//! setting it does not; a reader that fell too far behind is told how much
//! it missed.

mod support;

use std::process::Stdio;

use support::servers::{Redis, Shared};

const LISTEN: &str = r#"
local sub = Event.subscribe("demo.*")
log.info("subscribed")
local event = sub:next(tonumber((...)) or 20000)
if not event then return "nothing" end
return event.topic .. " " .. event.payload.n
"#;

const EMIT: &str = r#"
Event.emit("demo.hello", { n = 42 })
return "sent"
"#;

/// Starts `spellhost run listen.lua` and waits until its spell has
/// subscribed (its log line); returns the process.
fn listening(
    home: &std::path::Path,
    config: &std::path::Path,
    wait_ms: &str,
) -> std::process::Child {
    let mut child = support::spellhost_command(home)
        .args(["run", "--config"])
        .arg(config)
        .arg(home.join("listen.lua"))
        .args(["--input", wait_ms])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::listening::after_line(child.stderr.take().unwrap(), "subscribed");
    child
}

fn emit(home: &std::path::Path, config: &std::path::Path) {
    let out = support::spellhost_command(home)
        .args(["run", "--config"])
        .arg(config)
        .arg(home.join("emit.lua"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sent");
}

#[test]
fn an_event_emitted_in_one_process_reaches_a_subscriber_in_another_on_redis() {
    an_event_emitted_in_one_process_reaches_a_subscriber_in_another("redis");
}

#[test]
fn an_event_emitted_in_one_process_reaches_a_subscriber_in_another_on_postgres() {
    an_event_emitted_in_one_process_reaches_a_subscriber_in_another("postgres");
}

fn an_event_emitted_in_one_process_reaches_a_subscriber_in_another(kind: &str) {
    let server = Shared::start(kind);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("listen.lua"), LISTEN).unwrap();
    std::fs::write(home.path().join("emit.lua"), EMIT).unwrap();
    let linked = home.path().join("linked.toml");
    std::fs::write(&linked, format!("[events]\nurl = \"{}\"\n", server.url())).unwrap();

    let listener = listening(home.path(), &linked, "20000");
    emit(home.path(), &linked);
    let out = listener.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "demo.hello 42");

    // Without the setting each process keeps its events.
    let local = home.path().join("local.toml");
    std::fs::write(&local, "").unwrap();
    let listener = listening(home.path(), &local, "1500");
    emit(home.path(), &local);
    let out = listener.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "nothing");
}

#[test]
fn a_bad_events_setting_is_refused_naming_it() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("emit.lua"), EMIT).unwrap();
    for (setting, says) in [
        ("postgres://u:pw@db:port/x", "not a PostgreSQL URL"),
        ("nats://q", "redis://"),
        ("redis://:pw@[::1", "not a Redis URL"),
    ] {
        let config = home.path().join("bad.toml");
        std::fs::write(&config, format!("[events]\nurl = \"{setting}\"\n")).unwrap();
        let out = support::spellhost_command(home.path())
            .args(["run", "--config"])
            .arg(&config)
            .arg(home.path().join("emit.lua"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{setting} was accepted");
        assert!(
            stderr.contains("[events] url") && stderr.contains(says) && !stderr.contains(":pw@"),
            "{setting}: {stderr}"
        );
    }
}

/// Redis away: the spell's events still reach subscribers in its own
/// process, and the run succeeds, with a warning naming the setting.
#[test]
fn events_stay_in_process_while_redis_is_away() {
    let mut redis = Redis::start();
    let url = redis.url();
    redis.kill();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("both.lua"),
        "local sub = Event.subscribe('demo.*')\nEvent.emit('demo.self', { n = 7 })\nlocal e = sub:next(5000)\nreturn e and e.payload.n or 'lost'\n",
    )
    .unwrap();
    let config = home.path().join("linked.toml");
    std::fs::write(&config, format!("[events]\nurl = \"{url}\"\n")).unwrap();
    let out = support::spellhost_command(home.path())
        .args(["run", "--config"])
        .arg(&config)
        .arg(home.path().join("both.lua"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
    assert!(
        stderr.contains("[events] url redis://127.0.0.1"),
        "{stderr}"
    );
}

/// A subscriber whose process fell further behind than the stream keeps
/// gets a `spellhost.events.missed` event with how many it missed.
#[test]
fn a_reader_that_fell_behind_is_told_what_it_missed() {
    let redis = Redis::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("listen.lua"),
        "local hello = Event.subscribe('demo.*')\nlocal missed = Event.subscribe('spellhost.events.missed')\nlog.info('subscribed')\nif hello:next(30000) then log.info('following') end\nlocal e = missed:next(60000)\nreturn e and tostring(e.payload.missed) or 'nothing'\n",
    )
    .unwrap();
    let config = home.path().join("linked.toml");
    std::fs::write(&config, format!("[events]\nurl = \"{}\"\n", redis.url())).unwrap();
    let mut child = support::spellhost_command(home.path())
        .args(["run", "--config"])
        .arg(&config)
        .arg(home.path().join("listen.lua"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (_, log) = support::listening::after_line(child.stderr.take().unwrap(), "subscribed");
    // Once it is known to follow the stream (it saw another process's
    // event) …
    std::fs::write(home.path().join("emit.lua"), EMIT).unwrap();
    emit(home.path(), &config);
    support::listening::until_logged(&log, "following");
    // Stopped while another process appends 25 000 events: the stream
    // keeps about 10 000 of them.
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    const APPENDED: usize = 25_000;
    let commands: String = (0..APPENDED)
        .map(|n| format!("XADD spellhost:events MAXLEN ~ 10000 * origin other event {n}\n"))
        .collect();
    let mut cli = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    cli.stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    assert!(cli.wait().unwrap().success());
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let missed: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{out:?}"));
    // Everything but what the stream kept and what was read before the
    // stop; trimming is approximate (whole nodes of entries).
    assert!(
        (APPENDED - 11_000..=APPENDED - 10_000).contains(&missed),
        "missed {missed}"
    );
}
