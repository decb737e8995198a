//! The hostile-spell suite: guest components from `tests/guests` that each
//! try one attack, and assertions that the attack is contained — and, where
//! there is a legitimate use, that the same spell does its work once the
//! user grants it.
//!
//! Limits (fuel, memory, wall clock, stack, output size) and malformed,
//! wrong-world and unknown-import components are covered in
//! `scenarios.rs`; model and shared-state grants in `scenarios.rs` too.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::bridges::state::SqliteStore;
use spellhost::limits::{LimitExceeded, Limits};
use spellhost::policy::Grants;
use spellhost::runtime::{RunError, RunReport, Runtime, SpellConfig};
use support::fake_llm::FakeLlm;
use support::web::WebServer;
use support::{guest, test_runtime};

fn runtime_with(router: ModelRouter, state: &Path) -> Runtime {
    test_runtime()
        .router(router)
        .state(SqliteStore::new(state.join("state.sqlite3")))
        .build()
        .unwrap()
}

/// Runs guest `name` as spell `as_name` with `grants`; the output, or the error.
async fn attempt(
    rt: &Runtime,
    name: &str,
    as_name: &str,
    input: &str,
    grants: Grants,
    limits: Limits,
) -> Result<String, RunError> {
    let bytes = std::fs::read(guest(name)).unwrap();
    let config = SpellConfig {
        grants,
        ..SpellConfig::default()
    };
    let spell = rt.load(as_name, &bytes, config).unwrap();
    rt.run(&spell, input, &limits).await.result
}

/// Runs guest `name` with `config`; the whole report, denials included.
async fn report(rt: &Runtime, name: &str, input: &str, config: SpellConfig) -> RunReport {
    let bytes = std::fs::read(guest(name)).unwrap();
    let spell = rt.load(name, &bytes, config).unwrap();
    rt.run(&spell, input, &Limits::default()).await
}

fn net(hosts: &[&str]) -> Grants {
    Grants {
        net: hosts.iter().map(|h| h.to_string()).collect(),
        ..Grants::default()
    }
}

async fn try_as(rt: &Runtime, name: &str, input: &str, grants: Grants) -> String {
    attempt(rt, name, name, input, grants, Limits::default())
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

fn read(paths: &[&Path]) -> Grants {
    Grants {
        read: paths.iter().map(|p| p.to_path_buf()).collect(),
        ..Grants::default()
    }
}

fn write(paths: &[&Path]) -> Grants {
    Grants {
        write: paths.iter().map(|p| p.to_path_buf()).collect(),
        ..Grants::default()
    }
}

/// A directory `outer` holding `secret.txt`, and inside it the directory
/// `granted` holding `note.txt` and a symlink `link` back up to `outer`.
struct Tree {
    _dir: tempfile::TempDir,
    outer: std::path::PathBuf,
    granted: std::path::PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let outer = dir.path().canonicalize().unwrap();
    let granted = outer.join("granted");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(outer.join("secret.txt"), "top secret").unwrap();
    std::fs::write(granted.join("note.txt"), "hello from a granted dir").unwrap();
    std::os::unix::fs::symlink(&outer, granted.join("link")).unwrap();
    Tree {
        _dir: dir,
        outer,
        granted,
    }
}

fn host() -> (Runtime, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    (runtime_with(ModelRouter::new(), state.path()), state)
}

fn assert_blocked(outcome: &str) {
    assert!(
        outcome.starts_with("blocked"),
        "the attack was not contained: {outcome}"
    );
}

#[tokio::test]
async fn fs_absolute_paths_outside_grants_are_invisible() {
    let (rt, _state) = host();
    let t = tree();
    assert_blocked(&try_as(&rt, "hostile_fs_read", "/etc/passwd", Grants::default()).await);
    let secret = t.outer.join("secret.txt");
    assert_blocked(
        &try_as(
            &rt,
            "hostile_fs_read",
            secret.to_str().unwrap(),
            read(&[&t.granted]),
        )
        .await,
    );
}

#[tokio::test]
async fn fs_dot_dot_cannot_leave_a_grant() {
    let (rt, _state) = host();
    let t = tree();
    let escape = format!("{}/../secret.txt", t.granted.display());
    assert_blocked(&try_as(&rt, "hostile_fs_read", &escape, read(&[&t.granted])).await);
}

#[tokio::test]
async fn fs_symlinks_cannot_leave_a_grant() {
    let (rt, _state) = host();
    let t = tree();
    let escape = format!("{}/link/secret.txt", t.granted.display());
    assert_blocked(&try_as(&rt, "hostile_fs_read", &escape, read(&[&t.granted])).await);
}

#[tokio::test]
async fn fs_granted_files_are_readable() {
    let (rt, _state) = host();
    let t = tree();
    let note = t.granted.join("note.txt");
    assert_blocked(
        &try_as(
            &rt,
            "hostile_fs_read",
            note.to_str().unwrap(),
            Grants::default(),
        )
        .await,
    );
    let out = try_as(
        &rt,
        "hostile_fs_read",
        note.to_str().unwrap(),
        read(&[&t.granted]),
    )
    .await;
    assert_eq!(out, "READ: hello from a granted dir");
}

#[tokio::test]
async fn fs_read_only_grants_refuse_writes() {
    let (rt, _state) = host();
    let t = tree();
    let target = t.granted.join("new.txt");
    assert_blocked(
        &try_as(
            &rt,
            "hostile_fs_write",
            target.to_str().unwrap(),
            read(&[&t.granted]),
        )
        .await,
    );
    assert!(!target.exists(), "nothing was written");
    let out = try_as(
        &rt,
        "hostile_fs_write",
        target.to_str().unwrap(),
        write(&[&t.granted]),
    )
    .await;
    assert_eq!(out, "WROTE");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "pwned");
}

#[tokio::test]
async fn fs_nothing_is_visible_by_default() {
    let (rt, _state) = host();
    let out = try_as(&rt, "hostile_fs_list_root", "", Grants::default()).await;
    assert!(
        out.split(" | ").all(|part| part.starts_with("blocked")),
        "{out}"
    );
}

#[tokio::test]
async fn env_and_args_do_not_leak() {
    let (rt, _state) = host();
    let out: serde_json::Value =
        serde_json::from_str(&try_as(&rt, "hostile_env", "", Grants::default()).await).unwrap();
    assert_eq!(
        out["vars"],
        serde_json::json!([]),
        "no host variables by default"
    );
    assert_eq!(
        out["args"],
        serde_json::json!(["hostile_env"]),
        "no host arguments"
    );
    assert!(std::env::var("PATH").is_ok());
    let granted = Grants {
        env: vec!["PATH".into()],
        ..Grants::default()
    };
    let out: serde_json::Value =
        serde_json::from_str(&try_as(&rt, "hostile_env", "", granted).await).unwrap();
    let vars = out["vars"].as_array().unwrap();
    assert_eq!(vars.len(), 1);
    assert!(vars[0].as_str().unwrap().starts_with("PATH="));
}

#[tokio::test]
async fn raw_sockets_are_denied() {
    let (rt, _state) = host();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    assert_blocked(&try_as(&rt, "hostile_tcp_connect", &addr, Grants::default()).await);
    assert!(
        listener.accept().is_err(),
        "no connection reached the listener"
    );
}

#[tokio::test]
async fn raw_sockets_reach_addresses_granted_as_such() {
    let (rt, _state) = host();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let by_name = format!("localhost:{}", listener.local_addr().unwrap().port());
    assert_blocked(&try_as(&rt, "hostile_tcp_connect", &addr, net(&[&by_name])).await);
    let out = try_as(&rt, "hostile_tcp_connect", &addr, net(&[&addr])).await;
    assert_eq!(out, "CONNECTED");
}

#[tokio::test]
async fn udp_is_denied_even_to_granted_addresses() {
    let (rt, _state) = host();
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let addr = receiver.local_addr().unwrap().to_string();
    assert_blocked(&try_as(&rt, "hostile_udp_send", &addr, net(&[&addr])).await);
    let mut buf = [0u8; 64];
    assert!(receiver.recv_from(&mut buf).is_err(), "no datagram arrived");
}

#[tokio::test]
async fn spells_cannot_listen_for_connections() {
    let (rt, _state) = host();
    for grant in [Grants::default(), net(&["127.0.0.1"])] {
        assert_blocked(&try_as(&rt, "hostile_tcp_listen", "127.0.0.1:0", grant).await);
    }
}

#[tokio::test]
async fn http_to_an_ungranted_host_is_denied_with_the_flag_to_grant_it() {
    let (rt, _state) = host();
    let web = WebServer::start();
    let port = web.port().to_string();
    let denied = report(&rt, "hostile_http_unlisted", &port, SpellConfig::default()).await;
    let out = denied.result.unwrap();
    assert_blocked(&out);
    assert!(
        out.contains(&format!("--allow-net localhost:{port}")),
        "{out}"
    );
    let flag = format!("allow it with --allow-net localhost:{port}");
    assert!(
        denied.denials.iter().any(|d| d.message.contains(&flag)),
        "the host names the grant: {:?}",
        denied.denials
    );
    assert!(
        denied
            .denials
            .iter()
            .any(|d| d.grant == Some(spellhost::policy::Grant::Net(format!("localhost:{port}")))),
        "and gives it as data for other front ends: {:?}",
        denied.denials
    );
    assert!(web.hits().is_empty(), "nothing reached the server");

    let granted = SpellConfig {
        grants: net(&[&format!("localhost:{port}")]),
        ..SpellConfig::default()
    };
    let out = report(&rt, "hostile_http_unlisted", &port, granted).await;
    assert_eq!(out.result.unwrap(), format!("READ 200: hello from {port}"));
    assert!(out.denials.is_empty());
    assert_eq!(web.hits().len(), 1);
}

#[tokio::test]
async fn http_ip_literals_need_their_own_grant() {
    let (rt, _state) = host();
    let web = WebServer::start();
    let port = web.port().to_string();
    let out = try_as(
        &rt,
        "hostile_http_ip_literal",
        &port,
        net(&[&format!("localhost:{port}"), "*"]),
    )
    .await;
    for line in out.lines() {
        assert!(line.contains(": blocked"), "not contained: {line}");
    }
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(web.hits().is_empty(), "nothing reached the server");

    let out = try_as(
        &rt,
        "hostile_http_ip_literal",
        &port,
        net(&[&format!("127.0.0.1:{port}")]),
    )
    .await;
    // The granted address gets through, also spelled as IPv4-mapped IPv6;
    // the other spellings are names, and names are not granted.
    let through: Vec<&str> = out.lines().filter(|l| l.contains("READ 200")).collect();
    assert_eq!(
        through,
        ["127.0.0.1: READ 200", "[::ffff:127.0.0.1]: READ 200"],
        "{out}"
    );
    assert_eq!(web.hits().len(), 2);
}

#[tokio::test]
async fn http_redirects_are_checked_at_every_hop() {
    let (rt, _state) = host();
    let allowed = WebServer::start();
    let denied = WebServer::start();
    let start = allowed.url(&format!("/redirect?to={}", denied.url("/")));
    let only_first = net(&[&allowed.addr.to_string()]);
    let out = try_as(&rt, "hostile_http_redirect", &start, only_first).await;
    assert_blocked(&out);
    assert_eq!(allowed.hits().len(), 1, "the first hop was allowed");
    assert!(
        denied.hits().is_empty(),
        "the redirect target was never contacted"
    );

    let both = net(&[&allowed.addr.to_string(), &denied.addr.to_string()]);
    let out = try_as(&rt, "hostile_http_redirect", &start, both).await;
    assert_eq!(
        out,
        format!(
            "READ 200 from {}: hello from {}",
            denied.url("/"),
            denied.port()
        )
    );
}

#[tokio::test]
async fn http_granted_names_cannot_resolve_to_loopback() {
    let (rt, _state) = host();
    let web = WebServer::start();
    let port = web.port().to_string();
    let pins = BTreeMap::from([("rebind.test".to_owned(), vec!["127.0.0.1".parse().unwrap()])]);
    let config = |grants: Grants| SpellConfig {
        grants,
        net_pins: pins.clone(),
        ..SpellConfig::default()
    };
    let denied = report(
        &rt,
        "hostile_http_rebind",
        &port,
        config(net(&[&format!("rebind.test:{port}")])),
    )
    .await;
    assert_blocked(&denied.result.unwrap());
    let message = &denied.denials[0].message;
    assert!(message.contains("loopback"), "{message}");
    assert!(
        message.contains(&format!("--allow-net 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(web.hits().is_empty(), "nothing reached the server");

    let granted = config(net(&[
        &format!("rebind.test:{port}"),
        &format!("127.0.0.1:{port}"),
    ]));
    let out = report(&rt, "hostile_http_rebind", &port, granted).await;
    assert_eq!(out.result.unwrap(), format!("READ 200: hello from {port}"));
    assert_eq!(web.hits(), [format!("GET / host=rebind.test:{port}")]);
}

#[tokio::test]
async fn named_secrets_reach_the_granted_host_but_never_the_spell() {
    let (rt, _state) = host();
    let web = WebServer::start();
    let port = web.port().to_string();
    // Any variable of the test's environment stands in for a token.
    let token = std::env::var("PATH").unwrap();
    let secret = spellhost::policy::net::SecretHeader {
        header: "authorization".into(),
        env: "PATH".into(),
        prefix: "Bearer ".into(),
    };
    let config = SpellConfig {
        grants: net(&[&format!("localhost:{port}")]),
        net_secrets: BTreeMap::from([("localhost".to_owned(), secret)]),
        ..SpellConfig::default()
    };
    let out = report(&rt, "hostile_http_unlisted", &port, config.clone()).await;
    assert_eq!(out.result.unwrap(), format!("READ 200: hello from {port}"));
    assert_eq!(
        web.hits(),
        [format!("GET / host=localhost:{port} auth=Bearer {token}")]
    );
    let env = report(&rt, "hostile_env", "", config).await.result.unwrap();
    assert!(
        !env.contains(&token),
        "the spell cannot read the secret: {env}"
    );
}

#[tokio::test]
async fn http_cloud_metadata_is_unreachable() {
    let (rt, _state) = host();
    let pins = BTreeMap::from([(
        "metadata.test".to_owned(),
        vec!["169.254.169.254".parse().unwrap()],
    )]);
    let config = SpellConfig {
        grants: net(&["*"]),
        net_pins: pins,
        ..SpellConfig::default()
    };
    let out = report(&rt, "hostile_http_metadata", "metadata.test", config).await;
    let out = out.result.unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");
    for line in out.lines() {
        assert!(line.contains(": blocked"), "not contained: {line}");
    }
}

#[tokio::test]
async fn http_a_forged_host_header_does_not_redirect_the_request() {
    let (rt, _state) = host();
    let granted = WebServer::start();
    let other = WebServer::start();
    let input = format!("{} {}", granted.url("/"), other.addr);
    let out = try_as(
        &rt,
        "hostile_http_host_header",
        &input,
        net(&[&granted.addr.to_string()]),
    )
    .await;
    assert!(
        other.hits().is_empty(),
        "the forged host was never contacted"
    );
    assert!(
        out.starts_with("blocked") || granted.hits() == [format!("GET / host={}", granted.addr)],
        "{out} {:?}",
        granted.hits()
    );
}

#[tokio::test]
async fn fs_planted_symlinks_cannot_leave_a_grant() {
    let (rt, _state) = host();
    let t = tree();
    let out = try_as(
        &rt,
        "hostile_fs_symlink_create",
        t.granted.to_str().unwrap(),
        write(&[&t.granted]),
    )
    .await;
    assert_eq!(out.lines().count(), 2, "{out}");
    for line in out.lines() {
        assert!(line.contains(": blocked"), "not contained: {line}");
    }
}

#[tokio::test]
async fn fs_files_cannot_be_moved_out_of_a_grant() {
    let (rt, _state) = host();
    let t = tree();
    let out = try_as(
        &rt,
        "hostile_fs_rename_out",
        t.granted.to_str().unwrap(),
        write(&[&t.granted]),
    )
    .await;
    for line in out.lines() {
        assert!(line.contains(": blocked"), "not contained: {line}");
    }
    assert!(!t.outer.join("planted.txt").exists());
    assert!(
        t.granted.join("payload.txt").exists(),
        "the file stayed put"
    );
}

#[tokio::test]
async fn name_lookups_are_denied() {
    let (rt, _state) = host();
    assert_blocked(&try_as(&rt, "hostile_dns_lookup", "localhost", Grants::default()).await);
}

#[tokio::test]
async fn another_spells_state_is_unreachable() {
    let (rt, _state) = host();
    let stored = attempt(
        &rt,
        "state_secret",
        "victim",
        "s3cret",
        Grants::default(),
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(stored, "stored");
    // Even with every shared namespace granted, private scopes stay private.
    let everything = Grants {
        state_namespaces: vec!["*".into()],
        ..Grants::default()
    };
    let out = attempt(
        &rt,
        "hostile_state_peek",
        "attacker",
        "victim",
        everything,
        Limits::default(),
    )
    .await
    .unwrap();
    assert!(!out.contains("s3cret"), "{out}");
    assert!(out.contains("own:None"), "{out}");
    let out = attempt(
        &rt,
        "hostile_state_peek",
        "attacker",
        "victim",
        Grants::default(),
        Limits::default(),
    )
    .await
    .unwrap();
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.contains("blocked") && l.contains("--allow-state-ns")),
        "{out}"
    );
}

#[tokio::test]
async fn forged_resource_handles_trap() {
    let (rt, _state) = host();
    for handle in ["4242", "0", "-1"] {
        let err = attempt(
            &rt,
            "hostile_forged_handle",
            "hostile_forged_handle",
            handle,
            Grants::default(),
            Limits::default(),
        )
        .await
        .expect_err("a forged handle must not be accepted");
        assert!(matches!(err, RunError::Trap(_)), "{handle}: {err:?}");
    }
}

#[tokio::test]
async fn spells_cannot_impersonate_the_host_on_the_bus() {
    let (rt, _state) = host();
    let out = try_as(&rt, "hostile_reserved_topic", "", Grants::default()).await;
    assert_blocked(&out);
    assert!(out.contains("reserved for the host"), "{out}");
}

#[tokio::test]
async fn huge_state_values_are_refused() {
    let (rt, _state) = host();
    let out = try_as(&rt, "hostile_huge_state", "", Grants::default()).await;
    assert_blocked(&out);
    assert!(out.contains("limit"), "{out}");
}

/// Handles a spell never drops stop at `--max-handles`, on the host's
/// side of the table and the guest's, with the limit's own error.
#[tokio::test]
async fn leaked_handles_stop_at_the_handle_limit() {
    let (rt, _state) = host();
    let limits = Limits {
        max_handles: 300,
        ..Limits::default()
    };
    let err = attempt(
        &rt,
        "hostile_handle_leak",
        "hostile_handle_leak",
        "",
        Grants::default(),
        limits,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            RunError::Limit(spellhost::limits::LimitExceeded::Handles { limit: 300 })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("--max-handles 1200"), "{err}");
}

/// A flood of the host's own work, run by `hostile_flood` with `input`.
async fn flood(rt: &Runtime, input: &str, limits: Limits) -> Result<String, RunError> {
    attempt(
        rt,
        "hostile_flood",
        "hostile_flood",
        input,
        Grants::default(),
        limits,
    )
    .await
}

#[tokio::test]
async fn a_log_flood_stops_at_the_log_limit() {
    let (rt, _state) = host();
    // Log lines and plain stdout draw on the same budget: 1000 lines of
    // 10 KiB of log, past 1 MiB; 100 lines of 100 bytes on stdout, past 4 KiB.
    for (input, limit, flag) in [
        ("log 1000", 1 << 20, "--max-log 4MiB"),
        ("stdout 100", 4 << 10, "--max-log 16KiB"),
    ] {
        let limits = Limits {
            max_log_bytes: limit,
            ..Limits::default()
        };
        let err = flood(&rt, input, limits).await.unwrap_err();
        assert!(
            matches!(
                &err,
                RunError::Limit(spellhost::limits::LimitExceeded::Log { limit: l }) if *l == limit
            ),
            "{input}: {err:?}"
        );
        assert!(err.to_string().contains(flag), "{err}");
        assert!(!err.to_string().contains("backtrace"), "{err}");
    }
    // The same log lines fit the default (16 MiB), and a few printed ones.
    assert_eq!(
        flood(&rt, "log 1000", Limits::default()).await.unwrap(),
        "logged 1000"
    );
    assert_eq!(
        flood(&rt, "stdout 3", Limits::default()).await.unwrap(),
        "printed 3"
    );
}

#[tokio::test]
async fn an_event_flood_is_refused_at_the_event_rate() {
    let (rt, _state) = host();
    let tight = Limits {
        max_event_rate: 100,
        ..Limits::default()
    };
    // A burst of one second's worth passes; the next event is refused,
    // with an error the spell sees and can act on.
    let out = flood(&rt, "events 5000", tight).await.unwrap();
    assert!(out.contains("--max-event-rate 400"), "{out}");
    let sent: u32 = out[5..out.find(',').unwrap()].parse().unwrap();
    assert!((100..1000).contains(&sent), "{out}");
    // Granted a higher rate, the same burst goes out.
    let granted = Limits {
        max_event_rate: 10_000,
        ..Limits::default()
    };
    assert_eq!(
        flood(&rt, "events 5000", granted).await.unwrap(),
        "sent 5000"
    );
}

#[tokio::test]
async fn uncollected_tool_results_count_against_the_run_memory() {
    let (rt, _state) = host();
    // 64 results of 1 MiB waiting in the host: past a 32 MiB run, whatever
    // the guest's own memory holds.
    let tight = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let out = flood(&rt, "results 64", tight).await.unwrap();
    assert!(out.contains("then: "), "{out}");
    assert!(out.contains("run's memory limit of 32MiB"), "{out}");
    assert!(out.contains("--memory 128MiB"), "{out}");
    let collected: u32 = out["collected ".len()..out.find(',').unwrap()]
        .parse()
        .unwrap();
    assert!((8..40).contains(&collected), "{out}");
    // The default memory holds them all.
    assert_eq!(
        flood(&rt, "results 64", Limits::default()).await.unwrap(),
        "collected 64"
    );
}

#[tokio::test]
async fn huge_log_lines_are_cut_not_fatal() {
    let (rt, _state) = host();
    assert_eq!(
        try_as(&rt, "hostile_huge_log", "", Grants::default()).await,
        "logged"
    );
}

#[tokio::test]
async fn exit_ends_the_spell_not_the_host() {
    let (rt, _state) = host();
    let err = attempt(
        &rt,
        "hostile_exit",
        "hostile_exit",
        "",
        Grants::default(),
        Limits::default(),
    )
    .await
    .unwrap_err();
    // wasi:cli/exit carries only success or failure: exit(3) arrives as exit(1).
    assert!(
        matches!(&err, RunError::Failed(m) if m.contains("called exit(1)")),
        "{err:?}"
    );
    // The host is still here and runs the next spell.
    assert_eq!(
        try_as(&rt, "echo", "still alive", Grants::default()).await,
        "still alive"
    );
}

/// Runs guest `name` with a 300 ms deadline, which must stop it; how long
/// the run took.
async fn stopped_by_the_deadline(name: &str) -> Duration {
    let (rt, _state) = host();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let err = attempt(&rt, name, name, "", Grants::default(), limits)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Timeout { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("--timeout"), "{err}");
    started.elapsed()
}

#[tokio::test]
async fn a_loop_of_costly_host_calls_hits_the_deadline() {
    // Host work burns no fuel: without the return-from-host check this
    // guest would run for minutes between two fuel yields.
    let elapsed = stopped_by_the_deadline("hostile_host_call_loop").await;
    assert!(
        elapsed < Duration::from_secs(5),
        "stopped after {elapsed:?}"
    );
}

#[tokio::test]
async fn sleeping_in_a_wasi_clock_wait_hits_the_deadline() {
    stopped_by_the_deadline("hostile_sleep").await;
}

#[tokio::test]
async fn models_beyond_the_grant_are_denied_before_any_request() {
    let fake = FakeLlm::start(Duration::ZERO);
    let provider = OpenAiProvider::new(OpenAiConfig::new("fake", fake.base_url())).unwrap();
    let router = ModelRouter::new()
        .with_provider(Arc::new(provider))
        .with_default_model(Some("fake/fake-model".into()));
    let state = tempfile::tempdir().unwrap();
    let rt = runtime_with(router, state.path());
    let out = try_as(
        &rt,
        "hostile_model_escalation",
        "fake/expensive-model",
        Grants::default(),
    )
    .await;
    assert_blocked(&out);
    assert!(out.contains("--allow-model fake/expensive-model"), "{out}");
    assert!(fake.requests().is_empty());
    let granted = Grants {
        models: vec!["fake/expensive-*".into()],
        ..Grants::default()
    };
    assert_eq!(
        try_as(
            &rt,
            "hostile_model_escalation",
            "fake/expensive-model",
            granted
        )
        .await,
        "USED fake/expensive-model"
    );
}
