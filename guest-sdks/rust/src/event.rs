//! Publish and subscribe to events.
//!
//! ```ignore
//! event::emit("summary.done", &serde_json::json!({ "words": 120 }))?;
//! let sub = event::subscribe(&["summary.*"])?;
//! while let Some(e) = sub.next(Some(Duration::from_secs(1))) { /* … */ }
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::Result;
use crate::bindings::spellhost::spell::event as raw;
use crate::bindings::wasi::io::poll::Pollable;

/// An event received from a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub topic: String,
    pub payload: serde_json::Value,
    /// `host` or `spell:<name>`.
    pub source: String,
    pub timestamp_ms: u64,
}

impl From<raw::Event> for Event {
    fn from(e: raw::Event) -> Self {
        Event {
            payload: serde_json::from_str(&e.payload_json)
                .unwrap_or(serde_json::Value::String(e.payload_json)),
            topic: e.topic,
            source: e.source,
            timestamp_ms: e.timestamp_ms,
        }
    }
}

/// Publishes `payload` (serialised to JSON) on `topic`.
pub fn emit<T: Serialize + ?Sized>(topic: &str, payload: &T) -> Result<()> {
    Ok(raw::emit(topic, &serde_json::to_string(payload)?)?)
}

/// Subscribes to topic patterns (`topic`, `prefix.*`, `*`).
pub fn subscribe(patterns: &[&str]) -> Result<Subscription> {
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    Ok(Subscription(raw::subscribe(&patterns)?))
}

/// A subscription; events published after it was made are buffered.
pub struct Subscription(raw::Subscription);

impl Subscription {
    /// The next buffered event, without waiting.
    pub fn try_next(&self) -> Option<Event> {
        self.0.try_next().map(Event::from)
    }

    /// Waits for the next event, at most `timeout` (`None`: until the run's deadline).
    pub fn next(&self, timeout: Option<Duration>) -> Option<Event> {
        self.0
            .next(timeout.map(|t| t.as_millis() as u64))
            .map(Event::from)
    }

    /// Events dropped because this subscriber fell behind.
    pub fn lagged(&self) -> u64 {
        self.0.lagged()
    }

    pub fn subscribe(&self) -> Pollable {
        self.0.subscribe()
    }
}
