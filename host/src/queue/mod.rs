//! The run queue: runs submitted by one process (`spellhost submit`) and
//! run by worker processes (`spellhost worker`), on a shared backend
//! (`[queue] url`). Delivery is at least once: a run a worker took and did
//! not finish — it crashed, or was killed — is taken again by another once
//! its lease runs out; a run carries its id, and its result is stored
//! under it.

mod postgres;
mod redis;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::postgres::PostgresQueue;
pub use self::redis::RedisQueue;

/// A run to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub run_id: String,
    /// The spell, by the name the workers serve it under.
    pub spell: String,
    pub input: String,
    /// Milliseconds since the epoch, when submitted.
    pub submitted_ms: u64,
    /// The submitter's trace context (W3C `traceparent`), so the worker's
    /// spans join the submitter's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The tenant it runs as (`spellhost serve`'s caller); `local` when
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Vars the request set (the spell's `allowed_vars`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Limits the request lowered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::policy::manifest::ManifestLimits>,
}

impl Job {
    pub fn new(spell: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            run_id: uuid::Uuid::new_v4().to_string(),
            spell: spell.into(),
            input: input.into(),
            submitted_ms: now_ms(),
            traceparent: None,
            tenant: None,
            vars: BTreeMap::new(),
            limits: None,
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A job a worker holds, until it finishes it or its lease runs out.
#[derive(Debug, Clone)]
pub struct Taken {
    pub job: Job,
    /// The queue's own id of the entry.
    pub entry: String,
    /// How many times it was handed out before (0 the first time).
    pub retries: u64,
}

/// A queue failure: the backend unreachable, a malformed entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

impl QueueError {
    /// A worker renewed a run it no longer holds.
    pub fn lease_lost(run_id: &str) -> Self {
        Self(format!(
            "run {run_id}: its lease ran out and another worker took it (or it is done); this \
             attempt's result will not replace the first one stored"
        ))
    }
}

/// A queue of runs shared by submitters and workers.
#[async_trait::async_trait]
pub trait RunQueue: Send + Sync {
    /// Adds `job` to the queue.
    async fn submit(&self, job: &Job) -> Result<(), QueueError>;

    /// The next job for `consumer`: one whose worker went silent for a
    /// lease, else a new one, waiting up to `wait` for one to come.
    async fn take(&self, consumer: &str, wait: Duration) -> Result<Option<Taken>, QueueError>;

    /// Tells the queue `consumer` still works on `taken` (call within every
    /// lease, or another worker takes it).
    async fn renew(&self, consumer: &str, taken: &Taken) -> Result<(), QueueError>;

    /// Stores the result of `taken`'s run and removes it from the queue,
    /// at once.
    async fn finish(&self, taken: &Taken, result: &serde_json::Value) -> Result<(), QueueError>;

    /// The result of run `run_id`, waiting up to `within` for it.
    async fn result(
        &self,
        run_id: &str,
        within: Duration,
    ) -> Result<Option<serde_json::Value>, QueueError>;
}

/// How long results are kept.
pub const RESULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where runs wait for a worker (`[queue] url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    Redis(String),
    Postgres(String),
}

impl QueueBackend {
    /// Reads a `[queue] url` setting.
    pub fn parse(setting: &str) -> Result<Self, QueueError> {
        let setting = setting.trim();
        let shown = crate::bridges::state::backend::redact(setting);
        match setting.split_once("://").map(|(scheme, _)| scheme) {
            Some("redis" | "rediss") => Ok(Self::Redis(setting.to_owned())),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(setting.to_owned())),
            _ => Err(QueueError(format!(
                "[queue] url {shown}: use a redis://, rediss:// or postgres:// URL"
            ))),
        }
    }

    /// Opens the queue (checking the URL; the server is reached on first
    /// use). `lease`: how long a taken run stays with its worker without a
    /// sign of life.
    pub fn open(&self, lease: Duration) -> Result<Arc<dyn RunQueue>, QueueError> {
        Ok(match self {
            Self::Redis(url) => Arc::new(RedisQueue::open(url, lease)?),
            Self::Postgres(url) => Arc::new(PostgresQueue::open(url, lease)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_pick_a_queue_and_bad_ones_say_what_works() {
        assert_eq!(
            QueueBackend::parse("redis://127.0.0.1/0").unwrap(),
            QueueBackend::Redis("redis://127.0.0.1/0".into())
        );
        assert_eq!(
            QueueBackend::parse(" postgres://u:pw@h/db ").unwrap(),
            QueueBackend::Postgres("postgres://u:pw@h/db".into())
        );
        let err = QueueBackend::parse("amqp://u:pw@h/").unwrap_err();
        assert!(
            err.0.contains("[queue] url")
                && err.0.contains("postgres://")
                && !err.0.contains("pw@"),
            "{err}"
        );
        let Err(err) = QueueBackend::parse("postgres://u:pw@h:port/db")
            .unwrap()
            .open(Duration::from_secs(1))
        else {
            panic!("a malformed URL was accepted");
        };
        assert!(
            err.0.contains("[queue] url") && !err.0.contains("pw@"),
            "{err}"
        );
    }

    #[test]
    fn a_job_without_a_trace_context_still_reads() {
        let job: Job =
            serde_json::from_str(r#"{"run_id":"r","spell":"s","input":"","submitted_ms":1}"#)
                .unwrap();
        assert_eq!(job.traceparent, None);
    }
}
