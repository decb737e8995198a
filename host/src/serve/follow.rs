//! Following one run as it goes: its events on the tenant's bus (and those
//! of the spells it runs as workflow steps) merged with its watch (log
//! lines, streamed text, denials). Serve's SSE and MCP's notifications both
//! read a run this way.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::bridges::event::{Event, EventBus};
use crate::bridges::run::{RunCtx, RunWatch, Watched};

/// One thing seen of a followed run.
#[derive(Debug, Clone)]
pub enum Seen {
    Event(Arc<Event>),
    Watched(Arc<Watched>),
    /// A slow follower missed `missed` items of `of` (`events` or `watch`).
    Lagged {
        of: &'static str,
        missed: u64,
    },
}

/// A run being followed. Start following before the run starts, so that
/// nothing of it is missed.
pub struct Follow {
    events: broadcast::Receiver<Arc<Event>>,
    watch: RunWatch,
    family: Family,
    /// Whether the events and the watch have ended.
    closed: (bool, bool),
}

impl Follow {
    /// Follows `run` (which becomes a watched run) on `bus`.
    pub fn start(run: &mut RunCtx, bus: EventBus) -> Self {
        let (watched, watch) = run.clone().watched();
        *run = watched;
        Self {
            events: bus.receiver(),
            watch,
            family: Family(HashSet::from([run.run_id().to_owned()])),
            closed: (false, false),
        }
    }

    /// The next thing seen; pending forever once both sources have ended
    /// (a caller selects it against the run itself). Cancel-safe.
    pub async fn next(&mut self) -> Seen {
        loop {
            tokio::select! {
                received = self.events.recv(), if !self.closed.0 => match received {
                    Ok(event) if self.family.owns(&event) => return Seen::Event(event),
                    Ok(_) => {}
                    Err(RecvError::Closed) => self.closed.0 = true,
                    Err(RecvError::Lagged(missed)) => return Seen::Lagged { of: "events", missed },
                },
                received = self.watch.recv(), if !self.closed.1 => match received {
                    Ok(watched) => return Seen::Watched(watched),
                    Err(RecvError::Closed) => self.closed.1 = true,
                    Err(RecvError::Lagged(missed)) => return Seen::Lagged { of: "watch", missed },
                },
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// What is already queued, once the run is over; `None` when nothing is.
    pub fn next_queued(&mut self) -> Option<Seen> {
        loop {
            match self.events.try_recv() {
                Ok(event) if self.family.owns(&event) => return Some(Seen::Event(event)),
                Ok(_) => continue,
                Err(TryRecvError::Lagged(missed)) => {
                    return Some(Seen::Lagged {
                        of: "events",
                        missed,
                    });
                }
                Err(_) => {}
            }
            return match self.watch.try_recv() {
                Ok(watched) => Some(Seen::Watched(watched)),
                Err(TryRecvError::Lagged(missed)) => Some(Seen::Lagged {
                    of: "watch",
                    missed,
                }),
                Err(_) => None,
            };
        }
    }
}

/// A run and the ids of the spells it runs as workflow steps (each names
/// its parent run when it starts): whose events on the tenant's bus are
/// the followed run's.
struct Family(HashSet<String>);

impl Family {
    fn owns(&mut self, event: &Event) -> bool {
        let Some(id) = event.run_id.as_deref() else {
            return false;
        };
        if self.0.contains(id) {
            return true;
        }
        let parent = event.payload.get("parent_run_id").and_then(Value::as_str);
        if parent.is_some_and(|p| self.0.contains(p)) {
            self.0.insert(id.to_owned());
            return true;
        }
        false
    }
}
