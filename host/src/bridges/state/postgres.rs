//! State on PostgreSQL (`[state] url = "postgres://…"`), shared by every
//! process that names the same database.
//!
//! One table, `spellhost_state (namespace, key, value)`, in the schema
//! spellhost creates and migrates (`crate::pg`), and beside it
//! `spellhost_state_usage`, what each namespace holds. A write or delete is
//! one transaction that first locks its namespace's usage row (`FOR
//! UPDATE`): writers of one namespace take turns, so the condition of a
//! compare-and-swap, the quota check and the write see no other writer in
//! between; other namespaces are not held up. Keys are listed in byte
//! order (`COLLATE "C"`), as the other stores do.

use super::store::{Condition, StateStore, StoreError, Usage, WriteError, check_quota};
use crate::limits::StateQuota;
use crate::pg::{Database, describe};

/// A state store in a PostgreSQL database.
pub struct PostgresStore {
    db: Database,
}

impl PostgresStore {
    /// A store in the database `url` names; checked now, reached on first
    /// use.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            db: Database::open(url, "[state] url", "state").map_err(StoreError)?,
        })
    }

    fn failed(&self, what: &str, err: impl std::fmt::Display) -> StoreError {
        StoreError(self.db.failed(what, err))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.db.client().await.map_err(StoreError)
    }
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

    async fn write(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        condition: Condition,
        quota: StateQuota,
    ) -> Result<bool, WriteError> {
        let mut client = self.client().await?;
        let failed = |e: tokio_postgres::Error| self.failed("writing", describe(&e));
        let tx = client.transaction().await.map_err(failed)?;
        let before = lock_usage(&tx, namespace).await.map_err(failed)?;
        let old: Option<Vec<u8>> = tx
            .query_opt(
                "SELECT value FROM spellhost_state WHERE namespace = $1 AND key = $2",
                &[&namespace, &key],
            )
            .await
            .map_err(failed)?
            .map(|row| row.get(0));
        if !condition.holds(old.as_deref()) {
            return Ok(false);
        }
        let after = before.after(key, old.map(|v| v.len() as u64), Some(value.len() as u64));
        check_quota(namespace, before, after, quota)?;
        tx.execute(
            "INSERT INTO spellhost_state (namespace, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value",
            &[&namespace, &key, &value],
        )
        .await
        .map_err(failed)?;
        store_usage(&tx, namespace, after).await.map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(true)
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let failed = |e: tokio_postgres::Error| self.failed("deleting", describe(&e));
        let tx = client.transaction().await.map_err(failed)?;
        let before = lock_usage(&tx, namespace).await.map_err(failed)?;
        let removed = tx
            .query_opt(
                "DELETE FROM spellhost_state WHERE namespace = $1 AND key = $2
                 RETURNING octet_length(value)",
                &[&namespace, &key],
            )
            .await
            .map_err(failed)?;
        if let Some(row) = removed {
            let old: i32 = row.get(0);
            let after = before.after(key, Some(old.max(0) as u64), None);
            store_usage(&tx, namespace, after).await.map_err(failed)?;
        }
        tx.commit().await.map_err(failed)
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

    async fn usage(&self, prefix: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT namespace, bytes, keys FROM spellhost_state_usage
                 WHERE starts_with(namespace, $1) AND keys > 0
                 ORDER BY namespace COLLATE \"C\"",
                &[&prefix],
            )
            .await
            .map_err(|e| self.failed("reading usage", describe(&e)))?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get(0), Usage::from_counts(row.get(1), row.get(2))))
            .collect())
    }
}

/// Locks `namespace`'s usage row (creating it) and reads it.
async fn lock_usage(
    tx: &deadpool_postgres::Transaction<'_>,
    namespace: &str,
) -> Result<Usage, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO spellhost_state_usage (namespace, bytes, keys) VALUES ($1, 0, 0)
         ON CONFLICT (namespace) DO NOTHING",
        &[&namespace],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT bytes, keys FROM spellhost_state_usage WHERE namespace = $1 FOR UPDATE",
            &[&namespace],
        )
        .await?;
    Ok(Usage::from_counts(row.get(0), row.get(1)))
}

async fn store_usage(
    tx: &deadpool_postgres::Transaction<'_>,
    namespace: &str,
    usage: Usage,
) -> Result<(), tokio_postgres::Error> {
    let (bytes, keys) = (usage.bytes as i64, usage.keys as i64);
    tx.execute(
        "UPDATE spellhost_state_usage SET bytes = $2, keys = $3 WHERE namespace = $1",
        &[&namespace, &bytes, &keys],
    )
    .await
    .map(drop)
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
