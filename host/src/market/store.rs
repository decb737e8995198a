//! The local content-addressed store of pulled packages:
//! `<data dir>/store/blobs/sha256/<hex>` for manifests, configs and layers,
//! `<data dir>/store/signatures/<hex>.json` for the cosign signatures of a
//! manifest. A run of a pinned reference reads from here, offline.
//!
//! Nothing half-installed: every blob is written to a temporary file and
//! renamed into place only after its digest was checked, and a package's
//! manifest is written last, so a manifest in the store means its blobs are
//! too.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::artifact::Artifact;
use super::oci::{self, ImageManifest};
use super::sign::StoredSignature;

/// The store at one directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `<data dir>/store` (`$SPELLHOST_DATA_DIR` or `~/.local/share/spellhost`).
    pub fn default_location() -> Self {
        Self::at(crate::bridges::llm::catalog::data_dir().join("store"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        oci::is_digest(digest).then(|| {
            self.root
                .join("blobs/sha256")
                .join(&digest["sha256:".len()..])
        })
    }

    pub fn has(&self, digest: &str) -> bool {
        self.blob_path(digest).is_some_and(|p| p.is_file())
    }

    pub fn read(&self, digest: &str) -> anyhow::Result<Vec<u8>> {
        let path = self
            .blob_path(digest)
            .with_context(|| format!("`{digest}` is not a sha256 digest"))?;
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// Stores `bytes` under their digest (atomically; a no-op if present).
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<String> {
        let digest = oci::digest(bytes);
        let path = self.blob_path(&digest).expect("a computed digest");
        if !path.is_file() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Stores a complete artifact: config and layer first, manifest last.
    pub fn put(&self, artifact: &Artifact) -> anyhow::Result<()> {
        self.write(&artifact.config)?;
        self.write(&artifact.layer)?;
        let digest = self.write(&artifact.manifest_bytes)?;
        debug_assert_eq!(digest, artifact.digest);
        Ok(())
    }

    /// The artifact whose manifest digest is `digest`, if the store has all
    /// of it. The manifest is checked against its digest; blobs were checked
    /// when they were stored.
    pub fn artifact(&self, digest: &str) -> anyhow::Result<Option<Artifact>> {
        if !self.has(digest) {
            return Ok(None);
        }
        let manifest_bytes = self.read(digest)?;
        if oci::digest(&manifest_bytes) != digest {
            anyhow::bail!(
                "the stored manifest {digest} in {} does not match its digest; delete it and pull again",
                self.root.display()
            );
        }
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .with_context(|| format!("the stored manifest {digest} is not an image manifest"))?;
        let layer = Artifact::payload_descriptor(&manifest).map_err(anyhow::Error::msg)?;
        if !self.has(&manifest.config.digest) || !self.has(&layer.digest) {
            return Ok(None);
        }
        let config = self.read(&manifest.config.digest)?;
        let layer = self.read(&layer.digest)?;
        Ok(Some(Artifact {
            manifest,
            manifest_bytes,
            digest: digest.to_owned(),
            config,
            layer,
        }))
    }

    fn signatures_path(&self, digest: &str) -> Option<PathBuf> {
        oci::is_digest(digest).then(|| {
            self.root
                .join("signatures")
                .join(format!("{}.json", &digest["sha256:".len()..]))
        })
    }

    /// The signatures pulled with `digest` (none if unsigned).
    pub fn signatures(&self, digest: &str) -> Vec<StoredSignature> {
        self.signatures_path(digest)
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn set_signatures(
        &self,
        digest: &str,
        signatures: &[StoredSignature],
    ) -> anyhow::Result<()> {
        let path = self
            .signatures_path(digest)
            .with_context(|| format!("`{digest}` is not a sha256 digest"))?;
        write_atomic(&path, &serde_json::to_vec(signatures)?)
    }
}

/// Writes `bytes` to `path` all at once: a temporary file beside it,
/// synced, renamed over it (a crash leaves the old file whole, or none).
/// The file is readable by its owner only, as `tempfile` creates it — what
/// the marketplace writes (keys, logins, approvals, pulled packages) is
/// the user's alone.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing {}", path.display()))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::oci::Descriptor;

    #[test]
    fn artifacts_round_trip_and_partial_ones_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path());
        let config = b"{}".to_vec();
        let layer = b"\0asm\x0d\0\x01\0".to_vec();
        let manifest = ImageManifest::new(
            Descriptor::of(oci::WASM_CONFIG, &config),
            vec![Descriptor::of(oci::WASM_LAYER, &layer)],
        );
        let artifact = Artifact::assemble(manifest, config, layer.clone());
        assert!(store.artifact(&artifact.digest).unwrap().is_none());
        // A manifest without its layer is not an artifact.
        store.write(&artifact.manifest_bytes).unwrap();
        assert!(store.artifact(&artifact.digest).unwrap().is_none());
        store.put(&artifact).unwrap();
        let back = store.artifact(&artifact.digest).unwrap().unwrap();
        assert_eq!(back.layer, layer);
        assert_eq!(back.manifest, artifact.manifest);
        assert!(store.signatures(&artifact.digest).is_empty());
    }
}
