//! The identity of one run — its id, the spell, the caller (tenant) and,
//! for a spell run as a workflow step, the run that started it.
//!
//! The runtime builds one [`RunCtx`] per run and every bridge reads it, so
//! each host event, audit record and host warning names the run it belongs
//! to: a server running many spells at once can tell an `llm.completed` of
//! one run from another's.

use std::sync::Arc;

use serde_json::Value;

use crate::bridges::event::{Event, EventBus};

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
pub struct RunCtx(Arc<RunIdentity>);

impl RunCtx {
    /// A new top-level run of `spell` with a fresh id.
    pub fn new(spell: impl Into<String>) -> Self {
        Self(Arc::new(RunIdentity {
            run_id: uuid::Uuid::new_v4().to_string(),
            spell: spell.into(),
            tenant: None,
            parent_run_id: None,
        }))
    }

    /// The same run, for `tenant`.
    pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
        let mut identity = (*self.0).clone();
        identity.tenant = Some(tenant.into());
        Self(Arc::new(identity))
    }

    /// A run of `spell` started by this one (same tenant, fresh id).
    pub fn child(&self, spell: impl Into<String>) -> Self {
        Self(Arc::new(RunIdentity {
            run_id: uuid::Uuid::new_v4().to_string(),
            spell: spell.into(),
            tenant: self.0.tenant.clone(),
            parent_run_id: Some(self.0.run_id.clone()),
        }))
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
}
