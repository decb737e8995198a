//! Events shared between processes through a real Redis server
//! (`[events] url`): a spell subscribed in one `spellhost` process sees an
//! event a spell emitted in another — and without the setting it does not.

mod support;

use std::process::Stdio;

use support::servers::Redis;

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
fn an_event_emitted_in_one_process_reaches_a_subscriber_in_another() {
    let redis = Redis::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("listen.lua"), LISTEN).unwrap();
    std::fs::write(home.path().join("emit.lua"), EMIT).unwrap();
    let linked = home.path().join("linked.toml");
    std::fs::write(&linked, format!("[events]\nurl = \"{}\"\n", redis.url())).unwrap();

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
        ("postgres://u:pw@db/x", "not there yet"),
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
