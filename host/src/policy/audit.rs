//! The audit log (`spellhost run --audit FILE`): one JSON line per
//! capability use and per denial, appended, so a user can review what a
//! spell did and what it tried.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

/// A shared, append-only audit sink.
#[derive(Clone)]
pub struct Audit {
    file: Arc<Mutex<std::fs::File>>,
    spell: Arc<str>,
}

impl Audit {
    pub fn open(path: &Path, spell: &str) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening audit log {}", path.display()))?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
            spell: spell.into(),
        })
    }

    /// Records one use (`allowed`) or denial of `capability` on `target`.
    pub fn record(
        &self,
        capability: &str,
        action: &str,
        target: &str,
        allowed: bool,
        detail: Option<&str>,
    ) {
        let line = serde_json::json!({
            "time_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            "spell": &*self.spell,
            "capability": capability,
            "action": action,
            "target": target,
            "allowed": allowed,
            "detail": detail,
        });
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // An audit write that fails must not be silent, but must not crash
        // the run either: report it on stderr.
        if let Err(err) = writeln!(file, "{line}") {
            eprintln!("warning: cannot write the audit log: {err}");
        }
    }
}

/// Records to an optional audit log.
pub fn record(
    audit: &Option<Audit>,
    capability: &str,
    action: &str,
    target: &str,
    allowed: bool,
    detail: Option<&str>,
) {
    if let Some(audit) = audit {
        audit.record(capability, action, target, allowed, detail);
    }
}
