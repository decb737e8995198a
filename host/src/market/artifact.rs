//! A package as it travels: the OCI manifest, its config and its one layer,
//! and what spellhost reads out of them (kind, manifest, payload).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::policy::manifest::{Manifest, PackageKind};
use crate::scripts::{Language, Modules};

use super::bundle::Bundle;

use super::oci::{self, ImageManifest};

impl Payload<'_> {
    /// The file extension that tells loaders what this is.
    pub fn extension(&self) -> &'static str {
        match self {
            Payload::Component(_) => "wasm",
            Payload::Script {
                language: Language::Lua,
                ..
            } => "lua",
            Payload::Script { .. } => "js",
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Payload::Component(bytes) => bytes,
            Payload::Script { source, .. } => source,
        }
    }

    /// Where a script's modules come from: the files the package carries.
    pub fn modules(&self) -> Modules {
        match self {
            Payload::Script {
                modules: Some(files),
                ..
            } => Modules::Bundle(files.clone()),
            _ => Modules::None,
        }
    }
}

/// A package name: 1 to 64 lower-case letters, digits, `-` and `_`.
pub fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A package's documents and blobs, complete and consistent: the manifest
/// digest names `manifest_bytes`, and the config and layer match the
/// manifest's descriptors.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: ImageManifest,
    pub manifest_bytes: Vec<u8>,
    pub digest: String,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

/// What runs: a component, or a script (with the modules it carries) and
/// the interpreter it names.
#[derive(Debug, Clone)]
pub enum Payload<'a> {
    Component(&'a [u8]),
    Script {
        language: Language,
        source: Cow<'a, [u8]>,
        /// A bundle's files, the main script among them (shared with the
        /// runs that load them).
        modules: Option<Arc<BTreeMap<String, Vec<u8>>>>,
    },
}

impl Artifact {
    /// Assembles an artifact from its parts (the manifest serialized here).
    pub fn assemble(manifest: ImageManifest, config: Vec<u8>, layer: Vec<u8>) -> Self {
        let manifest_bytes = manifest.to_bytes();
        Self {
            digest: oci::digest(&manifest_bytes),
            manifest,
            manifest_bytes,
            config,
            layer,
        }
    }

    /// The one layer spellhost runs: the first `application/wasm` or script
    /// layer.
    pub fn payload_descriptor(manifest: &ImageManifest) -> Result<&oci::Descriptor, String> {
        manifest
            .layers
            .iter()
            .find(|l| {
                matches!(
                    l.media_type.as_str(),
                    oci::WASM_LAYER
                        | oci::LUA_LAYER
                        | oci::JS_LAYER
                        | oci::LUA_BUNDLE_LAYER
                        | oci::JS_BUNDLE_LAYER
                )
            })
            .ok_or_else(|| {
                let types: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
                format!(
                    "not a Wasm component or spellhost script artifact: no `{}` layer (its layers: {})",
                    oci::WASM_LAYER,
                    if types.is_empty() { "none".to_owned() } else { types.join(", ") }
                )
            })
    }

    /// What runs. A script that names an interpreter this host does not
    /// ship is an error, wherever it is loaded from.
    pub fn payload(&self) -> Result<Payload<'_>, String> {
        let descriptor = Self::payload_descriptor(&self.manifest)?;
        let (language, bundled) = match descriptor.media_type.as_str() {
            oci::LUA_LAYER => (Language::Lua, false),
            oci::JS_LAYER => (Language::JavaScript, false),
            oci::LUA_BUNDLE_LAYER => (Language::Lua, true),
            oci::JS_BUNDLE_LAYER => (Language::JavaScript, true),
            _ => return Ok(Payload::Component(&self.layer)),
        };
        if let Some(wanted) = self.manifest.annotation(oci::INTERPRETER)
            && wanted != language.interpreter_id()
        {
            return Err(format!(
                "it needs the interpreter {wanted}; this spellhost runs {} scripts with {}",
                language.name(),
                language.interpreter_id()
            ));
        }
        if !bundled {
            return Ok(Payload::Script {
                language,
                source: Cow::Borrowed(&self.layer),
                modules: None,
            });
        }
        let main = self.manifest.annotation(oci::SCRIPT_MAIN).ok_or_else(|| {
            format!(
                "a script bundle without the `{}` annotation naming its main script",
                oci::SCRIPT_MAIN
            )
        })?;
        let bundle = Bundle::from_tar(&self.layer, main)?;
        for (path, bytes) in &bundle.files {
            language.check_source(path, bytes)?;
        }
        Ok(Payload::Script {
            language,
            source: Cow::Owned(bundle.files[main].clone()),
            modules: Some(Arc::new(bundle.files)),
        })
    }

    /// The spellhost manifest the package carries (none for an artifact
    /// another tool pushed).
    pub fn spell_manifest(&self) -> Result<Option<Manifest>, String> {
        self.manifest
            .annotation(oci::MANIFEST)
            .map(|text| Manifest::parse(text).map_err(|e| format!("the package's manifest: {e:#}")))
            .transpose()
    }

    /// The package kind: from its annotation, else a spell.
    pub fn kind(&self) -> PackageKind {
        match self.manifest.annotation(oci::KIND) {
            Some("tool") => PackageKind::Tool,
            Some("hook") => PackageKind::Hook,
            _ => PackageKind::Spell,
        }
    }

    /// A name to run it under: the manifest's, else the title annotation,
    /// else the repository's last component. Names come from the artifact,
    /// so one that is not a package name (`../x`, spaces, upper case) is
    /// passed over: names end up in file names and state scopes.
    pub fn name(&self, repository: &str) -> String {
        self.spell_manifest()
            .ok()
            .flatten()
            .and_then(|m| m.spell.name)
            .or_else(|| self.manifest.annotation(oci::TITLE).map(str::to_owned))
            .filter(|name| is_package_name(name))
            .unwrap_or_else(|| {
                repository
                    .rsplit('/')
                    .next()
                    .unwrap_or(repository)
                    .to_owned()
            })
    }

    /// The annotations worth showing (`spellhost info`).
    pub fn summary(&self) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        for (label, key) in oci::SHOWN {
            if let Some(value) = self.manifest.annotation(key) {
                out.insert(label, value.to_owned());
            }
        }
        out
    }
}
