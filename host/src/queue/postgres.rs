//! The run queue on PostgreSQL (`[queue] url = "postgres://…"`): a table of
//! waiting and taken runs, `spellhost_queue`, and one of results,
//! `spellhost_results`, in the schema spellhost migrates (`crate::pg`).
//!
//! - `submit` inserts a row and wakes workers (`NOTIFY spellhost_queue`);
//! - `take` hands out the oldest row nobody holds — never taken, or whose
//!   lease ran out — with `FOR UPDATE SKIP LOCKED`, so workers taking at
//!   once never get the same row and never wait on each other; the row
//!   gets the worker and a lease end, and counts the take;
//! - a worker keeps its claim by moving its lease end (`renew`);
//! - `finish` stores the result under the run id, deletes the row and
//!   wakes whoever waits for it (`NOTIFY spellhost_done, run_id`), in one
//!   transaction; results older than a week go then too.
//!
//! Notifications are only wake-ups: a waiter reads the tables again, and
//! also after a bounded wait, so one lost on a dropped connection delays
//! and never loses.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::{Job, QueueError, RESULT_TTL, RunQueue, Taken};
use crate::pg::{Database, Listener, Notice};

const WAKE_WORKERS: &str = "spellhost_queue";
const DONE: &str = "spellhost_done";

/// The longest a waiter goes without reading the tables again.
const RECHECK: Duration = Duration::from_secs(1);

/// A run queue in a PostgreSQL database.
pub struct PostgresQueue {
    db: Database,
    lease: Duration,
    listener: tokio::sync::OnceCell<Listener>,
}

impl PostgresQueue {
    /// A queue in the database `url` names; checked now, reached on first
    /// use.
    pub fn open(url: &str, lease: Duration) -> Result<Self, QueueError> {
        Ok(Self {
            db: Database::open(url, "[queue] url", "run queue").map_err(QueueError)?,
            lease,
            listener: tokio::sync::OnceCell::new(),
        })
    }

    fn failed(&self, what: &str, err: &tokio_postgres::Error) -> QueueError {
        QueueError(self.db.failed_db(what, err))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, QueueError> {
        self.db.client().await.map_err(QueueError)
    }

    /// Notices from now on (the listener starts on first use).
    async fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.listener
            .get_or_init(|| async { self.db.listen(&[WAKE_WORKERS, DONE]) })
            .await
            .subscribe()
    }

    /// Hands `consumer` the oldest row nobody holds, if any.
    async fn take_now(&self, consumer: &str) -> Result<Option<Taken>, QueueError> {
        let client = self.client().await?;
        let lease_ms = self.lease.as_secs_f64() * 1000.0;
        let row = client
            .query_opt(
                "UPDATE spellhost_queue AS q
                 SET worker = $1,
                     lease_until = clock_timestamp() + $2::float8 * interval '1 millisecond',
                     takes = q.takes + 1
                 FROM (SELECT seq FROM spellhost_queue
                       WHERE lease_until IS NULL OR lease_until < clock_timestamp()
                       ORDER BY seq LIMIT 1
                       FOR UPDATE SKIP LOCKED) AS next
                 WHERE q.seq = next.seq
                 RETURNING q.seq, q.job, q.takes",
                &[&consumer, &lease_ms],
            )
            .await
            .map_err(|e| self.failed("taking a run", &e))?;
        let Some(row) = row else { return Ok(None) };
        let (seq, json, takes): (i64, String, i32) = (row.get(0), row.get(1), row.get(2));
        let job: Job = serde_json::from_str(&json)
            .map_err(|e| QueueError(format!("queue entry {seq} is not a run: {e}")))?;
        Ok(Some(Taken {
            job,
            entry: seq.to_string(),
            retries: u64::try_from(takes - 1).unwrap_or(0),
        }))
    }

    async fn stored_result(&self, run_id: &str) -> Result<Option<serde_json::Value>, QueueError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT result FROM spellhost_results WHERE run_id = $1",
                &[&run_id],
            )
            .await
            .map_err(|e| self.failed("reading a result", &e))?;
        row.map(|row| {
            serde_json::from_str(row.get(0))
                .map_err(|e| QueueError(format!("the result of run {run_id} is not JSON: {e}")))
        })
        .transpose()
    }

    fn seq(taken: &Taken) -> Result<i64, QueueError> {
        taken
            .entry
            .parse()
            .map_err(|_| QueueError(format!("`{}` is not a PostgreSQL queue entry", taken.entry)))
    }
}

/// Asks `check` until it finds something or `within` has passed, waking
/// up to ask again when `wanted` is heard (or at least every
/// [`RECHECK`]).
async fn poll_until<T, F>(
    notices: &mut tokio::sync::broadcast::Receiver<Notice>,
    within: Duration,
    wanted: impl Fn(&str, &str) -> bool,
    mut check: impl FnMut() -> F,
) -> Result<Option<T>, QueueError>
where
    F: std::future::Future<Output = Result<Option<T>, QueueError>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await? {
            return Ok(Some(found));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        wake(notices, deadline, &wanted).await;
    }
}

/// Waits until `wanted` is heard, the listener reconnects, or `until`
/// (capped at [`RECHECK`]) passes; then the caller reads again.
async fn wake(
    notices: &mut tokio::sync::broadcast::Receiver<Notice>,
    until: tokio::time::Instant,
    wanted: &impl Fn(&str, &str) -> bool,
) {
    let until = until.min(tokio::time::Instant::now() + RECHECK);
    let heard = async {
        loop {
            match notices.recv().await {
                Ok(Notice::Notify { channel, payload }) if wanted(&channel, &payload) => return,
                Ok(Notice::Notify { .. }) => {}
                Ok(Notice::Reconnected) | Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout_at(until, heard).await;
}

#[async_trait::async_trait]
impl RunQueue for PostgresQueue {
    async fn submit(&self, job: &Job) -> Result<(), QueueError> {
        let json = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        let client = self.client().await?;
        client
            .execute(
                "WITH added AS (INSERT INTO spellhost_queue (run_id, job) VALUES ($1, $2) RETURNING seq)
                 SELECT pg_notify('spellhost_queue', '') FROM added",
                &[&job.run_id, &json],
            )
            .await
            .map_err(|e| self.failed("submitting a run", &e))?;
        Ok(())
    }

    async fn take(&self, consumer: &str, wait: Duration) -> Result<Option<Taken>, QueueError> {
        let mut notices = self.notices().await;
        poll_until(
            &mut notices,
            wait,
            |channel, _| channel == WAKE_WORKERS,
            || self.take_now(consumer),
        )
        .await
    }

    async fn renew(&self, consumer: &str, taken: &Taken) -> Result<(), QueueError> {
        let client = self.client().await?;
        let lease_ms = self.lease.as_secs_f64() * 1000.0;
        client
            .execute(
                "UPDATE spellhost_queue
                 SET lease_until = clock_timestamp() + $3::float8 * interval '1 millisecond'
                 WHERE seq = $1 AND worker = $2",
                &[&Self::seq(taken)?, &consumer, &lease_ms],
            )
            .await
            .map_err(|e| self.failed("renewing a lease", &e))?;
        Ok(())
    }

    async fn finish(&self, taken: &Taken, result: &serde_json::Value) -> Result<(), QueueError> {
        let seq = Self::seq(taken)?;
        let json = result.to_string();
        let run_id = &taken.job.run_id;
        let keep_s = RESULT_TTL.as_secs_f64();
        let mut client = self.client().await?;
        let stored = async {
            let transaction = client.transaction().await?;
            transaction
                .execute(
                    "INSERT INTO spellhost_results (run_id, result) VALUES ($1, $2)
                     ON CONFLICT (run_id) DO UPDATE
                     SET result = EXCLUDED.result, finished_at = now()",
                    &[run_id, &json],
                )
                .await?;
            transaction
                .execute("DELETE FROM spellhost_queue WHERE seq = $1", &[&seq])
                .await?;
            transaction
                .execute(
                    "DELETE FROM spellhost_results
                     WHERE finished_at < now() - $1::float8 * interval '1 second'",
                    &[&keep_s],
                )
                .await?;
            transaction
                .execute("SELECT pg_notify('spellhost_done', $1)", &[run_id])
                .await?;
            transaction.commit().await
        };
        stored
            .await
            .map_err(|e| self.failed("storing a result", &e))
    }

    async fn result(
        &self,
        run_id: &str,
        within: Duration,
    ) -> Result<Option<serde_json::Value>, QueueError> {
        let mut notices = self.notices().await;
        poll_until(
            &mut notices,
            within,
            |channel, payload| channel == DONE && payload == run_id,
            || self.stored_result(run_id),
        )
        .await
    }
}
