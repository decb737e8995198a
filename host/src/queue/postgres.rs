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
//! - `finish` stores the result under the run id — the first one stored
//!   stands — deletes the row if this take still holds it, and wakes
//!   whoever waits for it (`NOTIFY spellhost_done, run_id`), in one
//!   transaction; results older than a week go then too. A worker whose
//!   lease ran out learns it when it renews;
//! - a row that is not a run, or was taken [`MAX_TAKES`] times without
//!   finishing, leaves the queue with a failed result.
//!
//! Notifications are only wake-ups: a waiter reads the tables again, and
//! also after a bounded wait, so one lost on a dropped connection delays
//! and never loses.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::{Job, QueueError, RESULT_TTL, RunQueue, Taken};
use crate::pg::{Database, Notice};

const WAKE_WORKERS: &str = "spellhost_queue";
const DONE: &str = "spellhost_done";

/// Takes after which a run that never finished is given up.
const MAX_TAKES: i32 = 5;

/// The longest a waiter goes without reading the tables again.
const RECHECK: Duration = Duration::from_secs(1);

/// A run queue in a PostgreSQL database.
pub struct PostgresQueue {
    db: std::sync::Arc<Database>,
    lease: Duration,
}

impl PostgresQueue {
    /// A queue in the database `url` names; checked now, reached on first
    /// use.
    pub fn open(url: &str, lease: Duration) -> Result<Self, QueueError> {
        Ok(Self {
            db: Database::shared(url, "[queue] url", "run queue").map_err(QueueError)?,
            lease,
        })
    }

    fn failed(&self, what: &str, err: &tokio_postgres::Error) -> QueueError {
        QueueError(self.db.failed_db(what, err))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, QueueError> {
        self.db.client().await.map_err(QueueError)
    }

    /// Hands `consumer` the oldest row nobody holds, if any. A row that is
    /// not a run, or was taken [`MAX_TAKES`] times without finishing, gets
    /// a failed result instead and leaves the queue.
    async fn take_now(&self, consumer: &str) -> Result<Option<Taken>, QueueError> {
        let client = self.client().await?;
        let lease_ms = self.lease.as_secs_f64() * 1000.0;
        loop {
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
                     RETURNING q.seq, q.run_id, q.job, q.takes",
                    &[&consumer, &lease_ms],
                )
                .await
                .map_err(|e| self.failed("taking a run", &e))?;
            let Some(row) = row else { return Ok(None) };
            let (seq, run_id, json, takes): (i64, String, String, i32) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let entry = format!("{seq}:{takes}");
            let retries = u64::try_from(takes - 1).unwrap_or(0);
            let given_up = match serde_json::from_str::<Job>(&json) {
                Err(err) => format!("queue entry {seq} is not a run: {err}"),
                Ok(_) if takes > MAX_TAKES => format!(
                    "taken {MAX_TAKES} times by workers that stopped before finishing it; \
                     given up (a spell that crashes its worker?)"
                ),
                Ok(job) => {
                    return Ok(Some(Taken {
                        job,
                        entry,
                        retries,
                    }));
                }
            };
            tracing::warn!(run_id = %run_id, "{given_up}");
            let failed = serde_json::json!({
                "run_id": run_id, "ok": false, "retries": retries,
                "error": { "kind": "abandoned", "message": given_up },
            });
            let job = Job {
                run_id,
                ..Job::new("", "")
            };
            self.finish(
                &Taken {
                    job,
                    entry,
                    retries,
                },
                &failed,
            )
            .await?;
        }
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

    /// The row and the take a [`Taken`] names (`seq:takes`).
    fn entry(taken: &Taken) -> Result<(i64, i32), QueueError> {
        taken
            .entry
            .split_once(':')
            .and_then(|(seq, takes)| Some((seq.parse().ok()?, takes.parse().ok()?)))
            .ok_or_else(|| QueueError(format!("`{}` is not a PostgreSQL queue entry", taken.entry)))
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
        let mut notices = self.db.notices();
        poll_until(
            &mut notices,
            wait,
            |channel, _| channel == WAKE_WORKERS,
            || self.take_now(consumer),
        )
        .await
    }

    async fn renew(&self, consumer: &str, taken: &Taken) -> Result<(), QueueError> {
        let (seq, takes) = Self::entry(taken)?;
        let client = self.client().await?;
        let lease_ms = self.lease.as_secs_f64() * 1000.0;
        let renewed = client
            .execute(
                "UPDATE spellhost_queue
                 SET lease_until = clock_timestamp() + $4::float8 * interval '1 millisecond'
                 WHERE seq = $1 AND takes = $2 AND worker = $3",
                &[&seq, &takes, &consumer, &lease_ms],
            )
            .await
            .map_err(|e| self.failed("renewing a lease", &e))?;
        if renewed == 0 {
            return Err(QueueError::lease_lost(&taken.job.run_id));
        }
        Ok(())
    }

    async fn finish(&self, taken: &Taken, result: &serde_json::Value) -> Result<(), QueueError> {
        let (seq, takes) = Self::entry(taken)?;
        let json = result.to_string();
        let run_id = &taken.job.run_id;
        let keep_s = RESULT_TTL.as_secs_f64();
        let mut client = self.client().await?;
        let stored = async {
            let transaction = client.transaction().await?;
            transaction
                .execute(
                    "INSERT INTO spellhost_results (run_id, result) VALUES ($1, $2)
                     ON CONFLICT (run_id) DO NOTHING",
                    &[run_id, &json],
                )
                .await?;
            transaction
                .execute(
                    "DELETE FROM spellhost_queue WHERE seq = $1 AND takes = $2",
                    &[&seq, &takes],
                )
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
        let mut notices = self.db.notices();
        poll_until(
            &mut notices,
            within,
            |channel, payload| channel == DONE && payload == run_id,
            || self.stored_result(run_id),
        )
        .await
    }
}
