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

use super::store::{StateStore, StoreError};

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
    )
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

    async fn set(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |conn| upsert(conn, &namespace, &key, &value))
            .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |conn| {
            conn.execute(
                "DELETE FROM kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
            )
            .map(drop)
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

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.with(move |conn| {
            // IMMEDIATE takes the write lock up front, so the read and the
            // write below see no other writer in between, in any process.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
                    params![namespace, key],
                    |row| row.get(0),
                )
                .optional()?;
            if current != expected {
                return Ok(false);
            }
            upsert(&tx, &namespace, &key, &new)?;
            tx.commit()?;
            Ok(true)
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
