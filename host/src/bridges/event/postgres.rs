//! The shared event log in PostgreSQL (`[events] url = "postgres://…"`):
//! an outbox table, `spellhost_events`, with `NOTIFY spellhost_events` as
//! the wake-up (`crate::pg`).
//!
//! Rows are read in the order their transactions are known complete: a
//! reader's cursor is a `(transaction id, row id)` pair, and it only reads
//! rows whose transaction is older than every transaction still running
//! (`pg_snapshot_xmin`). A row id alone would not do: ids are handed out
//! when rows are inserted, not when they commit, so a reader could pass one
//! that commits late and never see it.
//!
//! A notification is a hint; a reader also looks again after a bounded
//! wait, so one lost on a dropped connection delays and never loses. Each
//! stream keeps its newest [`STREAM_LENGTH`] rows: every thousandth append
//! deletes older ones.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::link::{Batch, Cursor, STREAM_LENGTH, SharedLog};
use crate::pg::{Database, Notice};

const CHANNEL: &str = "spellhost_events";

/// The longest a reader waits before looking again.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// Rows one read returns at most.
const READ_COUNT: i64 = 512;

/// Appends between two trims, on average.
const TRIM_EVERY: u64 = 1000;

/// The event log of one scope in a PostgreSQL database.
pub struct PostgresLog {
    db: std::sync::Arc<Database>,
    stream: String,
    shown: String,
}

impl PostgresLog {
    /// The log of `stream` in the database `url` names; checked now,
    /// reached on first use.
    pub fn open(url: &str, stream: String) -> Result<Self, String> {
        Ok(Self {
            db: Database::shared(url, "[events] url", "events")?,
            shown: format!(
                "[events] url {}",
                crate::bridges::state::backend::redact(url)
            ),
            stream,
        })
    }

    async fn rows(&self, tx: &str, id: i64) -> Result<Vec<tokio_postgres::Row>, String> {
        let client = self.db.client().await?;
        client
            .query(
                "SELECT tx::text, id, origin, event FROM spellhost_events
                 WHERE stream = $1 AND (tx, id) > ($2::text::xid8, $3)
                   AND tx < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY tx, id LIMIT $4",
                &[&self.stream, &tx, &id, &READ_COUNT],
            )
            .await
            .map_err(|e| self.db.failed_db("reading events", &e))
    }
}

/// A cursor: a transaction id and a row id (`812 40`).
fn split(cursor: &str) -> (&str, i64) {
    let (tx, id) = cursor.split_once(' ').unwrap_or((cursor, "0"));
    (tx, id.parse().unwrap_or(0))
}

#[async_trait::async_trait]
impl SharedLog for PostgresLog {
    fn shown(&self) -> &str {
        &self.shown
    }

    async fn append(&self, origin: &str, json: &str) -> Result<(), String> {
        let client = self.db.client().await?;
        client
            .execute(
                "WITH added AS (
                    INSERT INTO spellhost_events (stream, origin, event) VALUES ($1, $2, $3)
                    RETURNING id)
                 SELECT pg_notify('spellhost_events', $1) FROM added",
                &[&self.stream, &origin, &json],
            )
            .await
            .map_err(|e| self.db.failed_db("sharing an event", &e))?;
        // Any process may trim, short-lived ones too: about every
        // thousandth append does.
        if uuid::Uuid::new_v4()
            .as_u128()
            .is_multiple_of(u128::from(TRIM_EVERY))
        {
            let keep = STREAM_LENGTH as i64;
            client
                .execute(
                    "DELETE FROM spellhost_events WHERE stream = $1 AND id < (
                        SELECT id FROM spellhost_events WHERE stream = $1
                        ORDER BY id DESC OFFSET $2 LIMIT 1)",
                    &[&self.stream, &keep],
                )
                .await
                .map_err(|e| self.db.failed_db("trimming events", &e))?;
        }
        Ok(())
    }

    async fn end(&self) -> Result<Cursor, String> {
        let client = self.db.client().await?;
        let row = client
            .query_one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", &[])
            .await
            .map_err(|e| self.db.failed_db("following events", &e))?;
        let xmin: String = row.get(0);
        Ok(format!("{xmin} 0"))
    }

    async fn read(&self, cursor: &mut Cursor) -> Result<Batch, String> {
        let mut notices = self.db.notices();
        let (tx, id) = split(cursor);
        let mut rows = self.rows(tx, id).await?;
        if rows.is_empty() {
            let stream = self.stream.as_str();
            let heard = async {
                loop {
                    match notices.recv().await {
                        Ok(Notice::Notify { channel, payload })
                            if channel == CHANNEL && payload == stream =>
                        {
                            return;
                        }
                        Ok(Notice::Notify { .. }) => {}
                        Ok(Notice::Reconnected) | Err(RecvError::Lagged(_)) => return,
                        Err(RecvError::Closed) => std::future::pending::<()>().await,
                    }
                }
            };
            let _ = tokio::time::timeout(READ_BLOCK, heard).await;
            rows = self.rows(tx, id).await?;
        }
        if let Some(last) = rows.last() {
            *cursor = format!("{} {}", last.get::<_, String>(0), last.get::<_, i64>(1));
        }
        let entries = rows
            .into_iter()
            .map(|row| (row.get(2), row.get(3)))
            .collect();
        Ok(Batch { entries, missed: 0 })
    }
}
