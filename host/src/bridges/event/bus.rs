//! The event bus: topics, patterns, and the broadcast channel every
//! subscriber (spells, the CLI's `--events` printer, serve's SSE) reads
//! from. In process by default; linked to other processes through Redis
//! or PostgreSQL when `[events] url` says so ([`EventsBackend`],
//! `super::link`).
//!
//! Topic rules: dot-separated segments of `[A-Za-z0-9_-]`, at most 256
//! bytes. Patterns: an exact topic, a prefix ending in `.*` (matches the
//! prefix's descendants, not the prefix itself), or `*` (everything).
//! `spellhost.` topics are reserved for the host.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::bridges::state::backend::ServerUrl;

/// Prefix of topics only the host may publish.
pub const HOST_TOPIC_PREFIX: &str = "spellhost.";

/// An event on the bus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    pub topic: String,
    pub payload: serde_json::Value,
    /// `host` or `spell:<name>`.
    pub source: String,
    pub timestamp_ms: u64,
    /// The run that published it (host events about a run, and every
    /// event a spell emits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl Event {
    pub fn new(
        topic: impl Into<String>,
        payload: serde_json::Value,
        source: impl Into<String>,
    ) -> Self {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            topic: topic.into(),
            payload,
            source: source.into(),
            timestamp_ms,
            run_id: None,
        }
    }

    /// The event, as published by run `run_id`.
    pub fn from_run(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }
}

/// What a linked bus hands its writer: an event to share, or a request
/// to say when everything before it has been shared.
pub enum Outgoing {
    Event(Arc<Event>),
    Flush(oneshot::Sender<()>),
}

/// A cheap-to-clone handle on the bus.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// To other processes, when linked.
    out: Option<mpsc::UnboundedSender<Outgoing>>,
    link: Option<Arc<super::link::Link>>,
}

impl EventBus {
    /// Each subscriber may fall `capacity` events behind before it lags.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self {
            tx,
            out: None,
            link: None,
        }
    }

    /// A bus linked to every other process that follows `log`. Within a
    /// tokio runtime.
    pub fn linked(log: Arc<dyn super::link::SharedLog>) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let (out, outgoing) = mpsc::unbounded_channel();
        let link = super::link::start(log, tx.clone(), outgoing);
        Self {
            tx,
            out: Some(out),
            link: Some(Arc::new(link)),
        }
    }

    /// Publishes to every current subscriber (none is fine), and to other
    /// processes when linked.
    pub fn publish(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(out) = &self.out {
            let _ = out.send(Outgoing::Event(event.clone()));
        }
        let _ = self.tx.send(event);
    }

    /// Waits (at most `within`) until what was published so far has
    /// reached the other processes; at once when not linked.
    pub async fn flush(&self, within: Duration) {
        if let Some(out) = &self.out {
            super::link::flush(out, within).await;
        }
    }

    /// Waits (at most `within`) until other processes' events come
    /// through: a subscriber made after this misses none appended after it.
    /// At once when not linked, or when the shared log cannot be reached.
    pub async fn following(&self, within: Duration) {
        if let Some(link) = &self.link {
            link.following(within).await;
        }
    }

    /// Whether other processes' events come through this bus.
    pub fn is_linked(&self) -> bool {
        self.out.is_some()
    }

    /// A host-originated event.
    pub fn publish_host(&self, topic: &str, payload: serde_json::Value) {
        self.publish(Event::new(topic, payload, "host"));
    }

    /// Receives every event published from now on.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

/// Where events go besides in process (`[events] url`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EventsBackend {
    /// In process only (the default).
    #[default]
    Local,
    /// Shared through a Redis stream.
    Redis(String),
    /// Shared through a PostgreSQL outbox table.
    Postgres(String),
}

impl EventsBackend {
    /// Reads an `[events] url` setting.
    pub fn parse(setting: &str) -> Result<Self, String> {
        let setting = setting.trim();
        let shown = crate::bridges::state::backend::redact(setting);
        match crate::bridges::state::backend::server_url("[events] url", setting)? {
            ServerUrl::Redis(url) => Ok(Self::Redis(url.to_owned())),
            ServerUrl::Postgres(url) => Ok(Self::Postgres(url.to_owned())),
            ServerUrl::Other(_) => Err(format!(
                "[events] url {shown}: use a redis://, rediss:// or postgres:// URL (without one, \
                 events stay in process)"
            )),
        }
    }

    /// A bus for `scope` (a server's tenant, or none).
    pub fn bus(&self, scope: Option<&str>) -> Result<EventBus, String> {
        match self {
            Self::Local => Ok(EventBus::default()),
            Self::Redis(url) => Ok(EventBus::linked(Arc::new(super::redis::RedisLog::open(
                url,
                super::link::stream_name(scope),
            )?))),
            Self::Postgres(url) => Ok(EventBus::linked(Arc::new(
                super::postgres::PostgresLog::open(url, super::link::stream_name(scope))?,
            ))),
        }
    }
}

/// Checks a topic a spell wants to publish on.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 256 {
        return Err("a topic must be 1 to 256 bytes long".into());
    }
    if topic.starts_with(HOST_TOPIC_PREFIX) {
        return Err(format!(
            "topics under `{HOST_TOPIC_PREFIX}` are reserved for the host"
        ));
    }
    for segment in topic.split('.') {
        if segment.is_empty()
            || !segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "invalid topic `{topic}`: use dot-separated segments of letters, digits, `_` and `-`"
            ));
        }
    }
    Ok(())
}

/// A subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    All,
    Exact(String),
    /// Stored with its trailing dot: `summary.` for `summary.*`.
    Below(String),
}

impl TopicPattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern == "*" {
            return Ok(Self::All);
        }
        let (base, below) = match pattern.strip_suffix(".*") {
            Some(base) => (base, true),
            None => (pattern, false),
        };
        let check = base
            .strip_prefix(HOST_TOPIC_PREFIX)
            .map_or(base, |rest| rest);
        if base == "spellhost" {
            // `spellhost.*`: every host event.
        } else if let Err(err) = validate_topic(check) {
            return Err(format!("invalid pattern `{pattern}`: {err}"));
        }
        Ok(if below {
            Self::Below(format!("{base}."))
        } else {
            Self::Exact(base.to_owned())
        })
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::All => true,
            Self::Exact(exact) => exact == topic,
            Self::Below(prefix) => topic.starts_with(prefix.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_descendants_and_all() {
        let below = TopicPattern::parse("summary.*").unwrap();
        assert!(below.matches("summary.done"));
        assert!(below.matches("summary.chunk.1"));
        assert!(!below.matches("summary"));
        assert!(!below.matches("summaryx.done"));
        assert!(TopicPattern::parse("a.b").unwrap().matches("a.b"));
        assert!(TopicPattern::parse("*").unwrap().matches("anything.at.all"));
        assert!(
            TopicPattern::parse("spellhost.*")
                .unwrap()
                .matches("spellhost.run.started")
        );
        assert!(TopicPattern::parse("bad..topic").is_err());
    }

    #[test]
    fn spells_cannot_publish_host_topics() {
        assert!(
            validate_topic("spellhost.run.finished")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(validate_topic("my-spell.progress_1").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("white space").is_err());
    }

    #[tokio::test]
    async fn subscribers_see_events_published_after_they_subscribed() {
        let bus = EventBus::default();
        bus.publish_host("spellhost.early", serde_json::json!(1));
        let mut rx = bus.receiver();
        bus.publish(Event::new("late", serde_json::json!({"n": 2}), "spell:t"));
        let event = rx.recv().await.unwrap();
        assert_eq!(event.topic, "late");
        assert_eq!(event.payload["n"], 2);
    }
}
