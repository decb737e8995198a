//! Loading the spells a server offers: each file with its manifest, the
//! grants and limits the configuration gives it, decided by
//! `policy::resolve` exactly as `spellhost run` decides.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Served;
use crate::policy::Grants;
use crate::policy::manifest;
use crate::policy::resolve::{self, LimitOverrides};
use crate::runtime::{Runtime, SpellConfig};
use crate::settings::NetSettings;

/// What the configuration says about one spell.
#[derive(Debug, Clone, Default)]
pub struct SpellSpec {
    /// Its name in the API (default: the manifest's, else the file's stem).
    pub name: Option<String>,
    pub path: PathBuf,
    pub grant_requested: bool,
    pub grants: Grants,
    pub vars: BTreeMap<String, String>,
    pub allowed_vars: Vec<String>,
    pub limits: LimitOverrides,
}

/// Loads (and prepares) one spell.
pub fn load_spell(
    runtime: &Runtime,
    spec: &SpellSpec,
    net: &NetSettings,
) -> anyhow::Result<(String, Served)> {
    let path = &spec.path;
    let bytes = std::fs::read(path).with_context(|| format!("reading spell {}", path.display()))?;
    let manifest = manifest::load_for(path)?;
    let manifest = manifest.as_ref().map(|(m, _)| m);
    let name = spec
        .name
        .clone()
        .or_else(|| manifest.and_then(|m| m.spell.name.clone()))
        .unwrap_or_else(|| crate::runtime::name_from_path(path));
    let approval = resolve::approve(
        spec.grants.clone(),
        spec.grant_requested,
        None,
        &name,
        manifest,
    );
    if !approval.ungranted.is_empty() {
        let keys: Vec<String> = approval.ungranted.iter().map(|g| g.config_key()).collect();
        tracing::warn!(
            "spell `{name}` asks for {} in its manifest; not granted (add them to [serve.spells.{name}.grants], or grant_requested = true)",
            keys.join(", ")
        );
    }
    let config = SpellConfig {
        grants: approval.grants.clone(),
        vars: spec.vars.clone(),
        net_pins: net.hosts.clone(),
        net_secrets: net.secrets.clone(),
        grant_wording: crate::policy::GrantWording::ServerConfig(name.clone()),
        ..SpellConfig::default()
    };
    let spell = runtime
        .load_file(&name, path, bytes, config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    // The server's limits (configuration, else the defaults) are the cap;
    // a spell's manifest may ask for less, never more.
    let declared = match manifest {
        Some(m) => m.limits.overrides()?,
        None => LimitOverrides::default(),
    };
    let limits = declared.lower(
        &spec
            .limits
            .resolve(None)
            .with_context(|| format!("limits of spell `{name}`"))?,
    );
    let served = Served {
        spell,
        limits,
        allowed_vars: spec.allowed_vars.clone(),
        description: manifest.and_then(|m| m.spell.description.clone()),
        requested: manifest.map(|m| m.requests.clone()).unwrap_or_default(),
        granted: approval.grants,
        input_schema: manifest.and_then(|m| m.spell.input_schema.clone()),
    };
    Ok((name, served))
}

/// The spell files of `path`: the file itself, or a directory's `.wasm`,
/// `.lua`, `.js` and `.mjs` files (not recursing), sorted.
pub fn spell_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let file = entry?.path();
        let spell = matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("wasm" | "lua" | "js" | "mjs")
        );
        if spell && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}
