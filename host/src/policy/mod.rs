//! Capability policy: what a spell may do beyond pure compute.
//!
//! Deny by default. A spell gets compute within its limits, its own private
//! and per-run state, logging, its `--var`s, the event bus (minus the host's
//! `spellhost.*` topics) and the run's default model. Everything else is a
//! grant:
//!
//! | grant                    | flag                    | manifest key (`[requests]`) | what it opens                                  |
//! |--------------------------|-------------------------|-----------------------------|------------------------------------------------|
//! | read a directory         | `--allow-read PATH`     | `read = ["PATH"]`           | a read-only WASI preopen of PATH               |
//! | read and write           | `--allow-write PATH`    | `write = ["PATH"]`          | a read-write WASI preopen of PATH              |
//! | an environment variable  | `--allow-env NAME`      | `env = ["NAME"]`            | NAME (if set on the host) in the spell's env   |
//! | the network              | `--allow-net HOST[:PORT]` | `net = ["HOST[:PORT]"]`   | outgoing HTTP (`wasi:http`) to HOST; raw TCP to granted IP literals ([`net`]) |
//! | other models             | `--allow-model PATTERN` | `models = ["PATTERN"]`      | models matching PATTERN (`*` globs)            |
//! | shared state             | `--allow-state-ns NAME` | `state_namespaces = ["NAME"]` | the shared namespace NAME (`*` for all)      |
//!
//! A spell's manifest ([`manifest`]) says what it asks for; only the user
//! grants: with flags, with `--grant-requested` (everything the manifest
//! asks for), or with a policy file ([`PolicyFile`]) for non-interactive use.

pub mod audit;
pub mod audit_log;
mod grant;
pub mod manifest;
pub mod net;
pub mod resolve;

pub use grant::{Grant, GrantWording};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Capabilities granted to (or requested by) a spell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// Model patterns beyond the run's default model.
    pub models: Vec<String>,
    /// Shared state namespaces (`*` = all).
    pub state_namespaces: Vec<String>,
    /// Directories readable by the spell.
    pub read: Vec<PathBuf>,
    /// Directories readable and writable by the spell.
    pub write: Vec<PathBuf>,
    /// Environment variables passed through from the host.
    pub env: Vec<String>,
    /// Hosts the spell may reach over HTTP (`HOST[:PORT]`, `*.DOMAIN`, IPs).
    pub net: Vec<String>,
}

impl Grants {
    /// Adds `other`'s grants to these (duplicates dropped).
    pub fn extend(&mut self, other: &Grants) {
        fn add<T: PartialEq + Clone>(to: &mut Vec<T>, from: &[T]) {
            for item in from {
                if !to.contains(item) {
                    to.push(item.clone());
                }
            }
        }
        add(&mut self.models, &other.models);
        add(&mut self.state_namespaces, &other.state_namespaces);
        add(&mut self.read, &other.read);
        add(&mut self.write, &other.write);
        add(&mut self.env, &other.env);
        add(&mut self.net, &other.net);
    }

    /// Paths relative to the directory of `file` made absolute (manifest and
    /// policy paths are relative to their file, not to the working directory).
    pub fn resolve_paths(&mut self, file: &Path) {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        for path in self.read.iter_mut().chain(self.write.iter_mut()) {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Grants::default()
    }

    /// What is in `self` but not granted by `granted`.
    pub fn missing_from(&self, granted: &Grants) -> Vec<Grant> {
        let mut missing = Vec::new();
        for model in self.models.iter().filter(|m| !granted.models.contains(m)) {
            missing.push(Grant::Model(model.clone()));
        }
        for ns in self
            .state_namespaces
            .iter()
            .filter(|n| !granted.state_namespaces.contains(n))
        {
            missing.push(Grant::StateNamespace(ns.clone()));
        }
        for path in self
            .read
            .iter()
            .filter(|p| !granted.read.contains(p) && !granted.write.contains(p))
        {
            missing.push(Grant::Read(path.clone()));
        }
        for path in self.write.iter().filter(|p| !granted.write.contains(p)) {
            missing.push(Grant::Write(path.clone()));
        }
        for var in self.env.iter().filter(|v| !granted.env.contains(v)) {
            missing.push(Grant::Env(var.clone()));
        }
        for host in self.net.iter().filter(|h| !granted.net.contains(h)) {
            missing.push(Grant::Net(host.clone()));
        }
        missing
    }
}

/// A policy file: grants approved ahead of time, per spell name, for runs
/// nobody watches (`spellhost run --policy FILE`).
///
/// ```toml
/// [spells.summarize]
/// read = ["/srv/notes"]
/// models = ["openai/*"]
///
/// [spells.watch]
/// grant_requested = true    # whatever watch's manifest asks for
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(default)]
    pub spells: BTreeMap<String, PolicyEntry>,
}

/// The grants a policy file approves for one spell.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Approve everything the spell's manifest requests.
    #[serde(default)]
    pub grant_requested: bool,
    #[serde(flatten)]
    pub grants: Grants,
}

impl PolicyFile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading policy file {}", path.display()))?;
        let mut policy: PolicyFile = toml::from_str(&text)
            .with_context(|| format!("invalid policy file {}", path.display()))?;
        for entry in policy.spells.values_mut() {
            entry.grants.resolve_paths(path);
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_grants_are_named_as_flags() {
        let requested = Grants {
            models: vec!["openai/*".into()],
            read: vec!["/data".into()],
            write: vec!["/out".into()],
            env: vec!["HOME".into()],
            ..Grants::default()
        };
        let granted = Grants {
            write: vec!["/data".into()],
            env: vec!["HOME".into()],
            ..Grants::default()
        };
        let missing: Vec<String> = requested
            .missing_from(&granted)
            .iter()
            .map(Grant::flag)
            .collect();
        assert_eq!(missing, ["--allow-model 'openai/*'", "--allow-write /out"]);
    }

    #[test]
    fn policy_files_resolve_paths_next_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(
            &path,
            "[spells.a]\nread = [\"notes\"]\n[spells.b]\ngrant_requested = true\n",
        )
        .unwrap();
        let policy = PolicyFile::load(&path).unwrap();
        assert_eq!(policy.spells["a"].grants.read, [dir.path().join("notes")]);
        assert!(policy.spells["b"].grant_requested);
        std::fs::write(&path, "[spells.a]\nreed = []\n").unwrap();
        assert!(
            PolicyFile::load(&path).is_err(),
            "typos are errors, not silent denials"
        );
    }
}
