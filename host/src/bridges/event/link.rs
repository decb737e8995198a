//! A bus linked to other processes through a shared log of events
//! (`[events] url`): the bus still delivers in process first, and also
//! appends each event to the log and re-publishes, in process, what other
//! processes appended there — so a spell subscribed on one machine sees
//! events emitted by a run on another.
//!
//! - One writer task appends in publish order; a process that exits first
//!   waits for it ([`flush`]).
//! - One reader task follows the log from the moment the bus was made,
//!   skipping what this bus wrote itself. When it learns that entries it
//!   had not read yet were dropped (it fell further behind than the log
//!   keeps), it says so: a warning, and a `spellhost.events.missed` event
//!   with the count for subscribers.
//! - When the server is away, events still reach in-process subscribers;
//!   those published meanwhile are not shared, and the first failure of
//!   each outage is logged with the setting to check. The link reconnects
//!   by itself and resumes reading where it left off.
//!
//! The log itself is a [`SharedLog`]: a Redis stream (`super::redis`) or a
//! PostgreSQL outbox table (`super::postgres`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::bus::{Event, Outgoing};

/// Entries a log keeps per stream (approximately): how far behind a reader
/// may be after an outage before it misses events.
pub const STREAM_LENGTH: usize = 10_000;

/// The topic that tells subscribers how many events from other processes
/// they missed.
pub const MISSED_TOPIC: &str = "spellhost.events.missed";

/// What one read of the log brought.
#[derive(Debug, Default)]
pub struct Batch {
    /// Each entry's writer (its origin) and the event as JSON.
    pub entries: Vec<(String, String)>,
    /// Entries dropped from the log before this reader got to them.
    pub missed: u64,
}

/// Where a reader is in the log (backend-specific).
pub type Cursor = String;

/// A log of events shared between processes, one stream per scope.
#[async_trait::async_trait]
pub trait SharedLog: Send + Sync + 'static {
    /// The setting and where it points, password hidden, for messages.
    fn shown(&self) -> &str;

    /// Appends an event (as JSON) written by `origin`.
    async fn append(&self, origin: &str, json: &str) -> Result<(), String>;

    /// A cursor at the log's end now: a reader from there sees what is
    /// appended from now on.
    async fn end(&self) -> Result<Cursor, String>;

    /// What was appended after `cursor` (moving it on), waiting a little —
    /// a few seconds at most — for something to come.
    async fn read(&self, cursor: &mut Cursor) -> Result<Batch, String>;
}

/// The two tasks of a linked bus; they end when the bus is dropped.
pub struct Link {
    _writer: tokio::task::JoinHandle<()>,
    reader: tokio::task::JoinHandle<()>,
    /// Whether the reader has its place in the log yet.
    reading: watch::Receiver<Reading>,
}

/// Where the reader is with the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Not yet at its place: an event appended now might be missed.
    Starting,
    /// Reading from its place: every event appended from now on arrives.
    Following,
    /// The log could not be reached; retrying.
    Failing,
}

impl Link {
    /// Waits (at most `within`) until the reader has its place in the log,
    /// so a subscriber made after this sees every event another process
    /// appends after it; at once when the log cannot be reached.
    pub async fn following(&self, within: Duration) {
        let mut reading = self.reading.clone();
        let started = reading.wait_for(|r| *r != Reading::Starting);
        let _ = tokio::time::timeout(within, started).await;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Starts linking a bus (its sender `local`, its outgoing queue
/// `outgoing`) to `log`. Within a tokio runtime.
pub fn start(
    log: Arc<dyn SharedLog>,
    local: broadcast::Sender<Arc<Event>>,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
) -> Link {
    let origin = uuid::Uuid::new_v4().to_string();
    let (reading, following) = watch::channel(Reading::Starting);
    Link {
        _writer: tokio::spawn(write(log.clone(), origin.clone(), outgoing)),
        reader: tokio::spawn(read(log, origin, local, reading)),
        reading: following,
    }
}

/// Appends what the bus publishes, in order, until the bus is gone.
async fn write(
    log: Arc<dyn SharedLog>,
    origin: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut failing = false;
    while let Some(next) = outgoing.recv().await {
        let event = match next {
            Outgoing::Event(event) => event,
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let Ok(json) = serde_json::to_string(&*event) else {
            continue;
        };
        match log.append(&origin, &json).await {
            Ok(()) if failing => {
                tracing::info!("events are shared again through {}", log.shown());
                failing = false;
            }
            Ok(()) => {}
            Err(err) if !failing => {
                tracing::warn!(
                    "an event was not shared with other processes ({err}); in-process \
                     subscribers still get events"
                );
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Follows the log, re-publishing other processes' events in process.
async fn read(
    log: Arc<dyn SharedLog>,
    origin: String,
    local: broadcast::Sender<Arc<Event>>,
    reading: watch::Sender<Reading>,
) {
    let mut failing = false;
    let mut cursor = loop {
        match log.end().await {
            Ok(cursor) => break cursor,
            Err(err) => {
                if !failing {
                    tracing::warn!("cannot read other processes' events ({err}); retrying");
                    failing = true;
                    let _ = reading.send(Reading::Failing);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let _ = reading.send(Reading::Following);
    loop {
        let batch = match log.read(&mut cursor).await {
            Ok(batch) => {
                if failing {
                    tracing::info!(
                        "reading other processes' events through {} again",
                        log.shown()
                    );
                    failing = false;
                }
                batch
            }
            Err(err) => {
                if !failing {
                    tracing::warn!("cannot read other processes' events ({err}); retrying");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if batch.missed > 0 {
            tracing::warn!(
                "{} events from other processes were dropped from {} before this process read \
                 them (it fell more than {STREAM_LENGTH} behind)",
                batch.missed,
                log.shown()
            );
            let _ = local.send(Arc::new(Event::new(
                MISSED_TOPIC,
                serde_json::json!({ "missed": batch.missed }),
                "host",
            )));
        }
        for (writer, json) in batch.entries {
            if writer == origin {
                continue;
            }
            if let Some(event) = parse(&json) {
                let _ = local.send(Arc::new(event));
            }
        }
    }
}

/// An event another process appended (fields it lacks take defaults).
fn parse(json: &str) -> Option<Event> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    Some(Event {
        topic: text("topic")?,
        payload: value.get("payload").cloned().unwrap_or_default(),
        source: text("source").unwrap_or_else(|| "host".into()),
        timestamp_ms: value
            .get("timestamp_ms")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
        run_id: text("run_id"),
    })
}

/// Waits until everything published before has been appended (or the
/// writer is gone), at most `within`.
pub async fn flush(outgoing: &mpsc::UnboundedSender<Outgoing>, within: Duration) {
    let (done, appended) = oneshot::channel();
    if outgoing.send(Outgoing::Flush(done)).is_ok() {
        let _ = tokio::time::timeout(within, appended).await;
    }
}

/// The stream of `scope` (a server's tenant, or none).
pub fn stream_name(scope: Option<&str>) -> String {
    match scope {
        Some(scope) => format!("spellhost:events:{scope}"),
        None => "spellhost:events".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_through_its_json() {
        let event = Event::new("a.b", serde_json::json!({"n": 1}), "spell:x").from_run("r1");
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(parse(&json), Some(event));
        assert_eq!(parse("{\"payload\": 1}"), None, "an event has a topic");
    }

    #[test]
    fn tenants_have_streams_of_their_own() {
        assert_eq!(stream_name(None), "spellhost:events");
        assert_eq!(stream_name(Some("acme")), "spellhost:events:acme");
    }
}
