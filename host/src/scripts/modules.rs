//! A script spell's modules: the files its `require` (Lua) and `import`
//! (JavaScript) load. They come from the directory of the spell's main
//! script and from nothing outside it — `..`, absolute paths and symbolic
//! links that point out are refused (cap-std confines every lookup) —
//! whatever files the run was granted: modules are the spell's own code,
//! not data, so reading them needs no `--allow-read`.

use std::io::ErrorKind;
use std::path::PathBuf;

/// The largest module file a spell may load.
pub const MAX_MODULE_BYTES: u64 = 8 * 1024 * 1024;

/// What a module's file name may end with: source files only, so no
/// module search can open the other files of the spell's directory.
pub const MODULE_EXTENSIONS: &[&str] = &[".lua", ".js", ".mjs"];

/// Where a script spell's modules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modules {
    /// A single-file spell: it has no modules.
    None,
    /// The directory of the main script, read when a module is asked for.
    Dir(PathBuf),
    /// The files a package carries (`market::bundle`), by path.
    Bundle(std::sync::Arc<std::collections::BTreeMap<String, Vec<u8>>>),
}

/// Why a module did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// No such file in the spell's directory.
    #[error("{0}")]
    NotFound(String),
    /// The path leaves the spell's directory.
    #[error("{0}")]
    Outside(String),
    /// The file cannot be a module (a directory, too large, unreadable).
    #[error("{0}")]
    Invalid(String),
}

/// `path` as a `/`-separated path inside the spell's directory: empty and
/// `.` parts dropped, `..` undoing the part before it. A path that is
/// absolute or climbs out of the directory is refused.
pub fn normalize(path: &str) -> Result<String, ModuleError> {
    let outside = || {
        ModuleError::Outside(format!(
            "{path} is outside the spell's directory: a spell loads modules only from the directory of its main script (copy the file there)"
        ))
    };
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(outside());
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(outside)?;
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(ModuleError::NotFound(format!("{path:?} names no file")));
    }
    Ok(parts.join("/"))
}

impl Modules {
    /// The modules of a spell whose main script is the file at `path`:
    /// the files of its directory.
    pub fn beside(path: &std::path::Path) -> Self {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        Modules::Dir(std::fs::canonicalize(&dir).unwrap_or(dir))
    }

    /// The module at `path`: its normalized path (its name in errors and
    /// tracebacks) and its bytes.
    pub fn load(&self, path: &str) -> Result<(String, Vec<u8>), ModuleError> {
        let path = normalize(path)?;
        if !MODULE_EXTENSIONS.iter().any(|e| path.ends_with(e)) {
            return Err(ModuleError::Invalid(format!(
                "{path} is not a module: a module is a source file ({})",
                MODULE_EXTENSIONS.join(", ")
            )));
        }
        let root = match self {
            Modules::None => {
                return Err(ModuleError::NotFound(format!(
                    "no module {path}: this spell is a single file"
                )));
            }
            Modules::Bundle(files) => {
                return match files.get(&path) {
                    Some(bytes) => Ok((path, bytes.clone())),
                    None => Err(ModuleError::NotFound(format!(
                        "no file {path} in the spell's package"
                    ))),
                };
            }
            Modules::Dir(root) => root,
        };
        let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(
            |e| {
                ModuleError::Invalid(format!(
                    "cannot open the spell's directory {}: {e}",
                    root.display()
                ))
            },
        )?;
        let error = |e: std::io::Error| match e.kind() {
            ErrorKind::NotFound | ErrorKind::NotADirectory => ModuleError::NotFound(format!(
                "no file {path} in the spell's directory {}",
                root.display()
            )),
            // cap-std's answer to a path (a link) that leads out.
            ErrorKind::PermissionDenied if e.to_string().contains("outside") => {
                ModuleError::Outside(format!(
                    "{path} leads outside the spell's directory {} (a symbolic link pointing out): a spell loads modules only from its own directory",
                    root.display()
                ))
            }
            _ => ModuleError::Invalid(format!("cannot read {path}: {e}")),
        };
        let file = dir.open(&path).map_err(error)?;
        if !file.metadata().map_err(error)?.is_file() {
            return Err(ModuleError::Invalid(format!(
                "{path} is not a file (a module is one source file)"
            )));
        }
        // Read what was opened, never more than the cap (whatever the
        // file became since).
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file.into_std(), MAX_MODULE_BYTES + 1),
            &mut bytes,
        )
        .map_err(error)?;
        if bytes.len() as u64 > MAX_MODULE_BYTES {
            return Err(ModuleError::Invalid(format!(
                "{path} is larger than {MAX_MODULE_BYTES} bytes, the most a module may be"
            )));
        }
        Ok((path, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        assert_eq!(normalize("./lib/util.lua").unwrap(), "lib/util.lua");
        assert_eq!(normalize("lib//./a/../b.js").unwrap(), "lib/b.js");
        for escaping in ["../x.lua", "/etc/passwd", "a/../../x.lua", "a\\..\\x"] {
            assert!(
                matches!(normalize(escaping), Err(ModuleError::Outside(_))),
                "{escaping}"
            );
        }
        assert!(matches!(normalize("./"), Err(ModuleError::NotFound(_))));
    }

    #[cfg(unix)]
    #[test]
    fn loads_files_of_the_directory_and_nothing_else() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("spell");
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/util.lua"), b"return 1 -- \xff").unwrap();
        std::fs::write(outer.path().join("secret.lua"), b"return 'secret'").unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret.lua"), root.join("link.lua")).unwrap();
        let modules = Modules::Dir(root.clone());

        let (name, bytes) = modules.load("./lib/util.lua").unwrap();
        assert_eq!(name, "lib/util.lua");
        assert_eq!(bytes, b"return 1 -- \xff");
        assert!(matches!(
            modules.load("../secret.lua"),
            Err(ModuleError::Outside(_))
        ));
        let link = modules.load("link.lua").unwrap_err();
        assert!(matches!(link, ModuleError::Outside(_)), "{link:?}");
        assert!(matches!(
            modules.load("lib/missing.lua"),
            Err(ModuleError::NotFound(_))
        ));
        std::fs::create_dir_all(root.join("dir.lua")).unwrap();
        assert!(matches!(
            modules.load("dir.lua"),
            Err(ModuleError::Invalid(_))
        ));
        std::fs::write(root.join("notes.txt"), "private").unwrap();
        assert!(matches!(
            modules.load("notes.txt"),
            Err(ModuleError::Invalid(_))
        ));
        assert!(matches!(
            Modules::None.load("lib/util.lua"),
            Err(ModuleError::NotFound(_))
        ));
    }
}
