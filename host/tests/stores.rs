//! The state store contract, run alike against every store: in memory,
//! SQLite, and real Redis and PostgreSQL servers started on 127.0.0.1 for
//! the test. What a spell relies on — values kept byte for byte, namespaces
//! apart, keys listed in byte order, compare-and-swap atomic against every
//! other client — and what an operator relies on: a server down or wrong
//! credentials give an error that names the setting, and the store
//! recovers when the server is back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use spellhost::bridges::state::{
    Condition, MemoryStore, PostgresStore, QuotaExceeded, RedisStore, SqliteStore, StateBackend,
    StateStore, Usage, WriteError,
};
use spellhost::limits::StateQuota;
use support::servers::{Postgres, Redis};

/// Everything a store must do, on one fresh store.
async fn contract(store: Arc<dyn StateStore>) {
    let ns = "spell/contract";
    assert_eq!(store.get(ns, "missing").await.unwrap(), None);

    // Bytes are kept exactly, empty included (and empty is not absent).
    let bytes = vec![0u8, 255, 10, 0, 128];
    store.set(ns, "bin", bytes.clone()).await.unwrap();
    assert_eq!(store.get(ns, "bin").await.unwrap(), Some(bytes.clone()));
    store.set(ns, "empty", Vec::new()).await.unwrap();
    assert_eq!(store.get(ns, "empty").await.unwrap(), Some(Vec::new()));
    assert!(
        !store
            .compare_and_swap(ns, "empty", None, b"x".to_vec())
            .await
            .unwrap()
    );
    store.set(ns, "bin", b"over".to_vec()).await.unwrap();
    assert_eq!(store.get(ns, "bin").await.unwrap(), Some(b"over".to_vec()));

    // Namespaces are apart.
    assert_eq!(store.get("spell/other", "bin").await.unwrap(), None);
    store
        .set("spell/other", "bin", b"theirs".to_vec())
        .await
        .unwrap();
    assert_eq!(store.get(ns, "bin").await.unwrap(), Some(b"over".to_vec()));

    // Listing: by prefix, in byte order; pattern characters of any backend
    // (globs, LIKE) are only characters.
    for key in [
        "b", "a", "a*", "a?x", "a%", "a_", "ab", "é", "A", "[a]", "a\\",
    ] {
        store.set(ns, key, b"1".to_vec()).await.unwrap();
    }
    let all = store.list_keys(ns, "").await.unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "keys come sorted");
    assert_eq!(
        store.list_keys(ns, "a").await.unwrap(),
        ["a", "a%", "a*", "a?x", "a\\", "a_", "ab"]
    );
    assert_eq!(store.list_keys(ns, "a*").await.unwrap(), ["a*"]);
    assert_eq!(store.list_keys(ns, "a_").await.unwrap(), ["a_"]);
    assert_eq!(store.list_keys(ns, "a%").await.unwrap(), ["a%"]);
    assert_eq!(store.list_keys(ns, "[").await.unwrap(), ["[a]"]);
    assert_eq!(store.list_keys(ns, "é").await.unwrap(), ["é"]);
    assert!(store.list_keys(ns, "zz").await.unwrap().is_empty());
    assert_eq!(store.list_keys("spell/other", "").await.unwrap(), ["bin"]);

    // Delete, twice.
    store.delete(ns, "b").await.unwrap();
    store.delete(ns, "b").await.unwrap();
    assert_eq!(store.get(ns, "b").await.unwrap(), None);

    // Compare-and-swap: against absent, against a value, and losing.
    assert!(
        store
            .compare_and_swap(ns, "c", None, b"1".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap(ns, "c", None, b"2".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap(ns, "c", Some(b"0".to_vec()), b"2".to_vec())
            .await
            .unwrap()
    );
    assert!(
        store
            .compare_and_swap(ns, "c", Some(b"1".to_vec()), b"2".to_vec())
            .await
            .unwrap()
    );
    assert_eq!(store.get(ns, "c").await.unwrap(), Some(b"2".to_vec()));
    store.delete(ns, "c").await.unwrap();
    assert!(
        !store
            .compare_and_swap(ns, "c", Some(b"2".to_vec()), b"3".to_vec())
            .await
            .unwrap()
    );
    quotas(&*store).await;
}

/// Quotas, the same on every store: usage counts key and value bytes and
/// keys, growth past either bound is refused and changes nothing,
/// shrinking always works, deletes make room.
async fn quotas(store: &dyn StateStore) {
    let ns = "spell/quota";
    let quota = StateQuota { bytes: 20, keys: 3 };
    let write = |key: &'static str, value: &'static [u8]| {
        store.write(ns, key, value.to_vec(), Condition::Any, quota)
    };
    assert_eq!(write("a", b"12345").await, Ok(true));
    assert_eq!(write("b", b"12345").await, Ok(true));
    let usage = store.usage("spell/quota").await.unwrap();
    assert_eq!(usage, [(ns.to_owned(), Usage { bytes: 12, keys: 2 })]);
    let err = write("c", b"123456789").await.unwrap_err();
    assert!(
        matches!(
            &err,
            WriteError::Quota(QuotaExceeded::Bytes {
                after: 22,
                quota: 20,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(store.get(ns, "c").await.unwrap(), None);
    assert_eq!(write("a", b"1234567890").await, Ok(true));
    assert_eq!(write("a", b"1").await, Ok(true));
    assert_eq!(write("c", b"1").await, Ok(true));
    let err = write("d", b"").await.unwrap_err();
    assert!(
        matches!(
            &err,
            WriteError::Quota(QuotaExceeded::Keys {
                after: 4,
                quota: 3,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(store.list_keys(ns, "").await.unwrap(), ["a", "b", "c"]);
    let lose = Condition::Equals(b"9".to_vec());
    assert_eq!(
        store.write(ns, "c", b"22".to_vec(), lose, quota).await,
        Ok(false)
    );
    let win = Condition::Equals(b"1".to_vec());
    assert_eq!(
        store.write(ns, "c", b"22".to_vec(), win, quota).await,
        Ok(true)
    );
    store.delete(ns, "b").await.unwrap();
    store.delete(ns, "b").await.unwrap();
    let usage = store.usage("spell/").await.unwrap();
    assert!(
        usage.contains(&(ns.to_owned(), Usage { bytes: 5, keys: 2 })),
        "{usage:?}"
    );
    let tiny = StateQuota { bytes: 1, keys: 1 };
    assert_eq!(
        store
            .write(ns, "c", b"2".to_vec(), Condition::Any, tiny)
            .await,
        Ok(true)
    );
    store.delete(ns, "a").await.unwrap();
    store.delete(ns, "c").await.unwrap();
    assert!(store.usage("spell/quota").await.unwrap().is_empty());
}

/// `clients` stores on one backend (as separate processes would have)
/// increment one counter by compare-and-swap, `each` times each: the count
/// comes out exact.
async fn counted_exactly(clients: Vec<Arc<dyn StateStore>>, each: usize) {
    let ns = "shared/counter";
    let tasks: Vec<_> = clients
        .iter()
        .flat_map(|store| (0..4).map(move |_| store.clone()))
        .map(|store| {
            tokio::spawn(async move {
                for _ in 0..each {
                    loop {
                        let current = store.get(ns, "n").await.unwrap();
                        let n: u64 = current
                            .as_deref()
                            .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                        let next = (n + 1).to_string().into_bytes();
                        if store
                            .compare_and_swap(ns, "n", current, next)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    let writers = tasks.len();
    for task in tasks {
        task.await.unwrap();
    }
    let n = clients[0].get(ns, "n").await.unwrap().unwrap();
    assert_eq!(String::from_utf8(n).unwrap(), (writers * each).to_string());
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    contract(Arc::new(MemoryStore::new())).await;
    counted_exactly(vec![Arc::new(MemoryStore::new())], 50).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite3");
    contract(Arc::new(SqliteStore::new(&path))).await;
    let two: Vec<Arc<dyn StateStore>> = vec![
        Arc::new(SqliteStore::new(&path)),
        Arc::new(SqliteStore::new(&path)),
    ];
    counted_exactly(two, 25).await;
}

#[tokio::test]
async fn the_redis_store_keeps_the_contract() {
    let redis = Redis::start();
    contract(StateBackend::parse(&redis.url()).unwrap().open().unwrap()).await;
    let two: Vec<Arc<dyn StateStore>> = vec![
        Arc::new(RedisStore::open(&redis.url()).unwrap()),
        Arc::new(RedisStore::open(&redis.url()).unwrap()),
    ];
    counted_exactly(two, 50).await;
}

#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    let postgres = Postgres::start();
    contract(
        StateBackend::parse(&postgres.url())
            .unwrap()
            .open()
            .unwrap(),
    )
    .await;
    // Two stores start at once: both bring the schema up to date, once.
    let two: Vec<Arc<dyn StateStore>> = vec![
        Arc::new(PostgresStore::open(&postgres.url()).unwrap()),
        Arc::new(PostgresStore::open(&postgres.url()).unwrap()),
    ];
    counted_exactly(two, 25).await;
}

/// The message of a store error, and that it came within the store's
/// timeout (plus slack), not never.
async fn fails_soon(
    operation: impl std::future::Future<
        Output = Result<Option<Vec<u8>>, spellhost::bridges::state::StoreError>,
    >,
) -> String {
    let err = tokio::time::timeout(Duration::from_secs(20), operation)
        .await
        .expect("the store gave up within its timeout")
        .expect_err("the operation failed");
    err.to_string()
}

#[tokio::test]
async fn redis_down_is_a_clear_error_and_the_store_recovers() {
    let mut redis = Redis::start();
    let store = RedisStore::open(&redis.url()).unwrap();
    store.set("spell/s", "k", b"v".to_vec()).await.unwrap();
    let port = redis.port;
    redis.kill();
    let message = fails_soon(store.get("spell/s", "k")).await;
    assert!(
        message.contains("[state] url redis://127.0.0.1") && message.contains("server is up"),
        "{message}"
    );
    // Back (empty: this test's server keeps nothing on disk).
    let _redis = Redis::start_with(None, Some(port));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match store.set("spell/s", "k", b"again".to_vec()).await {
            Ok(()) => break,
            Err(err) => assert!(
                std::time::Instant::now() < deadline,
                "never recovered: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.get("spell/s", "k").await.unwrap(),
        Some(b"again".to_vec())
    );
}

#[tokio::test]
async fn postgres_down_is_a_clear_error_and_nothing_is_lost() {
    let mut postgres = Postgres::start();
    let store = PostgresStore::open(&postgres.url()).unwrap();
    store
        .set("spell/s", "k", b"committed".to_vec())
        .await
        .unwrap();
    postgres.kill();
    let message = fails_soon(store.get("spell/s", "k")).await;
    assert!(
        message.contains("[state] url postgres://spellhost:***@127.0.0.1")
            && message.contains("server is up")
            && !message.contains(support::servers::POSTGRES_PASSWORD),
        "{message}"
    );
    postgres.resume();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let value = loop {
        match store.get("spell/s", "k").await {
            Ok(value) => break value,
            Err(err) => assert!(
                std::time::Instant::now() < deadline,
                "never recovered: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        value,
        Some(b"committed".to_vec()),
        "a committed write survives the crash"
    );
}

#[tokio::test]
async fn wrong_credentials_name_the_setting() {
    let redis = Redis::start_with(Some("right"), None);
    let wrong = format!("redis://:wrong@127.0.0.1:{}/0", redis.port);
    let message = fails_soon(RedisStore::open(&wrong).unwrap().get("spell/s", "k")).await;
    assert!(
        message.contains("[state] url") && !message.contains("wrong@"),
        "{message}"
    );
    let right = RedisStore::open(&redis.url()).unwrap();
    assert_eq!(right.get("spell/s", "k").await.unwrap(), None);

    let postgres = Postgres::start();
    let wrong = postgres
        .url()
        .replace(support::servers::POSTGRES_PASSWORD, "wrong");
    let message = fails_soon(PostgresStore::open(&wrong).unwrap().get("spell/s", "k")).await;
    assert!(
        message.contains("[state] url")
            && message.contains("password authentication failed")
            && !message.contains(":wrong@"),
        "{message}"
    );
}

/// The same spell, unchanged, keeps its state on Redis or PostgreSQL when
/// `[state] url` says so: two `spellhost run` processes count on.
#[test]
fn a_spell_keeps_its_state_on_the_configured_server() {
    let redis = Redis::start();
    let postgres = Postgres::start();
    for url in [redis.url(), postgres.url()] {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("spellhost.toml");
        std::fs::write(&config, format!("[state]\nurl = \"{url}\"\n")).unwrap();
        let counts: Vec<String> = (0..2)
            .map(|_| {
                let out = support::spellhost_command(home.path())
                    .args(["run", "--config"])
                    .arg(&config)
                    .arg(support::guest("state_counter"))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap().trim().to_owned()
            })
            .collect();
        assert_eq!(counts, ["1", "2"], "{url}");
        assert!(
            !home.path().join("data/state.sqlite3").exists(),
            "nothing went to the default SQLite file"
        );
    }
    // A malformed setting stops before anything runs, naming it.
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("spellhost.toml");
    std::fs::write(&config, "[state]\nurl = \"redis://:pw@[::1\"\n").unwrap();
    let out = support::spellhost_command(home.path())
        .args(["run", "--config"])
        .arg(&config)
        .arg(support::guest("state_counter"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("[state] url"),
        "{stderr}"
    );
    assert!(!stderr.contains(":pw@"), "{stderr}");
}
