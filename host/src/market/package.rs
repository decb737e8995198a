//! `spellhost package`: a spell or plugin and its manifest checked and
//! turned into an OCI artifact, written as an OCI image layout directory
//! (which `skopeo`, `oras` and `crane` read) or pushed as is.
//!
//! What is checked before anything is written: the manifest parses and
//! names the package and its version; the requested grants are well-formed;
//! a component has the world its kind needs (`run` for a spell,
//! `tool-provider` or `hook-handler` for a plugin) and links against
//! spellhost; a script is source for an interpreter spellhost ships, and
//! carries its modules (those its sources name, and those `[spell]
//! include` names) as one layer. The package is read back as a host that
//! pulls it would, so what cannot load is never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::inspect::ComponentKind;
use crate::policy::Grants;
use crate::policy::manifest::{self, Manifest, PackageKind};
use crate::runtime::Runtime;
use crate::scripts::Language;

use super::artifact::Artifact;
use super::bundle::Bundle;
use super::oci::{self, ComponentInfo, Descriptor, ImageManifest, ScriptConfig, WasmConfig};

/// The largest README a package carries (it travels as an annotation).
pub const MAX_README: usize = 256 << 10;

/// What to package.
#[derive(Debug, Clone)]
pub struct PackageSource {
    /// The component or script.
    pub path: PathBuf,
    /// The manifest (default: `<name>.spell.toml` beside `path`).
    pub manifest: Option<PathBuf>,
}

/// Checks `source` and builds its artifact.
pub fn build(runtime: &Runtime, source: &PackageSource) -> anyhow::Result<Artifact> {
    let path = &source.path;
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let manifest_path = source
        .manifest
        .clone()
        .unwrap_or_else(|| manifest::path_for(path));
    let manifest_text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "a package needs a manifest: {} is missing (write [spell] name, version, description, license and [requests] there; see docs/marketplace.md)",
            manifest_path.display()
        )
    })?;
    let manifest = Manifest::parse(&manifest_text)
        .with_context(|| format!("invalid manifest {}", manifest_path.display()))?;
    let info = &manifest.spell;
    let name = info.name.clone().with_context(|| {
        format!(
            "{}: [spell] name is required in a package",
            manifest_path.display()
        )
    })?;
    check_name(&name).with_context(|| format!("{}: [spell] name", manifest_path.display()))?;
    let version = info.version.clone().with_context(|| {
        format!(
            "{}: [spell] version is required in a package (e.g. \"1.0.0\")",
            manifest_path.display()
        )
    })?;
    if version.is_empty() || version.chars().any(char::is_whitespace) {
        bail!(
            "{}: [spell] version `{version}` must be one word, e.g. 1.0.0",
            manifest_path.display()
        );
    }
    check_requests(&manifest.requests)
        .with_context(|| format!("{}: [requests]", manifest_path.display()))?;
    let kind = info.kind.unwrap_or_default();
    let readme = match &info.readme {
        Some(readme) => {
            let readme_path = manifest_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(readme);
            let text = std::fs::read_to_string(&readme_path)
                .with_context(|| format!("reading the README {}", readme_path.display()))?;
            if text.len() > MAX_README {
                bail!(
                    "the README {} is {} KiB; a package carries at most {} KiB",
                    readme_path.display(),
                    text.len() >> 10,
                    MAX_README >> 10
                );
            }
            Some(text)
        }
        None => None,
    };
    let created = created_now();
    let mut annotations = BTreeMap::new();
    annotations.insert(oci::TITLE.to_owned(), name.clone());
    annotations.insert(oci::VERSION.to_owned(), version);
    annotations.insert(oci::CREATED.to_owned(), created.clone());
    annotations.insert(oci::KIND.to_owned(), kind.as_str().to_owned());
    annotations.insert(oci::MANIFEST.to_owned(), manifest_text);
    if let Some(description) = &info.description {
        annotations.insert(oci::DESCRIPTION.to_owned(), description.clone());
    }
    if !info.authors.is_empty() {
        annotations.insert(oci::AUTHORS.to_owned(), info.authors.join(", "));
    }
    if let Some(license) = &info.license {
        annotations.insert(oci::LICENSES.to_owned(), license.clone());
    }
    if let Some(source) = &info.source {
        annotations.insert(oci::SOURCE.to_owned(), source.clone());
    }
    if let Some(readme) = readme {
        annotations.insert(oci::README.to_owned(), readme);
    }

    let (config_type, config_bytes, layer_type) = match Language::detect(path, &bytes) {
        Some(language) => {
            if kind != PackageKind::Spell {
                bail!(
                    "{}: a {} script can only be a spell; plugins are components",
                    path.display(),
                    language.name()
                );
            }
            language
                .check_source(&path.display().to_string(), &bytes)
                .map_err(anyhow::Error::msg)?;
            annotations.insert(
                oci::INTERPRETER.to_owned(),
                language.interpreter_id().to_owned(),
            );
            let config = ScriptConfig {
                interpreter: language.interpreter_id().to_owned(),
                created: Some(created),
            };
            // The script and its modules; one file stays a plain layer.
            let bundle = Bundle::collect(path, language, info.include.as_deref())
                .with_context(|| format!("packaging {}", path.display()))?;
            let layer_type = match (language, bundle.files.len() > 1) {
                (Language::Lua, false) => oci::LUA_LAYER,
                (Language::JavaScript, false) => oci::JS_LAYER,
                (Language::Lua, true) => oci::LUA_BUNDLE_LAYER,
                (Language::JavaScript, true) => oci::JS_BUNDLE_LAYER,
            };
            if bundle.files.len() > 1 {
                annotations.insert(oci::SCRIPT_MAIN.to_owned(), bundle.main.clone());
                bytes = bundle.to_tar()?;
            }
            (oci::SCRIPT_CONFIG, serde_json::to_vec(&config)?, layer_type)
        }
        None => {
            let inspection = crate::inspect::inspect(runtime, &bytes).with_context(|| {
                format!("{} is not a component spellhost can load", path.display())
            })?;
            let actual = match inspection.kind {
                ComponentKind::Spell => PackageKind::Spell,
                ComponentKind::ToolPlugin => PackageKind::Tool,
                ComponentKind::HookPlugin => PackageKind::Hook,
            };
            if actual != kind {
                bail!(
                    "{}: the manifest says kind = \"{}\" but the component is a {} (set [spell] kind = \"{}\")",
                    path.display(),
                    kind.as_str(),
                    actual.as_str(),
                    actual.as_str()
                );
            }
            if let Some(problem) = inspection.problem {
                bail!("{}: {problem}", path.display());
            }
            let config = WasmConfig {
                created: Some(created),
                author: (!info.authors.is_empty()).then(|| info.authors.join(", ")),
                architecture: "wasm".into(),
                os: "wasip2".into(),
                layer_digests: vec![oci::digest(&bytes)],
                component: Some(ComponentInfo {
                    exports: inspection
                        .exports
                        .iter()
                        .map(|e| e.split(' ').next().unwrap_or(e).to_owned())
                        .collect(),
                    imports: inspection.imports.iter().map(|i| i.name.clone()).collect(),
                    target: None,
                }),
            };
            (
                oci::WASM_CONFIG,
                serde_json::to_vec(&config)?,
                oci::WASM_LAYER,
            )
        }
    };
    let mut image = ImageManifest::new(
        Descriptor::of(config_type, &config_bytes),
        vec![Descriptor::of(layer_type, &bytes)],
    );
    image.annotations = annotations;
    let artifact = Artifact::assemble(image, config_bytes, bytes);
    artifact
        .payload()
        .map_err(|e| anyhow::anyhow!("{}: the package would not load: {e}", path.display()))?;
    Ok(artifact)
}

/// A package name: lower-case letters, digits, `-` and `_`.
fn check_name(name: &str) -> anyhow::Result<()> {
    if !super::artifact::is_package_name(name) {
        bail!(
            "`{name}` is not a package name: use lower-case letters, digits, - and _ (at most 64)"
        );
    }
    Ok(())
}

/// Requested grants a user can read and a host can grant.
pub fn check_requests(requests: &Grants) -> anyhow::Result<()> {
    for host in &requests.net {
        crate::policy::net::NetGrant::parse(host).map_err(|e| anyhow::anyhow!("net: {e}"))?;
    }
    for var in &requests.env {
        let ok = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            bail!("env: `{var}` is not an environment variable name");
        }
    }
    for (what, list) in [
        ("models", &requests.models),
        ("state_namespaces", &requests.state_namespaces),
    ] {
        if let Some(bad) = list
            .iter()
            .find(|m| m.trim().is_empty() || m.chars().any(char::is_whitespace))
        {
            bail!("{what}: `{bad}` is empty or has spaces");
        }
    }
    for path in requests.read.iter().chain(&requests.write) {
        if path.as_os_str().is_empty() {
            bail!("read/write: an empty path");
        }
    }
    Ok(())
}

/// The creation time: `$SOURCE_DATE_EPOCH` (reproducible builds) or now.
fn created_now() -> String {
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap_or_else(std::time::SystemTime::now);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Writes `artifact` as an OCI image layout at `dir`, tagged `tag`.
pub fn write_layout(dir: &Path, artifact: &Artifact, tag: &str) -> anyhow::Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).with_context(|| format!("creating {}", blobs.display()))?;
    for bytes in [&artifact.config, &artifact.layer, &artifact.manifest_bytes] {
        let digest = oci::digest(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes)
            .with_context(|| format!("writing {}", dir.display()))?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut descriptor = Descriptor::of(oci::OCI_MANIFEST, &artifact.manifest_bytes);
    descriptor
        .annotations
        .insert("org.opencontainers.image.ref.name".into(), tag.to_owned());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci::OCI_INDEX,
        "manifests": [descriptor],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&index)?)?;
    Ok(())
}

/// Whether `dir` is an OCI image layout.
pub fn is_layout(dir: &Path) -> bool {
    dir.join("oci-layout").is_file() && dir.join("index.json").is_file()
}

/// Reads the (first) artifact of the OCI image layout at `dir`, checking
/// every blob against its digest.
pub fn read_layout(dir: &Path) -> anyhow::Result<Artifact> {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json"))
            .with_context(|| format!("reading {}/index.json", dir.display()))?,
    )
    .with_context(|| format!("{}/index.json is not JSON", dir.display()))?;
    let descriptor: Descriptor = serde_json::from_value(
        index["manifests"]
            .get(0)
            .cloned()
            .with_context(|| format!("{}/index.json lists no manifest", dir.display()))?,
    )?;
    let blob = |digest: &str| -> anyhow::Result<Vec<u8>> {
        if !oci::is_digest(digest) {
            bail!("`{digest}` is not a sha256 digest");
        }
        let path = dir.join("blobs/sha256").join(&digest["sha256:".len()..]);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if oci::digest(&bytes) != digest {
            bail!(
                "{} does not match its digest: the package was altered",
                path.display()
            );
        }
        Ok(bytes)
    };
    let manifest_bytes = blob(&descriptor.digest)?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("{}: not an image manifest", dir.display()))?;
    let layer = Artifact::payload_descriptor(&manifest).map_err(anyhow::Error::msg)?;
    let config = blob(&manifest.config.digest)?;
    let layer = blob(&layer.digest)?;
    Ok(Artifact {
        digest: descriptor.digest,
        manifest,
        manifest_bytes,
        config,
        layer,
    })
}
