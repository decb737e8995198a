//! The hostile-spell suite: guest components from `tests/guests` that each
//! try one attack, and assertions that the attack is contained — and, where
//! there is a legitimate use, that the same spell does its work once the
//! user grants it.
//!
//! Limits (fuel, memory, wall clock, stack, output size) and malformed,
//! wrong-world and unknown-import components are covered in
//! `scenarios.rs`; model and shared-state grants in `scenarios.rs` too.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spellhost::bridges::event::EventBus;
use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::bridges::state::SqliteStore;
use spellhost::cache::CompileCache;
use spellhost::engine::SpellEngine;
use spellhost::limits::{LimitExceeded, Limits};
use spellhost::policy::Grants;
use spellhost::runtime::{HostServices, RunError, Runtime, SpellConfig};
use support::fake_llm::FakeLlm;
use support::{guest, shared_cache_dir};

fn runtime_with(router: ModelRouter, state: &Path) -> Runtime {
    let engine = SpellEngine::new(CompileCache::at(shared_cache_dir())).unwrap();
    let services = HostServices {
        router: Arc::new(router),
        store: Arc::new(SqliteStore::new(state.join("state.sqlite3"))),
        bus: EventBus::default(),
        prices: Default::default(),
    };
    Runtime::new(engine, services).unwrap()
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

#[tokio::test]
async fn sleeping_in_a_wasi_clock_wait_hits_the_deadline() {
    let (rt, _state) = host();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let err = attempt(
        &rt,
        "hostile_sleep",
        "hostile_sleep",
        "",
        Grants::default(),
        limits,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RunError::Limit(LimitExceeded::Timeout { .. })),
        "{err:?}"
    );
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
