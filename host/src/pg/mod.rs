//! One PostgreSQL database shared by state, events and the run queue
//! (`[state] url`, `[events] url`, `[queue] url` naming `postgres://…`):
//! a connection pool made on first use, the schema spellhost creates and
//! migrates ([`schema`]), and a listener for `NOTIFY` wake-ups
//! ([`listen`]).
//!
//! An operation waits at most [`TIMEOUT`] for a connection, then fails
//! with the setting to check (the URL with its password hidden). TLS is
//! not offered yet: use a local socket, a private network or a
//! TLS-terminating proxy.

pub mod listen;
mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

pub use listen::{Listener, Notice};

/// How long one operation waits for a connection (connecting included).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per process and setting.
const POOL_SIZE: usize = 16;

/// Every channel spellhost notifies on; one listener per database hears
/// them all.
pub const CHANNELS: &[&str] = &["spellhost_queue", "spellhost_done", "spellhost_events"];

/// A database, as one setting names it.
pub struct Database {
    pool: Pool,
    config: tokio_postgres::Config,
    /// `[state] url postgres://me:***@host/db`: the setting and its value,
    /// for errors.
    setting: String,
    /// What it holds here (`state`, `the run queue`), for errors.
    role: &'static str,
    migrated: OnceCell<()>,
    listener: OnceLock<Listener>,
}

impl Database {
    /// The database `url` names, shared by everything in this process
    /// that reads it from `setting`: one pool and one listener, however
    /// many tenants' event logs or queues use it.
    pub fn shared(url: &str, setting: &str, role: &'static str) -> Result<Arc<Self>, String> {
        /// Databases open in this process, by URL and setting.
        type Open = Mutex<HashMap<(String, String), Arc<Database>>>;
        static OPEN: OnceLock<Open> = OnceLock::new();
        let mut open = OPEN
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let key = (url.to_owned(), setting.to_owned());
        if let Some(db) = open.get(&key) {
            return Ok(db.clone());
        }
        let db = Arc::new(Self::open(url, setting, role)?);
        open.insert(key, db.clone());
        Ok(db)
    }

    /// The database `url` names (`postgres://user:password@host[:port]/db`
    /// or key=value settings), read from `setting` (`[state] url`) to hold
    /// `role`. The URL is checked now; the server is reached on first use.
    pub fn open(url: &str, setting: &str, role: &'static str) -> Result<Self, String> {
        let setting = format!("{setting} {}", crate::bridges::state::backend::redact(url));
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| format!("{setting}: not a PostgreSQL URL: {e}"))?;
        config.connect_timeout(TIMEOUT);
        config.application_name("spellhost");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| format!("{setting}: {e}"))?;
        Ok(Self {
            pool,
            config,
            setting,
            role,
            migrated: OnceCell::new(),
            listener: OnceLock::new(),
        })
    }

    /// The message for a failed operation: what failed, why, and the
    /// setting to check.
    pub fn failed(&self, what: &str, err: impl std::fmt::Display) -> String {
        format!(
            "{} on PostgreSQL, {}: {what} failed: {err}; check the setting and that the server is up",
            self.role, self.setting
        )
    }

    /// [`Self::failed`] for a database error, with the server's own words.
    pub fn failed_db(&self, what: &str, err: &tokio_postgres::Error) -> String {
        self.failed(what, describe(err))
    }

    /// A connection from the pool, the schema made current first.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        let mut client = self.pool.get().await.map_err(|e| {
            let why = match &e {
                deadpool_postgres::PoolError::Backend(db) => describe(db),
                other => other.to_string(),
            };
            self.failed("connecting", why)
        })?;
        self.migrated
            .get_or_try_init(|| async {
                schema::migrate(&mut client)
                    .await
                    .map_err(|e| self.failed_db("creating its tables", &e))
            })
            .await?;
        Ok(client)
    }

    /// Notifications on spellhost's [`CHANNELS`] from now on, heard on one
    /// connection of this database's own (started on first use, within a
    /// tokio runtime). Subscribe before reading the tables, so a
    /// notification in between is not missed.
    pub fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.listener
            .get_or_init(|| Listener::start(self.config.clone(), CHANNELS, self.setting.clone()))
            .subscribe()
    }
}

/// A database error with the server's own message when there is one
/// (`password authentication failed for user …`).
pub fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => err.to_string(),
    }
}
