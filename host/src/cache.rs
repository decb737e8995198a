//! On-disk cache of compiled components.
//!
//! Compiling a component with Cranelift costs tens to hundreds of
//! milliseconds; loading the compiled artifact costs about one. Artifacts
//! are keyed by the SHA-256 of the component bytes *and* the engine's
//! compatibility hash (wasmtime version, target, compiler settings such as
//! fuel metering), so a changed spell or a changed engine can
//! never load a stale artifact. Writes go to a temporary file that is then
//! renamed, so concurrent runs never observe a half-written artifact.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from on this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompileSource {
    /// Compiled with Cranelift (and stored in the cache, if enabled).
    Compiled,
    /// Loaded from the compile cache.
    Cache,
    /// Already prepared in this process by an earlier load.
    Memory,
}

/// A loaded component and how it was obtained.
pub struct LoadedComponent {
    pub component: Component,
    pub source: CompileSource,
    pub elapsed: Duration,
    /// Content hash of the component bytes (hex).
    pub digest: String,
}

/// The compile cache; `None` directory disables it.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache in `dir`, created on first write.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
        }
    }

    /// No caching: every load compiles.
    pub fn disabled() -> Self {
        Self { dir: None }
    }

    /// The default location: `$SPELLHOST_CACHE_DIR`, else the user's cache
    /// directory (`~/.cache/spellhost/components` on Linux).
    pub fn default_location() -> Self {
        match std::env::var_os("SPELLHOST_CACHE_DIR") {
            Some(dir) => Self::at(PathBuf::from(dir).join("components")),
            None => match dirs::cache_dir() {
                Some(dir) => Self::at(dir.join("spellhost").join("components")),
                None => Self::disabled(),
            },
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Loads `bytes` as a component, from the cache when possible.
    ///
    /// A cache entry that cannot be read or deserialized is treated as a
    /// miss and rewritten; cache write failures are logged, never fatal.
    pub fn load(&self, engine: &Engine, bytes: &[u8]) -> anyhow::Result<LoadedComponent> {
        let started = Instant::now();
        let digest = hex::encode(Sha256::digest(bytes));
        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(artifact_name(engine, &digest)));

        if let Some(path) = &path
            && path.exists()
        {
            // SAFETY: the artifact was written by `Component::serialize` of a
            // compatible engine (the file name includes the engine's
            // compatibility hash) into the user's own cache directory.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => {
                    return Ok(LoadedComponent {
                        component,
                        source: CompileSource::Cache,
                        elapsed: started.elapsed(),
                        digest,
                    });
                }
                Err(err) => tracing::warn!(
                    path = %path.display(),
                    "ignoring unreadable compile cache entry: {err:#}"
                ),
            }
        }

        let component = Component::new(engine, bytes).map_err(anyhow::Error::from)?;
        let elapsed = started.elapsed();
        if let Some(path) = &path
            && let Err(err) = store_artifact(&component, path)
        {
            tracing::warn!(path = %path.display(), "could not write compile cache: {err:#}");
        }
        Ok(LoadedComponent {
            component,
            source: CompileSource::Compiled,
            elapsed,
            digest,
        })
    }
}

fn artifact_name(engine: &Engine, digest: &str) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
    format!("{digest}-{engine_hash}.cwasm")
}

fn store_artifact(component: &Component, path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Feeds `Hash` output into SHA-256, so the key is stable across processes
/// (std's `DefaultHasher` makes no such promise).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only finalize() is used")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
