//! File grants: the directories a tool call may read or write, and the only
//! way the file tools touch the disk.
//!
//! Each granted directory is opened once with cap-std. A tool's path argument
//! is an absolute host path: the grant whose root contains it *lexically* is
//! picked, and the remainder is opened relative to that grant's [`Dir`], so
//! cap-std refuses anything that leaves it (`..`, symlinks pointing outside,
//! absolute symlink targets). A path under no grant is
//! [`ToolError::Denied`] with the flag that would allow it.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::{Dir, OpenOptions};

use crate::ToolError;

/// Directories granted to tool calls; empty (deny everything) by default.
#[derive(Clone, Default)]
pub struct FileGrants {
    grants: Vec<Grant>,
}

#[derive(Clone)]
struct Grant {
    /// The root as given (made absolute and lexically cleaned).
    root: PathBuf,
    /// The root with symlinks resolved, when that differs (e.g. `/tmp` on macOS).
    real_root: Option<PathBuf>,
    dir: Arc<Dir>,
    writable: bool,
}

impl std::fmt::Debug for FileGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileGrants")
            .field("read", &self.readable_roots())
            .field("write", &self.writable_roots())
            .finish()
    }
}

/// Whether a path is needed for reading or for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading a file or listing a directory.
    Read,
    /// Creating, replacing or appending to a file.
    Write,
}

/// How [`FileGrants::write`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Append instead of replacing the file.
    pub append: bool,
    /// Create missing parent directories (inside the grant).
    pub create_dirs: bool,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntryInfo {
    /// The entry's file name (lossy UTF-8).
    pub name: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: &'static str,
    /// Size in bytes, for files.
    pub size: Option<u64>,
}

/// A directory listing, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// At most the requested number of entries.
    pub entries: Vec<DirEntryInfo>,
    /// How many entries the directory has in all.
    pub total: usize,
}

impl FileGrants {
    /// Opens every readable and writable directory. A directory in `write`
    /// is readable too. Relative paths are taken from the current directory.
    pub fn new(read: &[PathBuf], write: &[PathBuf]) -> Result<Self, ToolError> {
        let mut grants: Vec<Grant> = Vec::new();
        let all = read
            .iter()
            .map(|p| (p, false))
            .chain(write.iter().map(|p| (p, true)));
        for (path, writable) in all {
            let root = clean(&std::path::absolute(path).map_err(|e| {
                ToolError::Failed(format!("granted directory {}: {e}", path.display()))
            })?);
            if let Some(g) = grants.iter_mut().find(|g| g.root == root) {
                g.writable |= writable;
                continue;
            }
            let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).map_err(|e| {
                ToolError::Failed(format!(
                    "cannot open granted directory {}: {e}",
                    root.display()
                ))
            })?;
            let real_root = std::fs::canonicalize(&root).ok().filter(|r| *r != root);
            grants.push(Grant {
                root,
                real_root,
                dir: Arc::new(dir),
                writable,
            });
        }
        Ok(Self { grants })
    }

    /// True if nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Every readable root (writable roots included).
    pub fn readable_roots(&self) -> Vec<PathBuf> {
        self.grants.iter().map(|g| g.root.clone()).collect()
    }

    /// Every writable root.
    pub fn writable_roots(&self) -> Vec<PathBuf> {
        self.grants
            .iter()
            .filter(|g| g.writable)
            .map(|g| g.root.clone())
            .collect()
    }

    /// Finds the grant for `path` and the remainder relative to it.
    /// `suggest` is the directory the denial message suggests granting.
    fn resolve(
        &self,
        path: &Path,
        access: Access,
        suggest: &Path,
    ) -> Result<(&Grant, PathBuf), ToolError> {
        if !path.is_absolute() {
            return Err(ToolError::InvalidArguments(format!(
                "path must be absolute, got `{}`",
                path.display()
            )));
        }
        // The longest root containing the path, among those allowing `access`.
        let best = |want_write: bool| {
            self.grants
                .iter()
                .filter(|g| !want_write || g.writable)
                .flat_map(|g| {
                    std::iter::once(&g.root)
                        .chain(g.real_root.as_ref())
                        .filter_map(move |root| {
                            let rest = path.strip_prefix(root).ok()?;
                            Some((root.components().count(), g, rest.to_path_buf()))
                        })
                })
                .max_by_key(|(len, ..)| *len)
                .map(|(_, g, rest)| (g, rest))
        };
        let found = match access {
            Access::Read => best(false),
            Access::Write => best(true),
        };
        match found {
            Some((g, rest)) => {
                let rest = if rest.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    rest
                };
                Ok((g, rest))
            }
            None => {
                let (verb, flag) = match access {
                    Access::Read => ("reading", "--allow-read"),
                    Access::Write => ("writing", "--allow-write"),
                };
                let why = match (access, best(false)) {
                    (Access::Write, Some((g, _))) => {
                        format!(" ({} is granted read-only)", g.root.display())
                    }
                    _ => String::new(),
                };
                Err(ToolError::Denied(format!(
                    "{verb} {} is not granted{why}; allow it with {flag} {}",
                    path.display(),
                    suggest.display()
                )))
            }
        }
    }

    /// Reads a whole file, refusing files larger than `max_bytes`.
    pub fn read(&self, path: &Path, max_bytes: u64) -> Result<Vec<u8>, ToolError> {
        let (g, rel) = self.resolve(path, Access::Read, parent_of(path))?;
        let ctx = |e: io::Error| io_error(e, "reading", path, g, Access::Read);
        let file = g.dir.open(&rel).map_err(ctx)?;
        let meta = file.metadata().map_err(ctx)?;
        if meta.is_dir() {
            return Err(ToolError::Failed(format!(
                "{} is a directory; use list_dir",
                path.display()
            )));
        }
        let too_big = |size: u64| {
            ToolError::Failed(format!(
                "{} is {size} bytes; at most {} can be read",
                path.display(),
                human_size(max_bytes)
            ))
        };
        if meta.len() > max_bytes {
            return Err(too_big(meta.len()));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        file.take(max_bytes + 1)
            .read_to_end(&mut buf)
            .map_err(ctx)?;
        if buf.len() as u64 > max_bytes {
            return Err(too_big(buf.len() as u64));
        }
        Ok(buf)
    }

    /// Writes (or appends) `contents` to a file; returns the file's new size.
    pub fn write(
        &self,
        path: &Path,
        contents: &[u8],
        options: WriteOptions,
    ) -> Result<u64, ToolError> {
        let (g, rel) = self.resolve(path, Access::Write, parent_of(path))?;
        let ctx = |e: io::Error| io_error(e, "writing", path, g, Access::Write);
        if options.create_dirs
            && let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty())
        {
            g.dir.create_dir_all(parent).map_err(ctx)?;
        }
        let mut open = OpenOptions::new();
        open.write(true).create(true);
        if options.append {
            open.append(true);
        } else {
            open.truncate(true);
        }
        let mut file = g.dir.open_with(&rel, &open).map_err(ctx)?;
        file.write_all(contents).map_err(ctx)?;
        file.flush().map_err(ctx)?;
        Ok(file.metadata().map_err(ctx)?.len())
    }

    /// Lists a directory, sorted by name, keeping at most `max_entries`.
    pub fn list(&self, path: &Path, max_entries: usize) -> Result<Listing, ToolError> {
        let (g, rel) = self.resolve(path, Access::Read, path)?;
        let ctx = |e: io::Error| io_error(e, "listing", path, g, Access::Read);
        let mut entries = Vec::new();
        for entry in g.dir.read_dir(&rel).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let ty = entry.file_type().map_err(ctx)?;
            let (kind, size) = if ty.is_symlink() {
                ("symlink", None)
            } else if ty.is_dir() {
                ("dir", None)
            } else if ty.is_file() {
                ("file", entry.metadata().ok().map(|m| m.len()))
            } else {
                ("other", None)
            };
            entries.push(DirEntryInfo { name, kind, size });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let total = entries.len();
        entries.truncate(max_entries);
        Ok(Listing { entries, total })
    }
}

/// The directory to suggest granting for a file path.
fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

/// Makes `path` lexically clean: no `.`, and `..` applied to what precedes it.
/// Only used on the host's own grant paths, never on tool arguments.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn io_error(e: io::Error, verb: &str, path: &Path, g: &Grant, access: Access) -> ToolError {
    let p = path.display();
    match e.kind() {
        io::ErrorKind::PermissionDenied if e.to_string().contains("outside") => {
            let flag = match access {
                Access::Read => "--allow-read",
                Access::Write => "--allow-write",
            };
            ToolError::Denied(format!(
                "{verb} {p} leaves the granted directory {} (through `..` or a symlink); \
                 use a path inside it, or allow the target with {flag} DIR",
                g.root.display()
            ))
        }
        io::ErrorKind::NotFound => ToolError::Failed(format!("{p} does not exist")),
        _ => ToolError::Failed(format!("{verb} {p}: {e}")),
    }
}

pub(crate) fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _tmp: tempfile::TempDir,
        base: PathBuf,
    }

    /// base/ro (read grant) with a.txt, base/rw (write grant), base/secret.txt
    /// (no grant).
    fn fixture() -> (Fixture, FileGrants) {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        std::fs::create_dir_all(base.join("ro/sub")).unwrap();
        std::fs::create_dir_all(base.join("rw")).unwrap();
        std::fs::write(base.join("ro/a.txt"), "hello").unwrap();
        std::fs::write(base.join("ro/sub/b.txt"), "bee").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        let grants = FileGrants::new(&[base.join("ro")], &[base.join("rw")]).unwrap();
        (Fixture { _tmp: tmp, base }, grants)
    }

    #[test]
    fn reads_inside_a_grant() {
        let (f, g) = fixture();
        assert_eq!(g.read(&f.base.join("ro/a.txt"), 100).unwrap(), b"hello");
        assert_eq!(g.read(&f.base.join("ro/sub/b.txt"), 100).unwrap(), b"bee");
        // the writable grant is readable too
        g.write(&f.base.join("rw/x.txt"), b"x", WriteOptions::default())
            .unwrap();
        assert_eq!(g.read(&f.base.join("rw/x.txt"), 100).unwrap(), b"x");
    }

    #[test]
    fn dotdot_escape_is_refused() {
        let (f, g) = fixture();
        let sneaky = f.base.join("ro/../secret.txt");
        let err = g.read(&sneaky, 100).unwrap_err();
        assert!(
            matches!(&err, ToolError::Denied(m) if m.contains("leaves the granted directory")),
            "{err:?}"
        );
        let sneaky = f.base.join("ro/sub/../../secret.txt");
        assert!(matches!(g.read(&sneaky, 100), Err(ToolError::Denied(_))));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_escape_is_refused() {
        let (f, g) = fixture();
        std::os::unix::fs::symlink(f.base.join("secret.txt"), f.base.join("ro/link.txt")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", f.base.join("ro/rel-link.txt")).unwrap();
        std::os::unix::fs::symlink(f.base.clone(), f.base.join("rw/up")).unwrap();
        for p in ["ro/link.txt", "ro/rel-link.txt"] {
            let err = g.read(&f.base.join(p), 100).unwrap_err();
            assert!(matches!(err, ToolError::Denied(_)), "{p}: {err:?}");
        }
        let err = g
            .write(
                &f.base.join("rw/up/evil.txt"),
                b"x",
                WriteOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, ToolError::Denied(_)), "{err:?}");
        assert!(!f.base.join("evil.txt").exists());
        // a symlink that stays inside is fine
        std::os::unix::fs::symlink("sub/b.txt", f.base.join("ro/inside.txt")).unwrap();
        assert_eq!(g.read(&f.base.join("ro/inside.txt"), 100).unwrap(), b"bee");
    }

    #[test]
    fn write_to_read_only_grant_is_denied() {
        let (f, g) = fixture();
        let err = g
            .write(&f.base.join("ro/new.txt"), b"x", WriteOptions::default())
            .unwrap_err();
        let ToolError::Denied(msg) = err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("read-only"), "{msg}");
        assert!(
            msg.ends_with(&format!(
                "allow it with --allow-write {}",
                f.base.join("ro").display()
            )),
            "{msg}"
        );
        assert!(!f.base.join("ro/new.txt").exists());
    }

    #[test]
    fn path_under_no_grant_names_the_flag() {
        let (f, g) = fixture();
        let err = g.read(&f.base.join("secret.txt"), 100).unwrap_err();
        assert_eq!(
            err,
            ToolError::Denied(format!(
                "reading {} is not granted; allow it with --allow-read {}",
                f.base.join("secret.txt").display(),
                f.base.display()
            ))
        );
        let err = g.list(Path::new("/x"), 10).unwrap_err();
        assert_eq!(
            err,
            ToolError::Denied("reading /x is not granted; allow it with --allow-read /x".into())
        );
        let err = FileGrants::default()
            .write(Path::new("/data/out.txt"), b"", WriteOptions::default())
            .unwrap_err();
        assert_eq!(
            err,
            ToolError::Denied(
                "writing /data/out.txt is not granted; allow it with --allow-write /data".into()
            )
        );
        assert!(matches!(
            g.read(Path::new("relative.txt"), 1),
            Err(ToolError::InvalidArguments(_))
        ));
    }

    #[test]
    fn size_cap_and_listing() {
        let (f, g) = fixture();
        let err = g.read(&f.base.join("ro/a.txt"), 3).unwrap_err();
        assert_eq!(
            err,
            ToolError::Failed(format!(
                "{} is 5 bytes; at most 3 bytes can be read",
                f.base.join("ro/a.txt").display()
            ))
        );
        let listing = g.list(&f.base.join("ro"), 1000).unwrap();
        assert_eq!(listing.total, 2);
        assert_eq!(
            listing.entries,
            vec![
                DirEntryInfo {
                    name: "a.txt".into(),
                    kind: "file",
                    size: Some(5)
                },
                DirEntryInfo {
                    name: "sub".into(),
                    kind: "dir",
                    size: None
                },
            ]
        );
        let listing = g.list(&f.base.join("ro"), 1).unwrap();
        assert_eq!((listing.entries.len(), listing.total), (1, 2));
    }

    #[test]
    fn write_append_and_create_dirs() {
        let (f, g) = fixture();
        let p = f.base.join("rw/deep/er/out.txt");
        assert!(g.write(&p, b"one", WriteOptions::default()).is_err());
        let opts = WriteOptions {
            append: false,
            create_dirs: true,
        };
        assert_eq!(g.write(&p, b"one", opts).unwrap(), 3);
        let opts = WriteOptions {
            append: true,
            create_dirs: false,
        };
        assert_eq!(g.write(&p, b"two", opts).unwrap(), 6);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "onetwo");
        assert_eq!(g.write(&p, b"3", WriteOptions::default()).unwrap(), 1);
    }

    #[test]
    fn nested_grants_pick_the_writable_one() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        std::fs::create_dir_all(base.join("out")).unwrap();
        let g = FileGrants::new(&[base.join("out")], &[base.to_path_buf()]).unwrap();
        g.write(&base.join("out/x.txt"), b"x", WriteOptions::default())
            .unwrap();
        assert_eq!(g.writable_roots(), vec![clean(base)]);
        assert_eq!(g.readable_roots().len(), 2);
    }

    #[test]
    fn missing_grant_dir_fails_to_open() {
        let err = FileGrants::new(&[PathBuf::from("/definitely/not/here")], &[]).unwrap_err();
        assert!(matches!(err, ToolError::Failed(m) if m.contains("cannot open granted directory")));
    }
}
