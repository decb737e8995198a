//! The run queue: runs submitted by one process (`spellhost submit`) and
//! run by worker processes (`spellhost worker`), on a shared backend
//! (`[queue] url`). Delivery is at least once: a run a worker took and did
//! not finish — it crashed, or was killed — is taken again by another once
//! its lease runs out; a run carries its id, and its result is stored
//! under it.

mod redis;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::redis::RedisQueue;

/// A run to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub run_id: String,
    /// The spell, by the name the workers serve it under.
    pub spell: String,
    pub input: String,
    /// Milliseconds since the epoch, when submitted.
    pub submitted_ms: u64,
}

impl Job {
    pub fn new(spell: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            run_id: uuid::Uuid::new_v4().to_string(),
            spell: spell.into(),
            input: input.into(),
            submitted_ms: now_ms(),
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

/// Where runs wait for a worker (`[queue] url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    Redis(String),
}

impl QueueBackend {
    /// Reads a `[queue] url` setting.
    pub fn parse(setting: &str) -> Result<Self, QueueError> {
        let setting = setting.trim();
        let shown = crate::bridges::state::backend::redact(setting);
        match setting.split_once("://").map(|(scheme, _)| scheme) {
            Some("redis" | "rediss") => Ok(Self::Redis(setting.to_owned())),
            Some("postgres" | "postgresql") => Err(QueueError(format!(
                "[queue] url {shown}: a run queue on PostgreSQL is not there yet; use a redis:// URL"
            ))),
            _ => Err(QueueError(format!(
                "[queue] url {shown}: use a redis:// or rediss:// URL"
            ))),
        }
    }

    /// Opens the queue (checking the URL; the server is reached on first
    /// use). `lease`: how long a taken run stays with its worker without a
    /// sign of life.
    pub fn open(&self, lease: Duration) -> Result<RedisQueue, QueueError> {
        match self {
            Self::Redis(url) => RedisQueue::open(url, lease),
        }
    }
}
