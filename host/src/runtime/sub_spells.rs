//! `spell` steps of workflows: a spell running another spell.
//!
//! The other spell's file must lie under one of the caller's read grants
//! (reading a component is reading a file), it runs with no grants of its
//! own (deny by default, like any spell), under the caller's limits, and
//! nesting is bounded so spells cannot recurse forever.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Runtime, SpellConfig};
use crate::bridges::workflow::SpellRunner;
use crate::limits::Limits;
use crate::policy::Grants;
use crate::policy::audit::Recorder;

/// How deep spells may call spells.
pub const MAX_DEPTH: u32 = 4;

static DEPTH: AtomicU32 = AtomicU32::new(0);

pub struct SubSpells {
    runtime: Runtime,
    readable: Vec<PathBuf>,
    limits: Limits,
    recorder: Recorder,
}

impl SubSpells {
    pub fn new(runtime: Runtime, grants: &Grants, limits: &Limits, recorder: &Recorder) -> Self {
        let readable = grants
            .read
            .iter()
            .chain(&grants.write)
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        Self {
            runtime,
            readable,
            limits: limits.clone(),
            recorder: recorder.clone(),
        }
    }
}

struct DepthGuard;

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl SpellRunner for SubSpells {
    async fn run_spell(&self, path: &str, input: &str) -> Result<String, String> {
        let requested = Path::new(path);
        let resolved =
            std::fs::canonicalize(requested).map_err(|e| format!("spell {path}: {e}"))?;
        if !self.readable.iter().any(|dir| resolved.starts_with(dir)) {
            let dir = resolved.parent().unwrap_or(&resolved).display().to_string();
            let message = format!(
                "running spell {path} reads it, which is not granted; allow it with --allow-read {dir}"
            );
            self.recorder.denied("spell", "run", path, &message);
            return Err(message);
        }
        if DEPTH.fetch_add(1, Ordering::SeqCst) >= MAX_DEPTH {
            DEPTH.fetch_sub(1, Ordering::SeqCst);
            return Err(format!(
                "spells may nest {MAX_DEPTH} deep; {path} would go deeper"
            ));
        }
        let _guard = DepthGuard;
        self.recorder.allowed("spell", "run", path, None);
        let bytes = std::fs::read(&resolved).map_err(|e| format!("reading spell {path}: {e}"))?;
        let name = resolved
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("spell")
            .to_owned();
        let spell = self
            .runtime
            .load(&name, &bytes, SpellConfig::default())
            .map_err(|e| format!("spell {path}: {e}"))?;
        let report = Box::pin(self.runtime.run(&spell, input, &self.limits)).await;
        report.result.map_err(|e| format!("spell {path}: {e}"))
    }
}
