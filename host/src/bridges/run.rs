//! The identity of one run — its id, the spell, the caller (tenant) and,
//! for a spell run as a workflow step, the run that started it.
//!
//! The runtime builds one [`RunCtx`] per run and every bridge reads it, so
//! each host event, audit record and host warning names the run it belongs
//! to: a server running many spells at once can tell an `llm.completed` of
//! one run from another's.
//!
//! A front end that shows a run as it goes (serve's SSE, MCP's progress and
//! log notifications) also asks the context for a *watch*: the run's log
//! lines, the text of its streamed answers and its denials, which are not
//! events on the bus. Workflow steps share their parent's watch.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::bridges::event::{Event, EventBus};
use crate::policy::audit::Denial;

/// How many signals a slow watcher may fall behind before it is told how
/// many it missed.
const WATCH_CAPACITY: usize = 4096;

/// Something a run shows while it runs, besides its events.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunSignal {
    /// A line the spell logged (`trace` … `error`).
    Log {
        level: &'static str,
        message: String,
    },
    /// A piece of a streamed answer's text, as the model sent it.
    Token { model: String, text: String },
    /// A capability use the host refused, and the grant that would allow it.
    Denial(Denial),
}

/// A signal and the run that gave it (a workflow step has its own id).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Watched {
    pub run_id: String,
    #[serde(flatten)]
    pub signal: RunSignal,
}

/// The receiving end of a run's watch.
pub type RunWatch = broadcast::Receiver<Arc<Watched>>;

/// Who and what a run is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunIdentity {
    pub run_id: String,
    pub spell: String,
    /// The caller a server runs the spell for; `None` on the command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The run whose workflow started this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
}

/// A run's identity, cheap to clone into every bridge and task.
#[derive(Debug, Clone)]
pub struct RunCtx(Arc<RunIdentity>, Option<broadcast::Sender<Arc<Watched>>>);

impl RunCtx {
    /// A new top-level run of `spell` with a fresh id.
    pub fn new(spell: impl Into<String>) -> Self {
        Self(
            Arc::new(RunIdentity {
                run_id: uuid::Uuid::new_v4().to_string(),
                spell: spell.into(),
                tenant: None,
                parent_run_id: None,
            }),
            None,
        )
    }

    /// A new top-level run of `spell` with the id it was given (a queued
    /// run keeps the id it was submitted with).
    pub fn with_id(spell: impl Into<String>, run_id: impl Into<String>) -> Self {
        Self(
            Arc::new(RunIdentity {
                run_id: run_id.into(),
                spell: spell.into(),
                tenant: None,
                parent_run_id: None,
            }),
            None,
        )
    }

    /// The same run, for `tenant`.
    pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
        let mut identity = (*self.0).clone();
        identity.tenant = Some(tenant.into());
        Self(Arc::new(identity), self.1)
    }

    /// The same run, watched: the receiver gets its log lines, streamed
    /// text and denials (and those of the spells it runs as steps).
    pub fn watched(mut self) -> (Self, RunWatch) {
        let receiver = match &self.1 {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(WATCH_CAPACITY);
                self.1 = Some(sender);
                receiver
            }
        };
        (self, receiver)
    }

    /// A run of `spell` started by this one (same tenant and watch, fresh
    /// id).
    pub fn child(&self, spell: impl Into<String>) -> Self {
        Self(
            Arc::new(RunIdentity {
                run_id: uuid::Uuid::new_v4().to_string(),
                spell: spell.into(),
                tenant: self.0.tenant.clone(),
                parent_run_id: Some(self.0.run_id.clone()),
            }),
            self.1.clone(),
        )
    }

    /// Shows `signal` to whoever watches the run (nothing if no one does).
    pub fn signal(&self, signal: impl FnOnce() -> RunSignal) {
        if let Some(sender) = self.1.as_ref().filter(|s| s.receiver_count() > 0) {
            let _ = sender.send(Arc::new(Watched {
                run_id: self.0.run_id.clone(),
                signal: signal(),
            }));
        }
    }

    pub fn run_id(&self) -> &str {
        &self.0.run_id
    }

    pub fn spell(&self) -> &str {
        &self.0.spell
    }

    pub fn tenant(&self) -> Option<&str> {
        self.0.tenant.as_deref()
    }

    pub fn identity(&self) -> &RunIdentity {
        &self.0
    }

    /// Adds the run's identity (`run_id`, `spell`, and `tenant` and
    /// `parent_run_id` when set) to a JSON object.
    pub fn tag(&self, payload: &mut Value) {
        let Some(fields) = payload.as_object_mut() else {
            return;
        };
        if let Ok(Value::Object(identity)) = serde_json::to_value(&*self.0) {
            for (key, value) in identity {
                fields.insert(key, value);
            }
        }
    }

    /// Publishes a host event (`spellhost.*`) tagged with the run.
    pub fn publish(&self, bus: &EventBus, topic: &str, mut payload: Value) {
        self.tag(&mut payload);
        bus.publish(Event::new(topic, payload, "host").from_run(self.run_id()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_run_and_children_name_their_parent() {
        let run = RunCtx::new("outer").with_tenant("acme");
        let child = run.child("inner");
        assert_ne!(run.run_id(), child.run_id());
        let mut payload = serde_json::json!({ "tool": "calc" });
        child.tag(&mut payload);
        assert_eq!(payload["spell"], "inner");
        assert_eq!(payload["tenant"], "acme");
        assert_eq!(payload["parent_run_id"], run.run_id());
        assert_eq!(payload["run_id"], child.run_id());
        let mut top = serde_json::json!({});
        RunCtx::new("solo").tag(&mut top);
        assert!(top.get("tenant").is_none() && top.get("parent_run_id").is_none());
    }

    #[test]
    fn a_watch_sees_the_run_and_its_steps_and_costs_nothing_unwatched() {
        let log = |message: &str| RunSignal::Log {
            level: "info",
            message: message.into(),
        };
        let (run, mut watch) = RunCtx::new("outer").watched();
        let step = run.child("inner");
        run.signal(|| log("one"));
        step.signal(|| log("two"));
        let first = watch.try_recv().unwrap();
        assert_eq!(
            (first.run_id.as_str(), &first.signal),
            (run.run_id(), &log("one"))
        );
        let second = watch.try_recv().unwrap();
        assert_eq!(second.run_id, step.run_id());
        let json = serde_json::to_value(&*second).unwrap();
        assert_eq!(json["kind"], "log");
        assert_eq!(json["message"], "two");
        // No watch: the signal is never even built.
        RunCtx::new("solo").signal(|| unreachable!("nobody watches"));
        drop(watch);
        run.signal(|| unreachable!("the watcher left"));
    }
}
