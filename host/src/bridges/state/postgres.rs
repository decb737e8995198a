//! State on PostgreSQL (`[state] url = "postgres://…"`), shared by every
//! process that names the same database.
//!
//! One table, `spellhost_state (namespace, key, value)`, in the schema
//! spellhost creates and migrates (`crate::pg`). Compare-and-swap is one
//! statement — `UPDATE … WHERE value = $expected`, or `INSERT … ON CONFLICT
//! DO NOTHING` for "absent" — whose row count says whether it swapped. Keys
//! are listed in byte order (`COLLATE "C"`), as the other stores do.

use super::store::{StateStore, StoreError};
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
