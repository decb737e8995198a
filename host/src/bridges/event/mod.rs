//! The event bridge: spells publish and subscribe through the
//! [`EventBus`] (in process, or linked to other processes through Redis or
//! PostgreSQL);
//! subscriptions are `wasi:io` pollables.

mod bus;
mod host;
mod link;
mod postgres;
mod rate;
mod redis;

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use wasmtime::component::{HasData, Linker, ResourceTable};

pub use bus::{
    Event, EventBus, EventsBackend, HOST_TOPIC_PREFIX, Outgoing, TopicPattern, validate_topic,
};
pub use link::{Batch, Cursor, MISSED_TOPIC, STREAM_LENGTH, SharedLog};
pub use rate::EventRate;

/// Largest payload a spell may publish.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Per-instance event state.
pub struct EventCtx {
    pub bus: EventBus,
    /// `spell:<name>`, stamped on every event the spell emits.
    pub source: String,
    /// The run's id, stamped likewise (not seen by spells).
    pub run_id: Option<String>,
    /// How fast the instance may publish (`--max-event-rate`).
    pub rate: EventRate,
}

/// What the generated `event` traits are implemented on.
pub struct EventView<'a> {
    pub ctx: &'a mut EventCtx,
    pub table: &'a mut ResourceTable,
}

struct EventBridge;

impl HasData for EventBridge {
    type Data<'a> = EventView<'a>;
}

/// Wires `spellhost:spell/event` into `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> EventView<'_>,
) -> wasmtime::Result<()> {
    crate::bindings::event::add_to_linker::<T, EventBridge>(linker, view)
}

/// A spell's subscription: a bus receiver filtered by patterns, with one
/// event of look-ahead so it can serve as a pollable.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    patterns: Vec<TopicPattern>,
    peeked: Option<Arc<Event>>,
    lagged: u64,
    closed: bool,
}

impl Subscription {
    pub fn new(rx: broadcast::Receiver<Arc<Event>>, patterns: Vec<TopicPattern>) -> Self {
        Self {
            rx,
            patterns,
            peeked: None,
            lagged: 0,
            closed: false,
        }
    }

    fn wants(&self, event: &Event) -> bool {
        self.patterns.iter().any(|p| p.matches(&event.topic))
    }

    /// The next matching event already received, without waiting.
    pub fn try_next(&mut self) -> Option<Arc<Event>> {
        if let Some(event) = self.peeked.take() {
            return Some(event);
        }
        loop {
            match self.rx.try_recv() {
                Ok(event) if self.wants(&event) => return Some(event),
                Ok(_) => {}
                Err(TryRecvError::Lagged(n)) => self.lagged += n,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Closed) => {
                    self.closed = true;
                    return None;
                }
            }
        }
    }

    pub fn lagged(&self) -> u64 {
        self.lagged
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for Subscription {
    async fn ready(&mut self) {
        if self.peeked.is_some() || self.closed {
            return;
        }
        loop {
            match self.rx.recv().await {
                Ok(event) if self.wants(&event) => {
                    self.peeked = Some(event);
                    return;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => self.lagged += n,
                Err(RecvError::Closed) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}
