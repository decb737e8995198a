//! One grant, as data: what would allow something a spell was refused, or
//! what its manifest asks for and nobody granted. The library decides;
//! each front end names the grant its own way — the CLI as a flag
//! ([`Grant::flag`]), a manifest, a policy file or a server's
//! configuration as a key ([`Grant::config_key`]), HTTP as JSON (it
//! serializes as `{"kind": "net", "value": "api.example.com"}`).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A grant of one capability (see the table in [`crate::policy`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Grant {
    /// Models matching a pattern.
    Model(String),
    /// A shared state namespace.
    StateNamespace(String),
    /// Reading a directory.
    Read(PathBuf),
    /// Reading and writing a directory.
    Write(PathBuf),
    /// An environment variable.
    Env(String),
    /// HTTP (and, for IP literals, TCP) to a host.
    Net(String),
}

impl Grant {
    /// The `spellhost run` flag that gives it: `--allow-net api.example.com`.
    pub fn flag(&self) -> String {
        let quoted = |text: &str| {
            if text.contains(['*', ' ', '\'']) {
                format!("'{text}'")
            } else {
                text.to_owned()
            }
        };
        match self {
            Grant::Model(pattern) => format!("--allow-model {}", quoted(pattern)),
            Grant::StateNamespace(name) => format!("--allow-state-ns {}", quoted(name)),
            Grant::Read(path) => format!("--allow-read {}", path.display()),
            Grant::Write(path) => format!("--allow-write {}", path.display()),
            Grant::Env(name) => format!("--allow-env {name}"),
            Grant::Net(host) => format!("--allow-net {}", quoted(host)),
        }
    }

    /// The key that gives it in a manifest's `[requests]`, a policy file or
    /// a server's spell configuration: `net = ["api.example.com"]`.
    pub fn config_key(&self) -> String {
        let (key, value) = match self {
            Grant::Model(v) => ("models", v.clone()),
            Grant::StateNamespace(v) => ("state_namespaces", v.clone()),
            Grant::Read(p) => ("read", p.display().to_string()),
            Grant::Write(p) => ("write", p.display().to_string()),
            Grant::Env(v) => ("env", v.clone()),
            Grant::Net(v) => ("net", v.clone()),
        };
        format!("{key} = [{}]", serde_json::Value::String(value))
    }
}

/// How a deployment's denials name the grant that would allow them: the
/// front end that runs the spell decides, so a spell's error says what its
/// operator can do (`spellhost run` takes flags; a server its config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GrantWording {
    /// `spellhost run`'s flags, and the manifest key.
    #[default]
    Flags,
    /// A server's configuration of the spell it serves as this name.
    ServerConfig(String),
}

impl GrantWording {
    /// What to do to allow it: `allow it with --allow-net x (manifest: …)`.
    pub fn hint(&self, grant: &Grant) -> String {
        match self {
            GrantWording::Flags => format!(
                "allow it with {} (manifest: {})",
                grant.flag(),
                grant.config_key()
            ),
            GrantWording::ServerConfig(name) => format!(
                "grant it in the server's configuration: [serve.spells.{name}] grants, {}",
                grant.config_key()
            ),
        }
    }
}

impl fmt::Display for Grant {
    /// The flag, as the command line is the common case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.flag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_named_by_each_front_end() {
        let net = Grant::Net("*.example.com".into());
        assert_eq!(net.flag(), "--allow-net '*.example.com'");
        assert_eq!(net.config_key(), r#"net = ["*.example.com"]"#);
        assert_eq!(
            serde_json::to_value(&net).unwrap(),
            serde_json::json!({ "kind": "net", "value": "*.example.com" })
        );
        assert_eq!(Grant::Read("/data".into()).flag(), "--allow-read /data");
        assert_eq!(
            serde_json::to_value(Grant::StateNamespace("team".into())).unwrap()["kind"],
            "state-namespace"
        );
    }
}
