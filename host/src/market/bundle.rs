//! Multi-file script spells as one package layer: the main script and the
//! modules its `require`/`import` load — followed from the main script, as
//! a bundler does, plus what the manifest's `[spell] include` names — from
//! the main script's directory, written as a deterministic tar (sorted, no owners, no times,
//! so the same files give the same digest) and read back with every entry
//! checked — a regular source file at a path inside the bundle, within
//! the module size — so a pulled package can carry nothing else.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::scripts::{Language, MAX_MODULE_BYTES, normalize};

/// The most files a bundle holds.
pub const MAX_FILES: usize = 1000;
/// The most bytes its files hold in all.
pub const MAX_TOTAL_BYTES: u64 = 32 << 20;

/// Directories the default collection passes over: tools' and version
/// control's, and hidden ones.
const SKIPPED_DIRS: &[&str] = &["node_modules", "target", "__pycache__"];

/// A script spell's files, by `/`-separated path relative to the main
/// script's directory; `main` is one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub main: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The module paths `text` (the file `file` of the bundle) names with a
/// string literal: Lua's `require "a.b"` (as `a/b.lua` and `a/b/init.lua`,
/// `package.path`'s defaults) and JavaScript's relative `import`/`export
/// … from` and `import()` specifiers, joined to `file`'s directory. Names
/// in comments count too; what does not exist is passed over.
fn references(language: Language, file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let keywords: &[&str] = match language {
        Language::Lua => &["require"],
        Language::JavaScript => &["import", "from"],
    };
    for keyword in keywords {
        for (at, _) in text.match_indices(keyword) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '$') {
                continue;
            }
            let rest = text[at + keyword.len()..].trim_start();
            let rest = rest.strip_prefix('(').map_or(rest, str::trim_start);
            let Some(quote) = rest
                .chars()
                .next()
                .filter(|c| matches!(c, '"' | '\'' | '`'))
            else {
                continue;
            };
            let Some(end) = rest[1..].find(quote) else {
                continue;
            };
            let name = &rest[1..1 + end];
            match language {
                Language::Lua => {
                    let base = name.replace('.', "/");
                    for candidate in [format!("{base}.lua"), format!("{base}/init.lua")] {
                        if let Ok(path) = normalize(&candidate) {
                            found.push(path);
                        }
                    }
                }
                Language::JavaScript if name.starts_with("./") || name.starts_with("../") => {
                    let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
                    let joined = if dir.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{dir}/{name}")
                    };
                    if let Ok(path) = normalize(&joined) {
                        found.push(path);
                    }
                }
                Language::JavaScript => {}
            }
        }
    }
    found
}

/// Refuses a bundle past [`MAX_FILES`] or [`MAX_TOTAL_BYTES`].
fn check_size(files: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    if files.len() > MAX_FILES {
        return Err(format!(
            "a package carries at most {MAX_FILES} files (narrow it with [spell] include)"
        ));
    }
    let total: u64 = files.values().map(|f| f.len() as u64).sum();
    if total > MAX_TOTAL_BYTES {
        return Err(format!(
            "a package's files hold at most {} MiB (narrow it with [spell] include)",
            MAX_TOTAL_BYTES >> 20
        ));
    }
    Ok(())
}

/// Refuses `relative` (under `root`) if any part of it is a symbolic
/// link: a package carries the files of the script's directory, never
/// what a link inside it points to (a run from source refuses the same).
fn refuse_links(root: &Path, relative: &Path) -> anyhow::Result<()> {
    let mut path = root.to_owned();
    for part in relative.components() {
        path.push(part);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "{} is a symbolic link: a package carries regular files (copy the file there, or leave it out with [spell] include)",
                path.display()
            );
        }
    }
    Ok(())
}

/// The source file extensions of `language`.
fn extensions(language: Language) -> &'static [&'static str] {
    match language {
        Language::Lua => &["lua"],
        Language::JavaScript => &["js", "mjs"],
    }
}

impl Bundle {
    /// The script at `main` and its modules: the files its sources name
    /// with a literal (`require "lib.util"`, `import "./util.js"`,
    /// `import("./x.js")`), followed from the main script, and the files
    /// and directories `include` names (relative to the script's
    /// directory; for modules loaded by computed names). A symbolic link
    /// is refused rather than followed.
    pub fn collect(
        main: &Path,
        language: Language,
        include: Option<&[PathBuf]>,
    ) -> anyhow::Result<Bundle> {
        let root = match main.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let main_name = main
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", main.display()))?
            .to_owned();
        let mut bundle = Bundle {
            main: main_name.clone(),
            files: BTreeMap::new(),
        };
        bundle.add(&root, Path::new(&main_name), language, true)?;
        for start in include.unwrap_or_default() {
            if start.is_absolute()
                || start
                    .components()
                    .any(|c| matches!(c, Component::ParentDir))
            {
                bail!(
                    "[spell] include: {} is outside the script's directory {} (a package carries only files beside the script)",
                    start.display(),
                    root.display()
                );
            }
            bundle.walk(&root, start, language, true)?;
        }
        // Follow what the files name until nothing new turns up.
        let mut queue: Vec<String> = bundle.files.keys().cloned().collect();
        while let Some(file) = queue.pop() {
            let text = String::from_utf8_lossy(&bundle.files[&file]).into_owned();
            for candidate in references(language, &file, &text) {
                if bundle.files.contains_key(&candidate) {
                    continue;
                }
                let path = root.join(&candidate);
                if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() || m.is_symlink()) {
                    bundle.add(&root, Path::new(&candidate), language, false)?;
                    if bundle.files.contains_key(&candidate) {
                        queue.push(candidate);
                    }
                }
            }
        }
        Ok(bundle)
    }

    /// Adds `relative` (a file or a directory, under `root`).
    fn walk(
        &mut self,
        root: &Path,
        relative: &Path,
        language: Language,
        named: bool,
    ) -> anyhow::Result<()> {
        let path = root.join(relative);
        refuse_links(root, relative)?;
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            let mut entries = std::fs::read_dir(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("reading {}", path.display()))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let file_type = entry.file_type().ok();
                let is_dir = file_type.is_some_and(|t| t.is_dir());
                // A link to a directory is refused (below), not skipped:
                // its modules would be missing at run time.
                let link_to_dir = file_type.is_some_and(|t| t.is_symlink())
                    && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
                if is_dir && (name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref())) {
                    continue;
                }
                let child = relative.join(entry.file_name());
                let is_source = Path::new(name.as_ref())
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions(language).contains(&e));
                if is_dir || is_source || link_to_dir {
                    self.walk(root, &child, language, false)?;
                }
            }
            return Ok(());
        }
        self.add(root, relative, language, named)
    }

    /// Adds the file `relative` under `root`.
    fn add(
        &mut self,
        root: &Path,
        relative: &Path,
        language: Language,
        named: bool,
    ) -> anyhow::Result<()> {
        let path = root.join(relative);
        refuse_links(root, relative)?;
        let key = relative
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<Vec<_>>>()
            .with_context(|| format!("{} has a name that is not UTF-8", path.display()))?
            .join("/");
        let key = normalize(&key).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if self.files.contains_key(&key) {
            return Ok(());
        }
        let is_source = relative
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions(language).contains(&e));
        // The main script may be any file its language is known for (a
        // `#!` line names it); its modules are source files.
        if !is_source && key != self.main {
            if named {
                bail!(
                    "[spell] include: {} is not a {} source file ({})",
                    path.display(),
                    language.name(),
                    extensions(language).join(", ")
                );
            }
            return Ok(());
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.len() as u64 > MAX_MODULE_BYTES {
            bail!(
                "{} is larger than {MAX_MODULE_BYTES} bytes, the most a module may be",
                path.display()
            );
        }
        language
            .check_source(&path.display().to_string(), &bytes)
            .map_err(anyhow::Error::msg)?;
        self.files.insert(key, bytes);
        check_size(&self.files).map_err(anyhow::Error::msg)
    }

    /// The bundle as a tar: sorted, mode 0644, no owners and no times.
    pub fn to_tar(&self) -> anyhow::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, bytes) in &self.files {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            builder
                .append_data(&mut header, path, bytes.as_slice())
                .with_context(|| format!("packing {path}"))?;
        }
        Ok(builder.into_inner()?)
    }

    /// Reads a bundle whose main script is `main`, refusing any entry that
    /// is not a regular source file at a path inside it, and any bundle
    /// past the limits.
    pub fn from_tar(bytes: &[u8], main: &str) -> Result<Bundle, String> {
        let mut archive = tar::Archive::new(bytes);
        let mut files = BTreeMap::new();
        let entries = archive
            .entries()
            .map_err(|e| format!("the script bundle is not a tar: {e}"))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("the script bundle is damaged: {e}"))?;
            let raw = String::from_utf8(entry.path_bytes().into_owned())
                .map_err(|_| "the script bundle names a file that is not UTF-8".to_owned())?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(format!(
                    "the script bundle holds {raw}, which is not a regular file"
                ));
            }
            let path = normalize(&raw).map_err(|e| format!("the script bundle: {e}"))?;
            if path != raw {
                return Err(format!(
                    "the script bundle names {raw}, which is not a plain path inside it"
                ));
            }
            if path != main
                && !crate::scripts::MODULE_EXTENSIONS
                    .iter()
                    .any(|e| path.ends_with(e))
            {
                return Err(format!(
                    "the script bundle holds {path}, which is not a source file"
                ));
            }
            let size = entry.header().size().map_err(|e| e.to_string())?;
            if size > MAX_MODULE_BYTES {
                return Err(format!(
                    "the script bundle's {path} is larger than {MAX_MODULE_BYTES} bytes"
                ));
            }
            let mut content = Vec::with_capacity(size as usize);
            entry
                .take(MAX_MODULE_BYTES + 1)
                .read_to_end(&mut content)
                .map_err(|e| format!("the script bundle is damaged: {e}"))?;
            if content.len() as u64 > MAX_MODULE_BYTES {
                return Err(format!(
                    "the script bundle's {path} is larger than {MAX_MODULE_BYTES} bytes"
                ));
            }
            if files.insert(path.clone(), content).is_some() {
                return Err(format!("the script bundle holds {path} twice"));
            }
            check_size(&files)?;
        }
        if !files.contains_key(main) {
            return Err(format!(
                "the script bundle has no {main}, the script its manifest names"
            ));
        }
        Ok(Bundle {
            main: main.to_owned(),
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundle's paths, after checking it survives a trip through tar.
    fn paths(bundle: &Bundle) -> Vec<&str> {
        let tar = bundle.to_tar().unwrap();
        assert_eq!(&Bundle::from_tar(&tar, &bundle.main).unwrap(), bundle);
        bundle.files.keys().map(String::as_str).collect()
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn follows_what_the_sources_name_and_round_trips_through_tar() {
        let dir = tree(&[
            (
                "main.lua",
                "local util = require('lib.util')\nlocal m = require \"models\"\nreturn util",
            ),
            ("lib/util.lua", "return require(\"lib.deep\")"),
            ("lib/deep.lua", "return 1"),
            ("models/init.lua", "return {}"),
            ("unused.lua", "never required"),
            ("notes.txt", "not a module"),
        ]);
        let bundle = Bundle::collect(&dir.path().join("main.lua"), Language::Lua, None).unwrap();
        assert_eq!(
            bundle.files.keys().collect::<Vec<_>>(),
            [
                "lib/deep.lua",
                "lib/util.lua",
                "main.lua",
                "models/init.lua"
            ]
        );
        let tar = bundle.to_tar().unwrap();
        // Deterministic: the same files give the same bytes.
        assert_eq!(tar, bundle.to_tar().unwrap());
        assert_eq!(Bundle::from_tar(&tar, "main.lua").unwrap(), bundle);
    }

    #[test]
    fn javascript_imports_are_joined_to_their_importer() {
        let dir = tree(&[
            (
                "main.js",
                "import { a } from './lib/a.js';\nconst b = await import(\"./b.mjs\");\nimport x from 'spellhost';",
            ),
            ("lib/a.js", "export * from '../c.js'; export const a = 1;"),
            ("b.mjs", ""),
            ("c.js", ""),
            ("d.js", "not imported"),
        ]);
        let bundle =
            Bundle::collect(&dir.path().join("main.js"), Language::JavaScript, None).unwrap();
        assert_eq!(
            bundle.files.keys().collect::<Vec<_>>(),
            ["b.mjs", "c.js", "lib/a.js", "main.js"]
        );
    }

    #[test]
    fn include_adds_and_may_not_leave_the_directory() {
        let dir = tree(&[
            ("main.js", "import './lib/a.js'"),
            ("lib/a.js", ""),
            ("plugins/b.js", ""),
            ("plugins/readme.md", ""),
        ]);
        let main = dir.path().join("main.js");
        let bundle = Bundle::collect(
            &main,
            Language::JavaScript,
            Some(&[PathBuf::from("plugins")]),
        )
        .unwrap();
        assert_eq!(
            bundle.files.keys().collect::<Vec<_>>(),
            ["lib/a.js", "main.js", "plugins/b.js"]
        );
        let err = Bundle::collect(&main, Language::JavaScript, Some(&[PathBuf::from("../x")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("outside the script's directory"),
            "{err}"
        );
        let err = Bundle::collect(
            &main,
            Language::JavaScript,
            Some(&[PathBuf::from("plugins/readme.md")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("not a JavaScript source file"),
            "{err}"
        );
    }

    #[test]
    fn including_the_whole_directory_keeps_one_copy_of_each_file() {
        let dir = tree(&[("main.lua", ""), ("lib/a.lua", "")]);
        let main = dir.path().join("main.lua");
        let bundle = Bundle::collect(&main, Language::Lua, Some(&[PathBuf::from(".")])).unwrap();
        assert_eq!(paths(&bundle), ["lib/a.lua", "main.lua"]);
    }

    #[test]
    fn a_main_script_without_an_extension_travels_with_its_modules() {
        let dir = tree(&[
            ("hello", "#!/usr/bin/env lua\nreturn require('util')"),
            ("util.lua", ""),
        ]);
        let bundle = Bundle::collect(&dir.path().join("hello"), Language::Lua, None).unwrap();
        assert_eq!(paths(&bundle), ["hello", "util.lua"]);
    }

    #[test]
    fn a_directory_link_in_the_middle_of_a_path_is_refused() {
        let outside = tree(&[("x.lua", "secret")]);
        let dir = tree(&[("main.lua", "require 'lib.x'")]);
        std::os::unix::fs::symlink(outside.path(), dir.path().join("lib")).unwrap();
        let err = Bundle::collect(&dir.path().join("main.lua"), Language::Lua, None).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn symbolic_links_are_refused() {
        let dir = tree(&[("main.lua", "require 'link'")]);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.lua")).unwrap();
        let err = Bundle::collect(&dir.path().join("main.lua"), Language::Lua, None).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn hostile_tars_are_refused() {
        let tar_of = |path: &str, kind: tar::EntryType| {
            let mut builder = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_size(1);
            // Written raw: the builder itself refuses `..`.
            header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, &b"x"[..]).unwrap();
            builder.into_inner().unwrap()
        };
        for (path, kind, why) in [
            ("../main.lua", tar::EntryType::Regular, "outside"),
            ("/etc/x.lua", tar::EntryType::Regular, "outside"),
            ("main.lua", tar::EntryType::Symlink, "not a regular file"),
            ("notes.txt", tar::EntryType::Regular, "not a source file"),
            ("./main.lua", tar::EntryType::Regular, "not a plain path"),
        ] {
            let err = Bundle::from_tar(&tar_of(path, kind), "main.lua").unwrap_err();
            assert!(err.contains(why), "{path}: {err}");
        }
        let err = Bundle::from_tar(b"not a tar at all, really not", "main.lua").unwrap_err();
        assert!(!err.is_empty());
    }
}
