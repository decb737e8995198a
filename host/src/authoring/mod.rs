//! Authoring spells: new projects from templates ([`scaffold`]) and the
//! build commands their manifests name ([`build`]).

pub mod build;
pub mod scaffold;

use std::path::PathBuf;

/// The variable naming spellhost's source tree (its `wit/` and
/// `guest-sdks/`), which Rust and Python projects build against.
pub const SDK_VAR: &str = "SPELLHOST_SDK";

/// Where spellhost's WIT and SDKs are: `$SPELLHOST_SDK`, else the source
/// tree this binary was built from, if it is still there.
pub fn sdk_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SDK_VAR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    built
        .join("wit/worlds.wit")
        .is_file()
        .then(|| built.to_owned())
}
