//! Permission review: what a user approved for each pulled package.
//!
//! The first run of a package shows its signer, digest and requested grants
//! and asks; the answer is recorded per package (`HOST/NS/NAME`) and digest
//! in `<data dir>/approvals.json`. A later digest of the same package that
//! asks for no more than was approved runs without asking; one that asks
//! for more is reviewed again, showing only what is new.
//! `spellhost grants list` shows the records, `spellhost grants revoke`
//! forgets them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::policy::{Grant, Grants};

/// Every recorded approval.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Approvals {
    #[serde(default)]
    packages: BTreeMap<String, PackageApproval>,
    #[serde(skip)]
    path: PathBuf,
}

/// What was approved for one package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackageApproval {
    /// The grants approved, as the package's manifest writes them.
    pub grants: Grants,
    /// Each digest run with them: who signed it and when it was approved.
    pub digests: BTreeMap<String, DigestApproval>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestApproval {
    /// The signing key (`name (SHA256:…)`), or `unsigned`.
    pub signer: String,
    /// RFC 3339.
    pub approved_at: String,
}

/// What a run of a package needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Review {
    /// Approved before (this digest, or another asking for no more).
    Approved,
    /// Never approved: show everything requested.
    First,
    /// Approved before, but this digest asks for more: show `new`.
    More { new: Vec<Grant> },
}

impl Approvals {
    /// `<data dir>/approvals.json`.
    pub fn default_path() -> PathBuf {
        crate::bridges::llm::catalog::data_dir().join("approvals.json")
    }

    pub fn load(path: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let path = path.into();
        let mut approvals: Approvals = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not an approvals file", path.display()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Approvals::default(),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        approvals.path = path;
        Ok(approvals)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `package` asking for `requested` needs a review.
    pub fn review(&self, package: &str, requested: &Grants) -> Review {
        let Some(approved) = self.packages.get(package) else {
            return Review::First;
        };
        let new = requested.missing_from(&approved.grants);
        if new.is_empty() {
            Review::Approved
        } else {
            Review::More { new }
        }
    }

    /// Records that `package` at `digest` runs with `grants`.
    pub fn approve(&mut self, package: &str, digest: &str, signer: &str, grants: &Grants) {
        let entry = self.packages.entry(package.to_owned()).or_default();
        entry.grants.extend(grants);
        entry.digests.insert(
            digest.to_owned(),
            DigestApproval {
                signer: signer.to_owned(),
                approved_at: jiff_now(),
            },
        );
    }

    /// Forgets `name`: a whole package (`HOST/NS/NAME`), or every package
    /// whose name ends with `/NAME`. Returns the packages forgotten.
    pub fn revoke(&mut self, name: &str) -> Vec<String> {
        let name = name.strip_prefix(super::reference::SCHEME).unwrap_or(name);
        let name = name.split(['@']).next().unwrap_or(name);
        let matching: Vec<String> = self
            .packages
            .keys()
            .filter(|p| *p == name || p.ends_with(&format!("/{name}")))
            .cloned()
            .collect();
        for package in &matching {
            self.packages.remove(package);
        }
        matching
    }

    pub fn packages(&self) -> &BTreeMap<String, PackageApproval> {
        &self.packages
    }

    pub fn save(&self) -> anyhow::Result<()> {
        super::store::write_atomic(&self.path, &serde_json::to_vec_pretty(self)?)
    }
}

fn jiff_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_grants_are_reviewed_again_and_revoking_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let mut approvals = Approvals::load(dir.path().join("a.json")).unwrap();
        let net = Grants {
            net: vec!["api.example.com".into()],
            ..Grants::default()
        };
        let pkg = "reg:5000/acme/hello";
        assert_eq!(approvals.review(pkg, &net), Review::First);
        approvals.approve(pkg, "sha256:1", "acme", &net);
        approvals.save().unwrap();
        let mut approvals = Approvals::load(dir.path().join("a.json")).unwrap();
        assert_eq!(approvals.review(pkg, &net), Review::Approved);
        // A new digest asking for the same runs; one asking more is reviewed.
        assert_eq!(approvals.review(pkg, &net), Review::Approved);
        let mut more = net.clone();
        more.env.push("HOME".into());
        assert_eq!(
            approvals.review(pkg, &more),
            Review::More {
                new: vec![Grant::Env("HOME".into())]
            }
        );
        assert_eq!(approvals.revoke("hello"), vec![pkg.to_owned()]);
        assert_eq!(approvals.review(pkg, &net), Review::First);
    }
}
