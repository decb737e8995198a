//! `spellhost.lock`: each tag a project runs pinned to the digest it was
//! first pulled at, so the same reference runs the same bytes until
//! `spellhost update` moves the pin. The lock holds references and digests
//! only — never credentials.
//!
//! ```toml
//! # spellhost.lock — written by spellhost; `spellhost update` moves pins.
//! version = 1
//!
//! [[package]]
//! reference = "127.0.0.1:5000/acme/hello:1.0"
//! digest = "sha256:…"
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::oci::is_digest;
use super::reference::Reference;

pub const FILE_NAME: &str = "spellhost.lock";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    version: u32,
    #[serde(default, rename = "package")]
    packages: Vec<Pin>,
}

/// One pinned tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// `HOST/REPO:TAG`.
    pub reference: String,
    pub digest: String,
}

/// The lock file of a project.
#[derive(Debug, Clone)]
pub struct Lock {
    path: PathBuf,
    file: LockFile,
}

impl Lock {
    /// The lock at `path` (empty if there is none yet).
    pub fn load(path: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let path = path.into();
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: LockFile = toml::from_str(&text)
                    .with_context(|| format!("{} is not a spellhost lock file", path.display()))?;
                if file.version != 1 {
                    anyhow::bail!(
                        "{} is lock file version {}; this spellhost reads version 1",
                        path.display(),
                        file.version
                    );
                }
                if let Some(bad) = file.packages.iter().find(|p| !is_digest(&p.digest)) {
                    anyhow::bail!(
                        "{}: `{}` is not a sha256 digest",
                        path.display(),
                        bad.digest
                    );
                }
                file
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => LockFile {
                version: 1,
                packages: Vec::new(),
            },
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self { path, file })
    }

    /// `./spellhost.lock`.
    pub fn in_current_dir() -> anyhow::Result<Self> {
        Self::load(FILE_NAME)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The digest `reference`'s tag is pinned to.
    pub fn pinned(&self, reference: &Reference) -> Option<&str> {
        let key = reference.tagged();
        self.file
            .packages
            .iter()
            .find(|p| p.reference == key)
            .map(|p| p.digest.as_str())
    }

    /// Pins `reference`'s tag to `digest`; whether anything changed.
    pub fn pin(&mut self, reference: &Reference, digest: &str) -> bool {
        let key = reference.tagged();
        match self.file.packages.iter_mut().find(|p| p.reference == key) {
            Some(pin) if pin.digest == digest => false,
            Some(pin) => {
                pin.digest = digest.to_owned();
                true
            }
            None => {
                self.file.packages.push(Pin {
                    reference: key,
                    digest: digest.to_owned(),
                });
                self.file
                    .packages
                    .sort_by(|a, b| a.reference.cmp(&b.reference));
                true
            }
        }
    }

    pub fn pins(&self) -> &[Pin] {
        &self.file.packages
    }

    /// Writes the lock back (atomically).
    pub fn save(&self) -> anyhow::Result<()> {
        let text = format!(
            "# spellhost.lock — written by spellhost; `spellhost update` moves pins.\n{}",
            toml::to_string(&self.file)?
        );
        super::store::write_atomic(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn pins_survive_a_round_trip_and_move_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut lock = Lock::load(&path).unwrap();
        let r = Reference::parse("127.0.0.1:5000/acme/hello:1.0").unwrap();
        assert_eq!(lock.pinned(&r), None);
        assert!(lock.pin(&r, A));
        assert!(!lock.pin(&r, A));
        lock.save().unwrap();
        let mut again = Lock::load(&path).unwrap();
        assert_eq!(again.pinned(&r), Some(A));
        // The same tag by a pinned digest is the same entry.
        assert_eq!(again.pinned(&r.with_digest(B)), Some(A));
        assert!(again.pin(&r, B));
        assert_eq!(again.pinned(&r), Some(B));
        std::fs::write(
            &path,
            "version = 1\n[[package]]\nreference = \"x/y:1\"\ndigest = \"md5:1\"\n",
        )
        .unwrap();
        assert!(
            Lock::load(&path)
                .unwrap_err()
                .to_string()
                .contains("not a sha256 digest")
        );
    }
}
