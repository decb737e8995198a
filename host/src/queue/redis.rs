//! The run queue on Redis: one stream, `spellhost:queue`, read by the
//! consumer group `workers`.
//!
//! - `submit` appends a job (`XADD`);
//! - `take` first reclaims a job whose worker has been silent for a lease
//!   (`XAUTOCLAIM`), else reads a new one (`XREADGROUP … >`), blocking up to
//!   the wait asked for;
//! - a worker keeps its claim alive while the run goes on (`renew`:
//!   `XCLAIM … JUSTID`, which resets the entry's idle time);
//! - `finish` stores the result under the run id for a week — the first
//!   one stored stands —
//!   (`spellhost:result:<id>`), wakes whoever waits for it
//!   (`spellhost:done:<id>`), and acknowledges and deletes the entry — in
//!   one `MULTI`.
//!
//! A job is in the group's pending list from the moment a worker takes it
//! until it is finished: a worker killed mid-run leaves it there, and
//! another takes it once the lease has run out.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{Job, QueueError, RESULT_TTL, RunQueue, Taken};

const STREAM: &str = "spellhost:queue";
const GROUP: &str = "workers";
const RESULT_TTL_SECONDS: u64 = RESULT_TTL.as_secs();

fn result_key(run_id: &str) -> String {
    format!("spellhost:result:{run_id}")
}

fn done_key(run_id: &str) -> String {
    format!("spellhost:done:{run_id}")
}

/// One stream entry: its id and its fields.
type Entry = (String, Vec<(String, String)>);

/// A run queue on a Redis server.
pub struct RedisQueue {
    client: redis::Client,
    connection: ConnectionManager,
    shown: String,
    lease: Duration,
    group: OnceCell<()>,
    /// The connection for blocking commands, made on first use.
    blocking: OnceCell<ConnectionManager>,
}

impl RedisQueue {
    /// A queue on the server `url`; checked now, reached on first use.
    pub fn open(url: &str, lease: Duration) -> Result<Self, QueueError> {
        let shown = crate::bridges::state::backend::redact(url);
        let client = redis::Client::open(url)
            .map_err(|e| QueueError(format!("[queue] url {shown}: not a Redis URL: {e}")))?;
        let connection = client
            .get_connection_manager_lazy(
                ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(Duration::from_secs(5)))
                    .set_number_of_retries(1),
            )
            .map_err(|e| QueueError(format!("[queue] url {shown}: {e}")))?;
        Ok(Self {
            client,
            connection,
            shown,
            lease,
            group: OnceCell::new(),
            blocking: OnceCell::new(),
        })
    }

    /// Runs a command that blocks on the server for up to `wait`, on the
    /// connection kept for those (a blocked command holds up whatever is
    /// pipelined behind it, so it never shares the main one).
    async fn blocking<T: redis::FromRedisValue>(
        &self,
        wait: Duration,
        what: &str,
        command: redis::Cmd,
    ) -> Result<T, QueueError> {
        let connection = self
            .blocking
            .get_or_try_init(|| async {
                self.client
                    .get_connection_manager_lazy(
                        ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(Duration::from_secs(5)))
                            .set_response_timeout(None)
                            .set_number_of_retries(1),
                    )
                    .map_err(|e| self.failed("connecting", e))
            })
            .await?;
        let mut connection = connection.clone();
        let reply = command.query_async(&mut connection);
        match tokio::time::timeout(wait + Duration::from_secs(5), reply).await {
            Ok(reply) => reply.map_err(|e| self.failed(what, e)),
            Err(_) => Err(self.failed(what, "no answer from the server")),
        }
    }

    fn failed(&self, what: &str, err: impl std::fmt::Display) -> QueueError {
        QueueError(format!(
            "run queue on Redis, [queue] url {}: {what} failed: {err}; check the setting and that the server is up",
            self.shown
        ))
    }

    /// The consumer group, created with the stream if need be.
    async fn group(&self) -> Result<(), QueueError> {
        self.group
            .get_or_try_init(|| async {
                let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(STREAM)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut self.connection.clone())
                    .await;
                match created {
                    Err(err) if err.code() != Some("BUSYGROUP") => {
                        Err(self.failed("creating the workers' group", err))
                    }
                    _ => Ok(()),
                }
            })
            .await
            .map(|_| ())
    }

    fn taken(&self, (entry, fields): Entry, reclaimed: bool) -> Result<Taken, QueueError> {
        let json = fields
            .iter()
            .find(|(k, _)| k == "job")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let job: Job = serde_json::from_str(json)
            .map_err(|e| QueueError(format!("queue entry {entry} is not a run: {e}")))?;
        Ok(Taken {
            job,
            entry,
            retries: u64::from(reclaimed),
        })
    }
}

#[async_trait::async_trait]
impl RunQueue for RedisQueue {
    /// Adds `job` to the queue.
    async fn submit(&self, job: &Job) -> Result<(), QueueError> {
        self.group().await?;
        let json = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        redis::cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg("job")
            .arg(json)
            .query_async::<String>(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("submitting a run", e))?;
        Ok(())
    }

    /// The next job for `consumer`: one whose worker went silent for a
    /// lease, else a new one, waiting up to `wait` for one to come.
    async fn take(&self, consumer: &str, wait: Duration) -> Result<Option<Taken>, QueueError> {
        self.group().await?;
        let mut connection = self.connection.clone();
        let reply: Vec<redis::Value> = redis::cmd("XAUTOCLAIM")
            .arg(STREAM)
            .arg(GROUP)
            .arg(consumer)
            .arg(self.lease.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await
            .map_err(|e| self.failed("reclaiming an abandoned run", e))?;
        let reclaimed: Vec<Entry> = match reply.get(1) {
            Some(entries) => redis::from_redis_value_ref(entries)
                .map_err(|e| self.failed("reading a reclaimed run", e))?,
            None => Vec::new(),
        };
        if let Some(entry) = reclaimed.into_iter().next() {
            return self.taken(entry, true).map(Some);
        }
        let read: Option<Vec<(String, Vec<Entry>)>> = self
            .blocking(
                wait,
                "taking a run",
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(consumer)
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(wait.as_millis().max(1) as u64)
                    .arg("STREAMS")
                    .arg(STREAM)
                    .arg(">")
                    .to_owned(),
            )
            .await?;
        let entry = read
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, entries)| entries)
            .next();
        entry.map(|entry| self.taken(entry, false)).transpose()
    }

    /// Tells the queue `consumer` still works on `taken` (call within every
    /// lease, or another worker takes it).
    async fn renew(&self, consumer: &str, taken: &Taken) -> Result<(), QueueError> {
        // Only while it is still this consumer's: a lease that ran out may
        // have been reclaimed by another worker, which then keeps it.
        let renewed: i64 = redis::Script::new(
            "local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
             if #held == 0 then return 0 end
             redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
             return 1",
        )
        .key(STREAM)
        .arg(GROUP)
        .arg(&taken.entry)
        .arg(consumer)
        .invoke_async(&mut self.connection.clone())
        .await
        .map_err(|e| self.failed("renewing a lease", e))?;
        if renewed == 0 {
            return Err(QueueError::lease_lost(&taken.job.run_id));
        }
        Ok(())
    }

    /// Stores the result of `taken`'s run and removes it from the queue.
    async fn finish(&self, taken: &Taken, result: &serde_json::Value) -> Result<(), QueueError> {
        let json = result.to_string();
        let run_id = &taken.job.run_id;
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(result_key(run_id))
            .arg(&json)
            .arg("EX")
            .arg(RESULT_TTL_SECONDS)
            // The first result stored stands (a worker that outlived its
            // lease may finish second).
            .arg("NX")
            .ignore()
            .cmd("RPUSH")
            .arg(done_key(run_id))
            .arg(&json)
            .ignore()
            .cmd("EXPIRE")
            .arg(done_key(run_id))
            .arg(RESULT_TTL_SECONDS)
            .ignore()
            .cmd("XACK")
            .arg(STREAM)
            .arg(GROUP)
            .arg(&taken.entry)
            .ignore()
            .cmd("XDEL")
            .arg(STREAM)
            .arg(&taken.entry)
            .ignore()
            .query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("storing a result", e))
    }

    /// The result of run `run_id`, waiting up to `within` for it.
    async fn result(
        &self,
        run_id: &str,
        within: Duration,
    ) -> Result<Option<serde_json::Value>, QueueError> {
        let stored: Option<String> = redis::cmd("GET")
            .arg(result_key(run_id))
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.failed("reading a result", e))?;
        let json = match stored {
            Some(json) => Some(json),
            None => {
                let popped: Option<(String, String)> = self
                    .blocking(
                        within,
                        "waiting for a result",
                        redis::cmd("BLPOP")
                            .arg(done_key(run_id))
                            .arg(within.as_secs_f64().max(0.01))
                            .to_owned(),
                    )
                    .await?;
                popped.map(|(_, json)| json)
            }
        };
        json.map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| QueueError(format!("the result of run {run_id} is not JSON: {e}")))
        })
        .transpose()
    }
}
