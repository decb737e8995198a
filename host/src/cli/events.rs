//! `--events`: prints every bus event as one JSON line on stderr while the
//! spell runs, and drains what is left when it ends.

use std::io::Write as _;
use std::sync::Arc;

use tokio::sync::{broadcast, oneshot};

use crate::bridges::event::{Event, EventBus};

/// A running printer; call [`EventPrinter::finish`] after the run.
pub struct EventPrinter {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl EventPrinter {
    pub fn start(bus: &EventBus) -> Self {
        let mut rx = bus.receiver();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    event = rx.recv() => match event {
                        Ok(event) => print(&event),
                        Err(broadcast::error::RecvError::Lagged(n)) => print_lag(n),
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = &mut stopped => break,
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(event) => print(&event),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => print_lag(n),
                    Err(_) => return,
                }
            }
        });
        Self { stop, task }
    }

    /// Prints the events still queued, then stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn print(event: &Arc<Event>) {
    if let Ok(line) = serde_json::to_string(event.as_ref()) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

fn print_lag(skipped: u64) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        serde_json::json!({ "topic": "spellhost.events.lagged", "payload": { "skipped": skipped }, "source": "host" })
    );
}
