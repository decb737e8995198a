//! `read_file`, `write_file` and `list_dir`: file access through the
//! call's [`FileGrants`](crate::FileGrants) only. Reads are capped at
//! [`MAX_READ`], listings at [`MAX_ENTRIES`]; paths are absolute host paths.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{blocking, obj, object_schema, opt_bool, opt_str, req_str};
use crate::fs::{WriteOptions, human_size};
use crate::{Tool, ToolContext, ToolError, ToolInfo};

/// Largest file `read_file` returns.
pub const MAX_READ: u64 = 1 << 20;
/// Most entries `list_dir` returns.
pub const MAX_ENTRIES: usize = 1000;
/// Largest content `write_file` accepts.
pub const MAX_WRITE: usize = 16 << 20;

/// The `read_file` tool.
pub struct ReadFile;
/// The `write_file` tool.
pub struct WriteFile;
/// The `list_dir` tool.
pub struct ListDir;

fn path_schema(what: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "description": format!("Absolute path of the {what}, inside a directory the spell was granted."),
    })
}

#[async_trait::async_trait]
impl Tool for ReadFile {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "read_file".into(),
            description: format!(
                "Read a file (at most {}) from a directory the spell was granted. Text comes back as \
                 UTF-8; other bytes come back base64-encoded with encoding \"base64\".",
                human_size(MAX_READ)
            ),
            parameters: object_schema(json!({"path": path_schema("file")}), &["path"]),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let path = PathBuf::from(req_str(&args, "path")?);
        let files = ctx.files.clone();
        let p = path.clone();
        let bytes = blocking(move || files.read(&p, MAX_READ)).await?;
        let size = bytes.len();
        let (encoding, content) = match String::from_utf8(bytes) {
            Ok(text) => ("utf-8", text),
            Err(e) => (
                "base64",
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            ),
        };
        Ok(obj([
            ("path", json!(path)),
            ("size", json!(size)),
            ("encoding", json!(encoding)),
            ("content", json!(content)),
        ]))
    }
}

#[async_trait::async_trait]
impl Tool for WriteFile {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "write_file".into(),
            description: "Write text to a file in a directory the spell was granted for writing, \
                replacing it (default) or appending to it."
                .into(),
            parameters: object_schema(
                json!({
                    "path": path_schema("file to write"),
                    "content": {
                        "type": "string",
                        "maxLength": MAX_WRITE,
                        "description": "The text to write."
                    },
                    "append": {
                        "type": "boolean",
                        "description": "Append to the file instead of replacing it (default false)."
                    },
                    "create_dirs": {
                        "type": "boolean",
                        "description": "Create missing parent directories (default false)."
                    }
                }),
                &["path", "content"],
            ),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let path = PathBuf::from(req_str(&args, "path")?);
        let content = req_str(&args, "content")?.to_string();
        if content.len() > MAX_WRITE {
            return Err(ToolError::InvalidArguments(format!(
                "`content` is {} bytes; at most {} can be written at once",
                content.len(),
                human_size(MAX_WRITE as u64)
            )));
        }
        let options = WriteOptions {
            append: opt_bool(&args, "append", false)?,
            create_dirs: opt_bool(&args, "create_dirs", false)?,
        };
        let files = ctx.files.clone();
        let p = path.clone();
        let written = content.len();
        let size = blocking(move || files.write(&p, content.as_bytes(), options)).await?;
        Ok(obj([
            ("path", json!(path)),
            ("bytes_written", json!(written)),
            ("size", json!(size)),
            ("appended", json!(options.append)),
        ]))
    }
}

#[async_trait::async_trait]
impl Tool for ListDir {
    fn info(&self) -> ToolInfo {
        ToolInfo {
            name: "list_dir".into(),
            description: format!(
                "List a directory the spell was granted: names, kinds (file, dir, symlink) and file \
                 sizes, sorted by name, at most {MAX_ENTRIES} entries."
            ),
            parameters: object_schema(json!({"path": path_schema("directory")}), &["path"]),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let path = PathBuf::from(opt_str(&args, "path")?.ok_or_else(|| {
            ToolError::InvalidArguments("missing required property `path`".into())
        })?);
        let files = ctx.files.clone();
        let p = path.clone();
        let listing = blocking(move || files.list(&p, MAX_ENTRIES)).await?;
        let entries: Vec<Value> = listing
            .entries
            .iter()
            .map(|e| {
                let mut v = json!({"name": e.name, "kind": e.kind});
                if let Some(size) = e.size {
                    v["size"] = json!(size);
                }
                v
            })
            .collect();
        Ok(obj([
            ("path", json!(path)),
            ("total", json!(listing.total)),
            ("truncated", json!(listing.total > listing.entries.len())),
            ("entries", Value::Array(entries)),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileGrants;
    use crate::tools::testing::run_in;

    fn setup() -> (tempfile::TempDir, ToolContext) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("in")).unwrap();
        std::fs::create_dir_all(tmp.path().join("out")).unwrap();
        std::fs::write(tmp.path().join("in/a.txt"), "hello").unwrap();
        std::fs::write(tmp.path().join("in/bin.dat"), [0xff, 0x00, 0x01]).unwrap();
        let files = FileGrants::new(&[tmp.path().join("in")], &[tmp.path().join("out")]).unwrap();
        let ctx = ToolContext {
            files,
            ..Default::default()
        };
        (tmp, ctx)
    }

    #[tokio::test]
    async fn read_write_list() {
        let (tmp, ctx) = setup();
        let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
        let out = run_in(&ReadFile, &ctx, json!({"path": p("in/a.txt")}))
            .await
            .unwrap();
        assert_eq!(out["content"], "hello");
        assert_eq!(out["encoding"], "utf-8");
        let out = run_in(&ReadFile, &ctx, json!({"path": p("in/bin.dat")}))
            .await
            .unwrap();
        assert_eq!(out["encoding"], "base64");
        assert_eq!(out["content"], "/wAB");

        let out = run_in(
            &WriteFile,
            &ctx,
            json!({"path": p("out/new/x.txt"), "content": "ab", "create_dirs": true}),
        )
        .await
        .unwrap();
        assert_eq!(out["size"], 2);
        let out = run_in(
            &WriteFile,
            &ctx,
            json!({"path": p("out/new/x.txt"), "content": "cd", "append": true}),
        )
        .await
        .unwrap();
        assert_eq!(out["size"], 4);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("out/new/x.txt")).unwrap(),
            "abcd"
        );

        let out = run_in(&ListDir, &ctx, json!({"path": p("in")}))
            .await
            .unwrap();
        assert_eq!(out["total"], 2);
        assert_eq!(out["truncated"], false);
        assert_eq!(
            out["entries"][0],
            json!({"name": "a.txt", "kind": "file", "size": 5})
        );
    }

    #[tokio::test]
    async fn denials_and_caps() {
        let (tmp, ctx) = setup();
        let p = |s: &str| tmp.path().join(s).to_string_lossy().into_owned();
        let err = run_in(
            &WriteFile,
            &ctx,
            json!({"path": p("in/x.txt"), "content": "x"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ToolError::Denied(m) if m.contains("--allow-write")),
            "{err:?}"
        );
        let err = run_in(
            &ReadFile,
            &ToolContext::default(),
            json!({"path": "/etc/passwd"}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            ToolError::Denied(
                "reading /etc/passwd is not granted; allow it with --allow-read /etc".into()
            )
        );
        std::fs::write(
            tmp.path().join("in/big.txt"),
            vec![b'a'; MAX_READ as usize + 1],
        )
        .unwrap();
        let err = run_in(&ReadFile, &ctx, json!({"path": p("in/big.txt")}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.ends_with("at most 1 MiB can be read")),
            "{err:?}"
        );
        let err = run_in(&ReadFile, &ctx, json!({"path": p("in")}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("is a directory")),
            "{err:?}"
        );
        let err = run_in(&ReadFile, &ctx, json!({"path": p("in/missing.txt")}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("does not exist")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn listing_is_capped() {
        let (tmp, ctx) = setup();
        let many = tmp.path().join("in/many");
        std::fs::create_dir(&many).unwrap();
        for i in 0..(MAX_ENTRIES + 5) {
            std::fs::write(many.join(format!("f{i:05}")), "").unwrap();
        }
        let out = run_in(&ListDir, &ctx, json!({"path": many.to_string_lossy()}))
            .await
            .unwrap();
        assert_eq!(out["entries"].as_array().unwrap().len(), MAX_ENTRIES);
        assert_eq!(out["total"], MAX_ENTRIES + 5);
        assert_eq!(out["truncated"], true);
    }
}
