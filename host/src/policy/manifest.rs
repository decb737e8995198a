//! The spell manifest: `<name>.spell.toml` beside `<name>.wasm`.
//!
//! A file rather than a custom section so that users can read and review it
//! before running a stranger's spell, and so that a packager can sign the
//! pair later. It declares who the spell is, what it asks for, and the
//! limits it needs; `spellhost inspect` shows it. Requests are never
//! granted by themselves.
//!
//! ```toml
//! [spell]
//! name = "summarize"            # its identity for state (default: file name)
//! description = "Summarises text and caches the results"
//!
//! [requests]
//! read = ["./notes"]            # relative to the manifest
//! models = ["openai/*"]
//!
//! [build]                       # `spellhost build` runs it beside the manifest
//! command = "cargo build --release --target wasm32-wasip2 && cp target/wasm32-wasip2/release/summarize.wasm ."
//!
//! [limits]                      # used unless the command line says otherwise
//! fuel = 2000000000
//! memory = "64MiB"
//! timeout = "30s"
//! max_llm_tokens = 4000
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use super::Grants;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub spell: SpellInfo,
    #[serde(default)]
    pub requests: Grants,
    #[serde(default)]
    pub limits: ManifestLimits,
    /// How to build the component from its source (`spellhost build`).
    pub build: Option<BuildInfo>,
}

/// A manifest's `[build]`: the command that turns the source into the
/// `.wasm` beside the manifest, run by `spellhost build` (and before
/// `spellhost test`) in the manifest's directory with `sh -c`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInfo {
    pub command: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpellInfo {
    pub name: Option<String>,
    pub description: Option<String>,
    /// JSON Schema of the spell's input (a TOML table), for `serve` and
    /// `mcp`; without one, the input is a string.
    pub input_schema: Option<serde_json::Value>,
    /// What follows is for packages (`spellhost package`): the version
    /// published, who wrote it, under which license, what it is, and the
    /// README shown by `spellhost info` (relative to the manifest).
    pub version: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    pub license: Option<String>,
    pub kind: Option<PackageKind>,
    pub readme: Option<PathBuf>,
    /// Where the source lives (a URL).
    pub source: Option<String>,
    /// Modules a script spell's package carries besides those its sources
    /// name with a literal (`require "x"`, `import "./x.js"`): files and
    /// directories relative to the main script's directory, for modules
    /// loaded by computed names (see `market::bundle`).
    pub include: Option<Vec<PathBuf>>,
}

/// What a package is: a spell, a tool plugin or a hook plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    #[default]
    Spell,
    #[serde(alias = "tool-plugin")]
    Tool,
    #[serde(alias = "hook-plugin")]
    Hook,
}

impl PackageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Spell => "spell",
            PackageKind::Tool => "tool",
            PackageKind::Hook => "hook",
        }
    }
}

impl Manifest {
    /// Parses and checks a manifest's text. Paths in `[requests]` stay as
    /// written (see [`Grants::resolve_paths`]).
    pub fn parse(text: &str) -> anyhow::Result<Manifest> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.limits.overrides().context("[limits]")?;
        Ok(manifest)
    }
}

/// Limits as written in a file — a manifest's `[limits]`, a served spell's
/// `limits`, a run request's `limits` — sizes and durations as text
/// (`"64MiB"`, `"30s"`); each is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_llm_tokens: Option<u64>,
    /// US dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_llm_cost: Option<f64>,
    /// Resource handles held at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_handles: Option<u32>,
    /// Bytes a state namespace may hold (`"64MiB"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_quota: Option<String>,
    /// Keys a state namespace may hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_keys: Option<u64>,
    /// Bytes of log lines the run may write (`"16MiB"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_log: Option<String>,
    /// Events the run may publish per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_event_rate: Option<u32>,
}

impl ManifestLimits {
    /// The limits parsed and checked, as overrides.
    pub fn overrides(&self) -> anyhow::Result<super::resolve::LimitOverrides> {
        if let Some(cost) = self.max_llm_cost {
            crate::limits::check_cost(cost)
                .map_err(anyhow::Error::msg)
                .context("limits.max_llm_cost")?;
        }
        for (name, value) in [
            ("max_handles", self.max_handles),
            ("max_event_rate", self.max_event_rate),
        ] {
            if value == Some(0) {
                anyhow::bail!("limits.{name} must be 1 or more");
            }
        }
        Ok(super::resolve::LimitOverrides {
            fuel: self.fuel,
            memory_bytes: size("memory", &self.memory)?,
            timeout: self.timeout()?,
            max_output_bytes: size("max_output", &self.max_output)?,
            max_llm_tokens: self.max_llm_tokens,
            max_llm_cost_usd: self.max_llm_cost,
            max_handles: self.max_handles,
            state_bytes: size("state_quota", &self.state_quota)?,
            state_keys: self.state_keys,
            max_log_bytes: size("max_log", &self.max_log)?,
            max_event_rate: self.max_event_rate,
        })
    }

    pub fn timeout(&self) -> anyhow::Result<Option<Duration>> {
        self.timeout
            .as_deref()
            .map(humantime::parse_duration)
            .transpose()
            .context("limits.timeout")
    }
}

/// The size limit `name` as written (`"64MiB"`), parsed.
fn size(name: &str, text: &Option<String>) -> anyhow::Result<Option<u64>> {
    text.as_deref()
        .map(crate::limits::parse_size)
        .transpose()
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("limits.{name}"))
}

/// Where the manifest of `component` would be.
pub fn path_for(component: &Path) -> PathBuf {
    let stem = component
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("spell");
    component.with_file_name(format!("{stem}.spell.toml"))
}

/// Loads the manifest beside `component`, if there is one.
pub fn load_for(component: &Path) -> anyhow::Result<Option<(Manifest, PathBuf)>> {
    let path = path_for(component);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| format!("reading manifest {}", path.display()));
        }
    };
    let mut manifest =
        Manifest::parse(&text).with_context(|| format!("invalid manifest {}", path.display()))?;
    manifest.requests.resolve_paths(&path);
    Ok(Some((manifest, path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sits_beside_the_component() {
        let dir = tempfile::tempdir().unwrap();
        let component = dir.path().join("notes.wasm");
        assert!(load_for(&component).unwrap().is_none());
        std::fs::write(
            dir.path().join("notes.spell.toml"),
            "[spell]\nname = \"notes\"\n[requests]\nread = [\"data\"]\nenv = [\"LANG\"]\n[limits]\nmemory = \"64MiB\"\ntimeout = \"30s\"\n",
        )
        .unwrap();
        let (manifest, _) = load_for(&component).unwrap().unwrap();
        assert_eq!(manifest.spell.name.as_deref(), Some("notes"));
        assert_eq!(manifest.requests.read, [dir.path().join("data")]);
        let limits = manifest.limits.overrides().unwrap();
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert_eq!(
            manifest.limits.timeout().unwrap(),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn bad_manifests_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let component = dir.path().join("x.wasm");
        std::fs::write(
            dir.path().join("x.spell.toml"),
            "[limits]\nmemory = \"lots\"\n",
        )
        .unwrap();
        assert!(load_for(&component).is_err());
        std::fs::write(
            dir.path().join("x.spell.toml"),
            "[requests]\nnetwork = [\"*\"]\n",
        )
        .unwrap();
        assert!(load_for(&component).is_err());
        for (limits, names) in [
            ("max_llm_cost = nan", "max_llm_cost"),
            ("max_llm_cost = -1.0", "max_llm_cost"),
            ("max_event_rate = 0", "max_event_rate"),
            ("max_log = \"plenty\"", "max_log"),
        ] {
            let err = Manifest::parse(&format!("[limits]\n{limits}\n")).unwrap_err();
            assert!(format!("{err:#}").contains(names), "{limits}: {err:#}");
        }
    }
}
