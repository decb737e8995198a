//! State on PostgreSQL (`[state] url = "postgres://…"`), shared by every
//! process that names the same database.
//!
//! One table, `spellhost_state (namespace, key, value)`, created and
//! migrated by spellhost: `spellhost_schema` records the version, and a
//! process applies what is missing inside one transaction under an
//! advisory lock, so two processes starting at once do not race.
//! Compare-and-swap is one statement — `UPDATE … WHERE value = $expected`,
//! or `INSERT … ON CONFLICT DO NOTHING` for "absent" — whose row count says
//! whether it swapped. Keys are listed in byte order (`COLLATE "C"`), as the
//! other stores do.
//!
//! Connections come from a pool made on first use; an operation waits at
//! most [`TIMEOUT`] for one, then fails with the setting to check (the URL
//! with its password hidden). TLS is not offered yet: use a local socket,
//! a private network or a TLS-terminating proxy.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

use super::store::{StateStore, StoreError};

/// How long one operation waits for a connection (connecting included).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per process.
const POOL_SIZE: usize = 16;

/// The schema, one step per version; a database at version N gets the
/// steps after N.
const MIGRATIONS: &[&str] = &[
    // 1: the state table.
    "CREATE TABLE spellhost_state (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (namespace, key)
    )",
];

/// Any number: the advisory lock migrations hold.
const MIGRATION_LOCK: i64 = 0x5350_454c_4c53_4854;

/// A state store in a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    /// The URL without its password, for errors.
    shown: String,
    /// Set once the schema is current.
    migrated: OnceCell<()>,
}

impl PostgresStore {
    /// A store in the database `url` names
    /// (`postgres://user:password@host[:port]/database`, or key=value
    /// settings). The URL is checked now; the database is reached on first
    /// use.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let shown = super::backend::redact(url);
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError(format!("[state] url {shown}: not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(TIMEOUT);
        config.application_name("spellhost");
        let manager = Manager::from_config(
            config,
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
            .map_err(|e| StoreError(format!("[state] url {shown}: {e}")))?;
        Ok(Self {
            pool,
            shown,
            migrated: OnceCell::new(),
        })
    }

    fn failed(&self, what: &str, err: impl std::fmt::Display) -> StoreError {
        StoreError(format!(
            "state on PostgreSQL, [state] url {}: {what} failed: {err}; check the setting and that the server is up",
            self.shown
        ))
    }

    /// A connection from the pool, the schema made current first.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        let mut client = self.pool.get().await.map_err(|e| {
            let why = match &e {
                deadpool_postgres::PoolError::Backend(db) => describe(db),
                other => other.to_string(),
            };
            self.failed("connecting", why)
        })?;
        self.migrated
            .get_or_try_init(|| async {
                migrate(&mut client)
                    .await
                    .map_err(|e| self.failed("creating its tables", describe(&e)))
            })
            .await?;
        Ok(client)
    }
}

/// A database error with the server's own message when there is one
/// (`password authentication failed for user …`).
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => err.to_string(),
    }
}

/// Brings the schema to the newest version, in one transaction under an
/// advisory lock (a second process waits, then finds it current).
async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    transaction
        .batch_execute("CREATE TABLE IF NOT EXISTS spellhost_schema (version INTEGER NOT NULL)")
        .await?;
    let version: i32 = transaction
        .query_opt("SELECT version FROM spellhost_schema", &[])
        .await?
        .map_or(0, |row| row.get(0));
    let version = usize::try_from(version).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(version) {
        transaction.batch_execute(step).await?;
    }
    if version < MIGRATIONS.len() {
        let newest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        transaction
            .execute("DELETE FROM spellhost_schema", &[])
            .await?;
        transaction
            .execute(
                "INSERT INTO spellhost_schema (version) VALUES ($1)",
                &[&newest],
            )
            .await?;
    }
    transaction.commit().await
}

#[async_trait::async_trait]
impl StateStore for PostgresStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT value FROM spellhost_state WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .await
            .map_err(|e| self.failed("reading", describe(&e)))?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn set(&self, namespace: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO spellhost_state (namespace, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value",
                &[&namespace, &key, &value],
            )
            .await
            .map_err(|e| self.failed("writing", describe(&e)))?;
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM spellhost_state WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .await
            .map_err(|e| self.failed("deleting", describe(&e)))?;
        Ok(())
    }

    async fn list_keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key FROM spellhost_state
                 WHERE namespace = $1 AND starts_with(key, $2)
                 ORDER BY key COLLATE \"C\"",
                &[&namespace, &prefix],
            )
            .await
            .map_err(|e| self.failed("listing", describe(&e)))?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    async fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let swapped =
            match expected {
                None => client
                    .execute(
                        "INSERT INTO spellhost_state (namespace, key, value) VALUES ($1, $2, $3)
                         ON CONFLICT (namespace, key) DO NOTHING",
                        &[&namespace, &key, &new],
                    )
                    .await,
                Some(expected) => {
                    client
                        .execute(
                            "UPDATE spellhost_state SET value = $3
                         WHERE namespace = $1 AND key = $2 AND value = $4",
                            &[&namespace, &key, &new, &expected],
                        )
                        .await
                }
            }
            .map_err(|e| self.failed("compare-and-swap", describe(&e)))?;
        Ok(swapped == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_names_the_setting_and_hides_the_password() {
        let Err(err) = PostgresStore::open("postgres://me:hunter2@host:notaport/db") else {
            panic!("a malformed URL was accepted");
        };
        assert!(err.0.contains("[state] url"), "{err}");
        assert!(!err.0.contains("hunter2"), "{err}");
    }
}
