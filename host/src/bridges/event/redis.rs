//! Events shared across processes on a Redis stream (`[events] url =
//! "redis://…"`): a linked bus still delivers in process first, and also
//! appends each event to the stream `spellhost:events[:<scope>]` and
//! re-publishes, in process, what other processes appended there — so a
//! spell subscribed on one machine sees events emitted by a run on another.
//!
//! - One writer task appends in publish order (`XADD … MAXLEN ~ N`); a
//!   process that exits first waits for it ([`EventBus::flush`]).
//! - One reader task follows the stream from the moment the bus was made
//!   (`XREAD BLOCK`), on a connection of its own (a blocked read would hold
//!   up commands pipelined behind it), skipping what this bus wrote itself.
//! - When the server is away, events still reach in-process subscribers;
//!   those published meanwhile are not shared, and the first failure of each
//!   outage is logged with the setting to check. The link reconnects by
//!   itself and resumes reading where it left off.
//!
//! [`EventBus::flush`]: super::EventBus::flush

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::bus::{Event, Outgoing};

/// Entries a stream keeps (approximately): how far behind a reader may be
/// after an outage before it misses events.
pub const STREAM_LENGTH: usize = 10_000;

/// How long one read blocks on the server before asking again.
const READ_BLOCK: Duration = Duration::from_secs(2);

/// The stream of `scope` (a server's tenant, or none).
pub fn stream_key(scope: Option<&str>) -> String {
    match scope {
        Some(scope) => format!("spellhost:events:{scope}"),
        None => "spellhost:events".to_owned(),
    }
}

/// The two tasks of a linked bus; they end when the bus is dropped.
pub struct Link {
    _writer: tokio::task::JoinHandle<()>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Starts linking a bus (its sender `local`, its outgoing queue `outgoing`)
/// to the stream of `scope` on the server `url`. Must be called within a
/// tokio runtime.
pub fn start(
    url: &str,
    scope: Option<&str>,
    local: broadcast::Sender<Arc<Event>>,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
) -> Result<Link, String> {
    let shown = crate::bridges::state::backend::redact(url);
    let client = redis::Client::open(url)
        .map_err(|e| format!("[events] url {shown}: not a Redis URL: {e}"))?;
    let connect = |response: Duration| {
        client
            .get_connection_manager_lazy(
                ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(response))
                    .set_number_of_retries(1),
            )
            .map_err(|e| format!("[events] url {shown}: {e}"))
    };
    let writer_connection = connect(Duration::from_secs(5))?;
    let reader_connection = connect(READ_BLOCK + Duration::from_secs(5))?;
    let key = stream_key(scope);
    let origin = uuid::Uuid::new_v4().to_string();
    let writer = tokio::spawn(write(
        writer_connection,
        key.clone(),
        origin.clone(),
        outgoing,
        shown.clone(),
    ));
    let reader = tokio::spawn(read(reader_connection, key, origin, local, shown));
    Ok(Link {
        _writer: writer,
        reader,
    })
}

/// Appends what the bus publishes, in order, until the bus is gone.
async fn write(
    mut connection: ConnectionManager,
    key: String,
    origin: String,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    shown: String,
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
        let appended = redis::cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_LENGTH)
            .arg("*")
            .arg("origin")
            .arg(&origin)
            .arg("event")
            .arg(json)
            .query_async::<String>(&mut connection)
            .await;
        match appended {
            Ok(_) if failing => {
                tracing::info!("events are shared again through {shown}");
                failing = false;
            }
            Ok(_) => {}
            Err(err) if !failing => {
                tracing::warn!(
                    "an event was not shared with other processes ([events] url {shown}): {err}; \
                     in-process subscribers still get events"
                );
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// One stream entry: its id and its fields.
type Entry = (String, Vec<(String, String)>);

/// What `XREAD` answers: each stream's name and new entries (none after a
/// block that timed out).
type Streams = Option<Vec<(String, Vec<Entry>)>>;

/// Follows the stream, re-publishing other processes' events in process.
async fn read(
    mut connection: ConnectionManager,
    key: String,
    origin: String,
    local: broadcast::Sender<Arc<Event>>,
    shown: String,
) {
    // From the newest entry when linked: what came before is not replayed.
    let mut last = "$".to_owned();
    let mut failing = false;
    loop {
        let read: redis::RedisResult<Streams> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(512)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(&last)
            .query_async(&mut connection)
            .await;
        let streams = match read {
            Ok(streams) => {
                if failing {
                    tracing::info!("reading other processes' events through {shown} again");
                    failing = false;
                }
                streams.unwrap_or_default()
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(
                        "cannot read other processes' events ([events] url {shown}): {err}; retrying"
                    );
                    failing = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for (_, entries) in streams {
            for (id, fields) in entries {
                last = id;
                let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                if field("origin") == Some(&origin) {
                    continue;
                }
                let Some(event) = field("event").and_then(|json| parse(json)) else {
                    continue;
                };
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
        assert_eq!(stream_key(None), "spellhost:events");
        assert_eq!(stream_key(Some("acme")), "spellhost:events:acme");
    }
}
