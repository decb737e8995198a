//! The OCI documents a package travels as: image manifests, descriptors and
//! the CNCF Wasm artifact config (`application/vnd.wasm.config.v0+json`).
//!
//! A component package is a plain CNCF Wasm artifact — one `application/wasm`
//! layer — so `wkg`, wasmCloud and `skopeo` read it. What spellhost adds (its
//! manifest, README, requested grants, kind) rides in the image manifest's
//! **annotations**, not in extra layers: Wasm clients refuse layers of media
//! types they do not know, and annotations are readable without pulling a
//! blob (`spellhost search`, `spellhost info`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The CNCF Wasm artifact config.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The one layer of a CNCF Wasm artifact: the component.
pub const WASM_LAYER: &str = "application/wasm";
/// A script spell's config: the interpreter it needs, by name and version.
pub const SCRIPT_CONFIG: &str = "application/vnd.spellhost.script.config.v1+json";
/// A script spell's source, as one layer.
pub const LUA_LAYER: &str = "application/vnd.spellhost.script.v1+lua";
pub const JS_LAYER: &str = "application/vnd.spellhost.script.v1+javascript";
/// A script spell of several files: the main script (named by the
/// [`SCRIPT_MAIN`] annotation) and its modules, as one tar layer.
pub const LUA_BUNDLE_LAYER: &str = "application/vnd.spellhost.script.bundle.v1.tar+lua";
pub const JS_BUNDLE_LAYER: &str = "application/vnd.spellhost.script.bundle.v1.tar+javascript";

/// Standard annotations (OCI image spec).
pub const TITLE: &str = "org.opencontainers.image.title";
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
pub const VERSION: &str = "org.opencontainers.image.version";
pub const AUTHORS: &str = "org.opencontainers.image.authors";
pub const LICENSES: &str = "org.opencontainers.image.licenses";
pub const CREATED: &str = "org.opencontainers.image.created";
pub const SOURCE: &str = "org.opencontainers.image.source";
/// The annotations `spellhost info` and the review show, with their labels.
pub const SHOWN: [(&str, &str); 8] = [
    ("title", TITLE),
    ("version", VERSION),
    ("about", DESCRIPTION),
    ("authors", AUTHORS),
    ("license", LICENSES),
    ("created", CREATED),
    ("source", SOURCE),
    ("runs on", INTERPRETER),
];
/// spellhost's annotations.
pub const KIND: &str = "dev.spellhost.kind";
pub const MANIFEST: &str = "dev.spellhost.manifest";
pub const README: &str = "dev.spellhost.readme";
pub const INTERPRETER: &str = "dev.spellhost.interpreter";
/// A script bundle's main script, by its path in the bundle.
pub const SCRIPT_MAIN: &str = "dev.spellhost.script.main";

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `text` is a well-formed `sha256:<64 hex>` digest.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A pointer to a blob: media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: digest(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config,
            layers,
            annotations: BTreeMap::new(),
        }
    }

    /// The manifest as the bytes its digest names.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serializes")
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// The CNCF Wasm artifact config (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default)]
    pub layer_digests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

/// What the component imports and exports (WIT names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    #[serde(default)]
    pub target: Option<String>,
}

/// A script spell's config: which interpreter runs the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptConfig {
    /// `lua/5.4` or `javascript/quickjs-0.14`.
    pub interpreter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_of_the_bytes() {
        let d = digest(b"");
        assert_eq!(
            d,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_digest(&d));
        assert!(!is_digest("sha256:E3B0"));
        assert!(!is_digest(
            "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
    }

    #[test]
    fn manifests_use_the_oci_field_names() {
        let layer = Descriptor::of(WASM_LAYER, b"\0asm");
        let manifest = ImageManifest::new(Descriptor::of(WASM_CONFIG, b"{}"), vec![layer]);
        let json: serde_json::Value = serde_json::from_slice(&manifest.to_bytes()).unwrap();
        assert_eq!(json["schemaVersion"], 2);
        assert_eq!(json["mediaType"], OCI_MANIFEST);
        assert_eq!(json["config"]["mediaType"], WASM_CONFIG);
        assert_eq!(json["layers"][0]["size"], 4);
        assert!(json.get("annotations").is_none());
    }
}
