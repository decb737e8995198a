//! `spell` steps of workflows: a spell running another spell.
//!
//! The other spell's file must lie under one of the caller's read grants
//! (reading a component is reading a file); a package named `oci://…` must
//! have been pulled (verified, in the local store): a running spell never
//! makes the host pull. It runs with no grants of its
//! own (deny by default, like any spell), under the caller's limits, and it
//! shares the caller's LLM budget, hooks and audit trail, so a workflow
//! cannot multiply its budget or step around its guards by delegating. Its
//! private state is its own, under the caller's name (`caller/child`), so a
//! copy of another spell's file cannot read that spell's state. Nesting is
//! bounded at [`MAX_DEPTH`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Inherited, Runtime, Spell, SpellConfig};
use crate::bridges::workflow::SpellRunner;
use crate::limits::Limits;

/// How deep spells may call spells.
pub const MAX_DEPTH: u32 = 4;

pub struct SubSpells {
    runtime: Runtime,
    caller: String,
    /// The caller's read and write grants, resolved on first use.
    grants: Vec<PathBuf>,
    limits: Limits,
    inherited: Inherited,
    /// Spells loaded by this run, by path: a `map` over a spell step loads
    /// it once.
    loaded: Mutex<HashMap<PathBuf, Arc<Spell>>>,
}

impl SubSpells {
    /// Children of `caller`; `inherited.depth` is the children's depth.
    pub(crate) fn new(
        runtime: Runtime,
        caller: &Spell,
        limits: &Limits,
        inherited: Inherited,
    ) -> Self {
        Self {
            runtime,
            caller: caller.name.clone(),
            grants: caller
                .grants
                .read
                .iter()
                .chain(&caller.grants.write)
                .cloned()
                .collect(),
            limits: limits.clone(),
            inherited,
            loaded: Mutex::default(),
        }
    }
}

impl SubSpells {
    /// Loads (once per run) the spell at `resolved`, named `caller/stem`.
    fn load(&self, resolved: &Path) -> Result<Arc<Spell>, String> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(spell) = loaded.get(resolved) {
            return Ok(spell.clone());
        }
        let bytes = std::fs::read(resolved).map_err(|e| format!("reading it: {e}"))?;
        let name = format!("{}/{}", self.caller, super::name_from_path(resolved));
        let spell = self
            .runtime
            .load_file(&name, resolved, bytes, SpellConfig::default())
            .map_err(|e| e.to_string())?;
        let spell = Arc::new(spell);
        loaded.insert(resolved.to_owned(), spell.clone());
        Ok(spell)
    }
}

impl SubSpells {
    /// Loads (once per run) the pulled package `reference` names, from the
    /// local store (a running spell never makes the host pull).
    fn load_package(&self, text: &str) -> Result<Arc<Spell>, String> {
        let key = PathBuf::from(text);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(spell) = loaded.get(&key) {
            return Ok(spell.clone());
        }
        let reference = crate::market::Reference::parse(text)?;
        let packages = self.runtime.services().packages.as_ref().ok_or_else(|| {
            format!("{text}: this host runs no pulled packages in workflow steps")
        })?;
        let verified = packages.stored(&reference).map_err(|e| e.to_string())?;
        if verified.artifact.kind() != crate::policy::manifest::PackageKind::Spell {
            return Err(format!(
                "{text} is a {} package, not a spell",
                verified.artifact.kind().as_str()
            ));
        }
        // Named by its package (HOST/NS/NAME), not by what it claims.
        let stem = reference.package();
        let base = verified.artifact.name(&reference.repository);
        let payload = verified.artifact.payload()?;
        let file = format!("{base}.{}", payload.extension());
        let bytes = payload.bytes().to_vec();
        let name = format!("{}/{stem}", self.caller);
        let spell = self
            .runtime
            .load_bytes(
                &name,
                Path::new(&file),
                bytes,
                SpellConfig::default(),
                payload.modules(),
            )
            .map_err(|e| e.to_string())?;
        let spell = Arc::new(spell);
        loaded.insert(key, spell.clone());
        Ok(spell)
    }
}

impl SubSpells {
    /// Runs a loaded child under the caller's limits, budget and hooks.
    async fn run_child(&self, spell: &Spell, input: &str, path: &str) -> Result<String, String> {
        let report = Box::pin(self.runtime.run_nested(
            spell,
            input,
            &self.limits,
            super::Origin::Step(self.inherited.clone()),
        ))
        .await;
        report.result.map_err(|e| format!("spell {path}: {e}"))
    }
}

#[async_trait::async_trait]
impl SpellRunner for SubSpells {
    async fn run_spell(&self, path: &str, input: &str) -> Result<String, String> {
        let recorder = &self.inherited.recorder;
        if path.starts_with(crate::market::reference::SCHEME) {
            if self.inherited.depth > MAX_DEPTH {
                return Err(format!(
                    "spells may call spells {MAX_DEPTH} deep; {path} would go deeper"
                ));
            }
            let spell = self
                .load_package(path)
                .map_err(|e| recorder.denied("spell", "run", path, &e, None))?;
            recorder.allowed("spell", "run", path, None);
            return self.run_child(&spell, input, path).await;
        }
        let resolved =
            std::fs::canonicalize(Path::new(path)).map_err(|e| format!("spell {path}: {e}"))?;
        let readable = self
            .grants
            .iter()
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .any(|dir| resolved.starts_with(dir));
        if !readable {
            let dir = resolved.parent().unwrap_or(&resolved).display().to_string();
            let message = recorder.denied(
                "spell",
                "run",
                path,
                &format!("running spell {path} reads it, which is not granted"),
                Some(crate::policy::Grant::Read(dir.into())),
            );
            return Err(message);
        }
        if self.inherited.depth > MAX_DEPTH {
            return Err(format!(
                "spells may call spells {MAX_DEPTH} deep; {path} would go deeper"
            ));
        }
        recorder.allowed("spell", "run", path, None);
        let spell = self
            .load(&resolved)
            .map_err(|e| format!("spell {path}: {e}"))?;
        self.run_child(&spell, input, path).await
    }
}
