//! Recording capability decisions: the audit log (`spellhost run --audit
//! FILE`, one JSON line per capability use and per denial, appended, so a
//! user can review what a spell did and what it tried), and the run's list
//! of denials, which the CLI prints with the grant that would allow each.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::bridges::run::RunCtx;
use crate::policy::{Grant, GrantWording};

/// Where audit records go: one JSON object per capability use or denial,
/// appended in order. A file by default (`FileSink`); a Redis stream or a
/// PostgreSQL table shared by every process (`super::audit_log`).
pub trait AuditSink: Send + Sync {
    /// Appends one record. Must not block on the network: a remote sink
    /// queues it.
    fn append(&self, record: serde_json::Value);

    /// Waits (at most `within`) until what was appended has been written.
    fn flush(&self, within: std::time::Duration) -> futures::future::BoxFuture<'_, ()> {
        let _ = within;
        Box::pin(async {})
    }
}

/// Audit records appended to a JSON-lines file.
pub struct FileSink {
    file: Mutex<std::fs::File>,
}

impl FileSink {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening audit log {}", path.display()))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }
}

impl AuditSink for FileSink {
    fn append(&self, record: serde_json::Value) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // An audit write that fails must not be silent, but must not crash
        // the run either: report it on stderr.
        if let Err(err) = writeln!(file, "{record}") {
            eprintln!("warning: cannot write the audit log: {err}");
        }
    }
}

/// A shared, append-only audit trail. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    sink: Arc<dyn AuditSink>,
}

impl Audit {
    /// A trail in the JSON-lines file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self::to(Arc::new(FileSink::open(path)?)))
    }

    /// A trail in `sink`.
    pub fn to(sink: Arc<dyn AuditSink>) -> Self {
        Self { sink }
    }

    /// Waits (at most `within`) until the records so far are written.
    pub async fn flush(&self, within: std::time::Duration) {
        self.sink.flush(within).await;
    }

    /// Records one use (`allowed`) or denial of `capability` on `target`
    /// by `run` (its id and spell go in the record).
    pub fn record(
        &self,
        run: Option<&RunCtx>,
        capability: &str,
        action: &str,
        target: &str,
        allowed: bool,
        detail: Option<&str>,
    ) {
        // A spell chooses targets (a URL, a tool's name): NUL, which some
        // stores refuse (PostgreSQL's jsonb), is kept as U+FFFD.
        let clean = |text: &str| text.replace('\0', "\u{fffd}");
        let mut record = serde_json::json!({
            "time_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            "capability": clean(capability),
            "action": clean(action),
            "target": clean(target),
            "allowed": allowed,
            "detail": detail.map(clean),
        });
        if let Some(run) = run {
            run.tag(&mut record);
        }
        self.sink.append(record);
    }
}

/// One refused capability use, with the grant that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Denial {
    pub capability: String,
    pub target: String,
    /// What happened and how to grant it, for a person.
    pub message: String,
    /// The grant that would have allowed it, as data each front end
    /// renders its own way; `None` when no grant would (a variable granted
    /// but not set on the host, a hook's refusal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
}

/// Where a run's bridges record what they allowed and refused: the audit
/// log if there is one, and always the run's denials. Cheap to clone.
#[derive(Clone, Default)]
pub struct Recorder {
    audit: Option<Audit>,
    denials: Arc<Mutex<Vec<Denial>>>,
    /// The run whose decisions these are (named in each audit record).
    run: Option<RunCtx>,
    /// How a denial names the grant that would allow it.
    wording: GrantWording,
}

impl Recorder {
    pub fn new(audit: Option<Audit>) -> Self {
        Self {
            audit,
            denials: Arc::default(),
            run: None,
            wording: GrantWording::default(),
        }
    }

    /// The same, naming grants as `wording` says.
    pub fn with_wording(mut self, wording: GrantWording) -> Self {
        self.wording = wording;
        self
    }

    /// The same audit log and list of denials, recording for `run`.
    pub fn for_run(&self, run: RunCtx) -> Self {
        Self {
            run: Some(run),
            ..self.clone()
        }
    }

    /// Records a use of `capability`.
    pub fn allowed(&self, capability: &str, action: &str, target: &str, detail: Option<&str>) {
        self.record(capability, action, target, true, detail);
    }

    /// Records a refusal: `message` says what was refused, `grant` is the
    /// grant that would allow it. Returns the message with how to grant it,
    /// in the deployment's wording — what the spell and the person see.
    pub fn denied(
        &self,
        capability: &str,
        action: &str,
        target: &str,
        message: &str,
        grant: Option<Grant>,
    ) -> String {
        let message = match &grant {
            Some(grant) => format!("{message}; {}", self.wording.hint(grant)),
            None => message.to_owned(),
        };
        self.record(capability, action, target, false, Some(&message));
        let denial = Denial {
            capability: capability.to_owned(),
            target: target.to_owned(),
            message: message.clone(),
            grant,
        };
        let mut denials = self.denials.lock().unwrap_or_else(|e| e.into_inner());
        if !denials.contains(&denial) {
            if let Some(run) = &self.run {
                run.signal(|| crate::bridges::run::RunSignal::Denial(denial.clone()));
            }
            denials.push(denial);
        }
        message
    }

    /// The distinct denials so far, oldest first.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Recorder {
    fn record(
        &self,
        capability: &str,
        action: &str,
        target: &str,
        allowed: bool,
        detail: Option<&str>,
    ) {
        if let Some(audit) = &self.audit {
            audit.record(
                self.run.as_ref(),
                capability,
                action,
                target,
                allowed,
                detail,
            );
        }
    }
}
