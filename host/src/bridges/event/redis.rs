//! The shared event log on a Redis stream (`[events] url = "redis://…"`):
//! `spellhost:events[:<scope>]`, appended with `XADD … MAXLEN ~ N` and
//! followed with `XREAD BLOCK` on a connection of its own (a blocked read
//! would hold up commands pipelined behind it).
//!
//! A reader's cursor is the last entry id it read and that entry's number
//! in the stream (Redis 7 counts `entries-added`). The stream keeps its
//! newest entries only, so when a reader may have fallen behind — after an
//! outage, or after any read that was not idle at the end of the stream —
//! it compares its number with the first one kept (`XINFO STREAM`) and
//! reports the difference as missed.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use super::link::{Batch, Cursor, STREAM_LENGTH, SharedLog};

/// How long one read blocks on the server before returning empty.
const READ_BLOCK: Duration = Duration::from_secs(2);

/// Entries one read returns at most.
const READ_COUNT: usize = 512;

/// The event log of one scope on a Redis server.
pub struct RedisLog {
    key: String,
    shown: String,
    writer: ConnectionManager,
    reader: ConnectionManager,
    /// Set when the reader may have fallen behind: check before the next
    /// read.
    suspect: Mutex<bool>,
}

impl RedisLog {
    /// The log of `stream` on the server `url`; checked now, reached on
    /// first use. Within a tokio runtime.
    pub fn open(url: &str, stream: String) -> Result<Self, String> {
        let shown = format!(
            "[events] url {}",
            crate::bridges::state::backend::redact(url)
        );
        let client =
            redis::Client::open(url).map_err(|e| format!("{shown}: not a Redis URL: {e}"))?;
        let connect = |response: Duration| {
            client
                .get_connection_manager_lazy(
                    ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(Duration::from_secs(5)))
                        .set_response_timeout(Some(response))
                        .set_number_of_retries(1),
                )
                .map_err(|e| format!("{shown}: {e}"))
        };
        Ok(Self {
            key: stream,
            writer: connect(Duration::from_secs(5))?,
            reader: connect(READ_BLOCK + Duration::from_secs(5))?,
            shown,
            suspect: Mutex::new(false),
        })
    }

    fn failed(&self, err: impl std::fmt::Display) -> String {
        format!("{}: {err}", self.shown)
    }

    /// The stream's newest id, how many entries were ever added, and how
    /// many it holds (`None` while it does not exist).
    async fn info(&self) -> Result<Option<(String, u64, u64)>, String> {
        let reply: redis::RedisResult<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.key)
            .query_async(&mut self.reader.clone())
            .await;
        let info = match reply {
            Ok(info) => info,
            Err(err) if err.to_string().contains("no such key") => return Ok(None),
            Err(err) => return Err(self.failed(err)),
        };
        let field = |name: &str| info.get(name).cloned().unwrap_or(redis::Value::Nil);
        let number = |name: &str| redis::from_redis_value::<u64>(field(name)).unwrap_or(0);
        let last = redis::from_redis_value::<String>(field("last-generated-id"))
            .unwrap_or_else(|_| "0-0".into());
        Ok(Some((last, number("entries-added"), number("length"))))
    }
}

/// A cursor: the last id read and its number (`1-0 7`).
fn split(cursor: &str) -> (&str, u64) {
    let (id, number) = cursor.split_once(' ').unwrap_or((cursor, "0"));
    (id, number.parse().unwrap_or(0))
}

/// One stream entry: its id and its fields.
type Entry = (String, Vec<(String, String)>);

/// What `XREAD` answers: each stream's name and new entries (none after a
/// block that timed out).
type Streams = Option<Vec<(String, Vec<Entry>)>>;

#[async_trait::async_trait]
impl SharedLog for RedisLog {
    fn shown(&self) -> &str {
        &self.shown
    }

    async fn append(&self, origin: &str, json: &str) -> Result<(), String> {
        redis::cmd("XADD")
            .arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_LENGTH)
            .arg("*")
            .arg("origin")
            .arg(origin)
            .arg("event")
            .arg(json)
            .query_async::<String>(&mut self.writer.clone())
            .await
            .map(|_| ())
            .map_err(|e| self.failed(e))
    }

    async fn end(&self) -> Result<Cursor, String> {
        Ok(match self.info().await? {
            Some((last, added, _)) => format!("{last} {added}"),
            None => "0-0 0".to_owned(),
        })
    }

    async fn read(&self, cursor: &mut Cursor) -> Result<Batch, String> {
        let (id, mut number) = split(cursor);
        let mut id = id.to_owned();
        let mut missed = 0;
        let mut suspect = self.suspect.lock().await;
        if *suspect {
            if let Some((_, added, length)) = self.info().await? {
                let dropped = added.saturating_sub(length);
                missed = dropped.saturating_sub(number);
                number += missed;
            }
            *suspect = false;
        }
        let read: Streams = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(&id)
            .query_async(&mut self.reader.clone())
            .await
            .map_err(|e| {
                *suspect = true;
                self.failed(e)
            })?;
        let mut entries = Vec::new();
        for (_, read) in read.unwrap_or_default() {
            // Others may append faster than this reads.
            *suspect |= !read.is_empty();
            for (entry, fields) in read {
                id = entry;
                number += 1;
                let field = |name: &str| {
                    fields
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                if let (Some(origin), Some(event)) = (field("origin"), field("event")) {
                    entries.push((origin, event));
                }
            }
        }
        *cursor = format!("{id} {number}");
        Ok(Batch { entries, missed })
    }
}
