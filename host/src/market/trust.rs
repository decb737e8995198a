//! The trust policy: which public keys may vouch for packages, per registry
//! or namespace. Pulled packages must carry a signature by one of the keys
//! that apply to their reference, unless unsigned ones are explicitly
//! allowed (`--allow-unsigned`, or `allow_unsigned` on a scope).
//!
//! ```toml
//! [trust]
//! keys = ["keys/acme.pub"]              # trusted for every registry
//!
//! [trust.scopes."127.0.0.1:5000/acme"]  # a registry, or a namespace in one
//! keys = ["keys/acme.pub"]
//!
//! [trust.scopes."127.0.0.1:5000/scratch"]
//! allow_unsigned = true
//! ```
//!
//! The most specific scope that matches a reference (`HOST/NS/NAME` starts
//! with the scope at a `/`) decides; `[trust] keys` applies where no scope
//! matches. Key paths are relative to the configuration file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use super::reference::Reference;
use super::sign::PublicKey;

/// `[trust]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSettings {
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    #[serde(default)]
    pub scopes: BTreeMap<String, ScopeSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSettings {
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// A trusted key and the name it is shown by (its file name).
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub name: String,
    pub key: PublicKey,
}

/// The keys that apply to one reference.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub keys: Vec<(String, PublicKey)>,
    pub allow_unsigned: bool,
    /// The scope that decided (`None`: the global keys).
    pub scope: Option<String>,
}

/// The policy with every key read.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    global: Vec<TrustedKey>,
    scopes: Vec<(String, Vec<TrustedKey>, bool)>,
}

impl TrustPolicy {
    /// Reads the keys `settings` name (relative to `base`, the
    /// configuration file's directory).
    pub fn load(settings: &TrustSettings, base: &Path) -> anyhow::Result<Self> {
        let read = |paths: &[PathBuf]| -> anyhow::Result<Vec<TrustedKey>> {
            paths
                .iter()
                .map(|path| {
                    let path = if path.is_relative() {
                        base.join(path)
                    } else {
                        path.clone()
                    };
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("[trust]: reading the key {}", path.display()))?;
                    let key = PublicKey::from_pem(&text)
                        .with_context(|| format!("[trust]: {}", path.display()))?;
                    Ok(TrustedKey {
                        name: key_name(&path),
                        key,
                    })
                })
                .collect()
        };
        let mut scopes = Vec::new();
        for (scope, entry) in &settings.scopes {
            let scope = scope.trim_end_matches('/').to_ascii_lowercase();
            // `HOST[:PORT][/NAMESPACE…]`: a scope with a scheme, a tag or a
            // digest would never match, and broader keys would apply unseen.
            let path = scope.split_once('/').map_or("", |(_, path)| path);
            if scope.is_empty()
                || scope.contains("://")
                || scope.contains('@')
                || path.contains(':')
                || scope.contains(char::is_whitespace)
            {
                anyhow::bail!(
                    "[trust.scopes.\"{scope}\"]: a scope is HOST[:PORT] or HOST[:PORT]/NAMESPACE, without oci://, a tag or a digest"
                );
            }
            scopes.push((scope, read(&entry.keys)?, entry.allow_unsigned));
        }
        // Most specific first.
        scopes.sort_by_key(|(scope, _, _)| std::cmp::Reverse(scope.len()));
        Ok(Self {
            global: read(&settings.keys)?,
            scopes,
        })
    }

    /// A policy of one key (`spellhost verify --key`).
    pub fn single(name: &str, key: PublicKey) -> Self {
        Self {
            global: vec![TrustedKey {
                name: name.to_owned(),
                key,
            }],
            scopes: Vec::new(),
        }
    }

    /// What applies to `reference`.
    pub fn for_reference(&self, reference: &Reference) -> Trust {
        let package = reference.package();
        let matches = |scope: &str| {
            package == scope
                || package
                    .strip_prefix(scope)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        let pairs = |keys: &[TrustedKey]| {
            keys.iter()
                .map(|k| (k.name.clone(), k.key.clone()))
                .collect()
        };
        match self.scopes.iter().find(|(scope, _, _)| matches(scope)) {
            Some((scope, keys, allow_unsigned)) => Trust {
                keys: pairs(keys),
                allow_unsigned: *allow_unsigned,
                scope: Some(scope.clone()),
            },
            None => Trust {
                keys: pairs(&self.global),
                allow_unsigned: false,
                scope: None,
            },
        }
    }
}

/// `acme` for `keys/acme.pub`.
pub fn key_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::sign::KeyPair;

    #[test]
    fn the_most_specific_scope_decides() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (KeyPair::generate().public(), KeyPair::generate().public());
        std::fs::write(dir.path().join("a.pub"), a.to_pem()).unwrap();
        std::fs::write(dir.path().join("b.pub"), b.to_pem()).unwrap();
        let settings: TrustSettings = toml::from_str(
            r#"
keys = ["a.pub"]
[scopes."reg:5000/acme"]
keys = ["b.pub"]
[scopes."reg:5000/acme/scratch"]
allow_unsigned = true
"#,
        )
        .unwrap();
        let policy = TrustPolicy::load(&settings, dir.path()).unwrap();
        let trust = |r: &str| policy.for_reference(&Reference::parse(r).unwrap());
        assert_eq!(trust("reg:5000/acme/hello").keys[0].1, b);
        assert_eq!(trust("reg:5000/acme/hello").keys[0].0, "b");
        assert!(!trust("reg:5000/acme/hello").allow_unsigned);
        assert!(trust("reg:5000/acme/scratch/x").allow_unsigned);
        assert!(trust("reg:5000/acme/scratch/x").keys.is_empty());
        // `acme` does not cover `acmecorp`.
        assert_eq!(trust("reg:5000/acmecorp/hello").keys[0].1, a);
        assert_eq!(trust("other/x").keys[0].0, "a");

        let missing: TrustSettings = toml::from_str("keys = [\"nope.pub\"]").unwrap();
        let err = TrustPolicy::load(&missing, dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("nope.pub"), "{err:#}");
    }
}
