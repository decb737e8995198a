//! The WASI a spell gets: clocks, random numbers and stdio by default, and
//! nothing else — no files, no environment variables, no sockets, no name
//! lookups. Grants add read-only or read-write preopens (cap-std confines
//! every path, `..` and symlinks included, to the preopened directory) and
//! named environment variables. The guest's stdout is sent to the host's
//! stderr so the CLI's stdout carries only the spell's output.

use anyhow::Context as _;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::policy::Grants;
use crate::policy::audit::{self, Audit};

/// Builds the WASI context for one instance.
///
/// Granted directories appear in the guest at their absolute host path, and
/// the guest's working directory is the host's, so paths mean the same
/// inside and out (as in Deno).
pub fn build(spell_name: &str, grants: &Grants, audit: &Option<Audit>) -> anyhow::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(spell_name)
        .stdout(std::io::stderr())
        .stderr(std::io::stderr())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if !grants.read.is_empty() || !grants.write.is_empty() {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        if let Some(cwd) = cwd.to_str() {
            builder.initial_cwd(cwd);
        }
    }
    let writable = grants.write.iter().map(|p| (p, FsPerms::ReadWrite));
    let readable = grants
        .read
        .iter()
        .filter(|p| !grants.write.contains(p))
        .map(|p| (p, FsPerms::ReadOnly));
    for (path, perms) in writable.chain(readable) {
        let host = std::fs::canonicalize(path)
            .with_context(|| format!("granted directory {} does not exist", path.display()))?;
        let guest = host
            .to_str()
            .with_context(|| format!("{} is not valid UTF-8", host.display()))?;
        builder
            .preopened_dir(&host, guest, perms)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("opening granted directory {}", host.display()))?;
        let mode = if perms == FsPerms::ReadWrite {
            "read-write"
        } else {
            "read-only"
        };
        audit::record(audit, "fs", "mount", guest, true, Some(mode));
    }
    for name in &grants.env {
        match std::env::var(name) {
            Ok(value) => {
                builder.env(name, value);
                audit::record(audit, "env", "expose", name, true, None);
            }
            Err(_) => audit::record(
                audit,
                "env",
                "expose",
                name,
                false,
                Some("not set on the host"),
            ),
        }
    }
    Ok(builder.build())
}
