//! The default persistent store: one SQLite database file.
//!
//! SQLite rather than redb because several `spellhost run` processes share
//! one state file: SQLite's WAL mode lets them read concurrently and
//! serialises writers through file locks (with a busy timeout), whereas redb
//! takes an exclusive lock on the whole file for the lifetime of a process.
//! The connection is opened lazily, so spells that never touch state never
//! pay for opening the database.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::store::{Condition, StateStore, StoreError, Usage, WriteError, check_quota};
use crate::limits::StateQuota;

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A SQLite-backed store at a path.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: OnceLock<Result<Mutex<Connection>, StoreError>>,
}

impl SqliteStore {
    /// A store at `path`; the file (and its directory) is created on first use.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.into(),
                conn: OnceLock::new(),
            }),
        }
    }

    /// `$SPELLHOST_DATA_DIR/state.sqlite3`, else the user's data directory
    /// (`~/.local/share/spellhost/state.sqlite3` on Linux).
    pub fn default_path() -> PathBuf {
        let dir = std::env::var_os("SPELLHOST_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::data_dir().map(|d| d.join("spellhost")))
            .unwrap_or_else(|| PathBuf::from(".spellhost"));
        dir.join("state.sqlite3")
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `op` on the connection (opening it first if needed) on tokio's
    /// blocking pool: SQLite may wait on another process's lock.
    async fn with<R: Send + 'static>(
        &self,
        op: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner
                .conn
                .get_or_init(|| open(&inner.path).map(Mutex::new))
                .as_ref()
                .map_err(Clone::clone)?;
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            op(&mut conn)
                .map_err(|e| StoreError(format!("state store {}: {e}", inner.path.display())))
        })
        .await
        .map_err(|e| StoreError(format!("state store task failed: {e}")))?
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        StoreError(format!("{what} state store {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail("creating the directory of the", &e))?;
    }
    let conn = Connection::open(path).map_err(|e| fail("opening the", &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("configuring the", &e))?;
    // Switching a new database to WAL can fail with SQLITE_BUSY without
    // consulting the busy handler while another process does the same, so
    // initialisation retries on its own until the busy timeout.
    let started = std::time::Instant::now();
    loop {
        match initialise(&conn) {
            Ok(()) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(fail("initialising the", &e)),
        }
    }
    Ok(conn)
}

fn initialise(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        })?;
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS kv (
             namespace TEXT NOT NULL,
             key TEXT NOT NULL,
             value BLOB NOT NULL,
             updated_ms INTEGER NOT NULL,
             PRIMARY KEY (namespace, key)
         ) WITHOUT ROWID;",
    )?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version < SCHEMA_VERSION {
        migrate(conn)?;
    }
    Ok(())
}

/// The schema's version (`PRAGMA user_version`): 1 added `kv_usage`.
const SCHEMA_VERSION: i64 = 1;

/// Adds what a database written by an older spellhost lacks, under the
/// write lock (another process may be doing the same).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let steps = || -> rusqlite::Result<()> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version < 1 {
            // What each namespace holds, kept with every write so a quota
            // check does not scan the namespace; counted once from what an
            // older version wrote.
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS kv_usage (
                     namespace TEXT PRIMARY KEY,
                     bytes INTEGER NOT NULL,
                     keys INTEGER NOT NULL
                 ) WITHOUT ROWID;
                 DELETE FROM kv_usage;
                 INSERT INTO kv_usage (namespace, bytes, keys)
                     SELECT namespace, SUM(length(CAST(key AS BLOB)) + length(value)), COUNT(*)
                     FROM kv GROUP BY namespace;",
            )?;
        }
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
    };
    match steps() {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

fn usage_of(conn: &Connection, namespace: &str) -> rusqlite::Result<Usage> {
    conn.query_row(
        "SELECT bytes, keys FROM kv_usage WHERE namespace = ?1",
        params![namespace],
        |row| Ok(Usage::from_counts(row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map(Option::unwrap_or_default)
}

fn set_usage(conn: &Connection, namespace: &str, usage: Usage) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO kv_usage (namespace, bytes, keys) VALUES (?1, ?2, ?3)
         ON CONFLICT (namespace) DO UPDATE SET bytes = excluded.bytes, keys = excluded.keys",
        params![namespace, usage.bytes as i64, usage.keys as i64],
    )?;
    Ok(())
}

fn current(conn: &Connection, namespace: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
        params![namespace, key],
        |row| row.get(0),
    )
    .optional()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn upsert(conn: &Connection, namespace: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO kv (namespace, key, value, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
        params![namespace, key, value, now_ms()],
    )?;
    Ok(())
}

#[async_trait::async_trait]
impl StateStore for SqliteStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |conn| {
            conn.query_row(
                "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn write(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        quota: StateQuota,
    ) -> Result<bool, WriteError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        let outcome = self
            .with(move |conn| {
                // IMMEDIATE takes the write lock up front, so the reads and
                // the write below see no other writer in between, in any
                // process.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let old = current(&tx, &namespace, &key)?;
                if !condition.holds(old.as_deref()) {
                    return Ok(Ok(false));
                }
                let before = usage_of(&tx, &namespace)?;
                let after =
                    before.after(&key, old.map(|v| v.len() as u64), Some(value.len() as u64));
                if let Err(exceeded) = check_quota(&namespace, before, after, quota) {
                    return Ok(Err(exceeded));
                }
                upsert(&tx, &namespace, &key, &value)?;
                set_usage(&tx, &namespace, after)?;
                tx.commit()?;
                Ok(Ok(true))
            })
            .await?;
        Ok(outcome?)
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(old) = current(&tx, &namespace, &key)? {
                tx.execute(
                    "DELETE FROM kv WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                )?;
                let before = usage_of(&tx, &namespace)?;
                set_usage(
                    &tx,
                    &namespace,
                    before.after(&key, Some(old.len() as u64), None),
                )?;
            }
            tx.commit()
        })
        .await
    }

    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (namespace, prefix) = (namespace.to_owned(), prefix.to_owned());
        self.with(move |conn| {
            // substr() rather than LIKE: keys may contain `%` and `_`.
            let mut stmt = conn.prepare_cached(
                "SELECT key FROM kv WHERE namespace = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let keys = stmt.query_map(params![namespace, prefix], |row| row.get(0))?;
            keys.collect()
        })
        .await
    }

    async fn usage(&self, prefix: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let prefix = prefix.to_owned();
        self.with(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT namespace, bytes, keys FROM kv_usage
                 WHERE substr(namespace, 1, length(?1)) = ?1 AND keys > 0 ORDER BY namespace",
            )?;
            let rows = stmt.query_map(params![prefix], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    Usage::from_counts(row.get(1)?, row.get(2)?),
                ))
            })?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        super::super::store::check_store_contract(&SqliteStore::new(dir.path().join("s.db"))).await;
    }

    /// A database an older spellhost wrote (no `kv_usage`) is counted
    /// once, when it is first opened.
    #[tokio::test]
    async fn usage_is_counted_for_databases_written_before_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                              updated_ms INTEGER NOT NULL, PRIMARY KEY (namespace, key)) WITHOUT ROWID;
             INSERT INTO kv VALUES ('spell/old', 'é', x'0102', 0), ('spell/old', 'k', x'', 0);",
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::new(&path);
        let usage = store.usage("spell/").await.unwrap();
        assert_eq!(
            usage,
            [("spell/old".to_owned(), Usage { bytes: 5, keys: 2 })]
        );
    }

    #[tokio::test]
    async fn values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/state.sqlite3");
        SqliteStore::new(&path)
            .set("spell/x", "k", b"v".to_vec())
            .await
            .unwrap();
        let reopened = SqliteStore::new(&path);
        assert_eq!(
            reopened.get("spell/x", "k").await.unwrap(),
            Some(b"v".to_vec())
        );
    }

    /// Four independent connections (as four processes would have) race to
    /// increment one counter with compare-and-swap; no increment is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_lose_no_updates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite3");
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = SqliteStore::new(&path);
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    loop {
                        let current = store.get("ns", "counter").await.unwrap();
                        let n: u64 = current
                            .as_deref()
                            .map_or(0, |b| std::str::from_utf8(b).unwrap().parse().unwrap());
                        let next = (n + 1).to_string().into_bytes();
                        if store
                            .compare_and_swap("ns", "counter", current, next)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let value = SqliteStore::new(&path)
            .get("ns", "counter")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(value, b"100");
    }

    #[tokio::test]
    async fn keys_with_like_wildcards_list_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::new(dir.path().join("s.db"));
        for key in ["a%b", "a_c", "abc"] {
            store.set("n", key, vec![]).await.unwrap();
        }
        assert_eq!(store.list_keys("n", "a%").await.unwrap(), ["a%b"]);
        assert_eq!(store.list_keys("n", "a_").await.unwrap(), ["a_c"]);
    }
}
