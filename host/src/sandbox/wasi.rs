//! The WASI a spell gets: clocks, random numbers and stdio by default, and
//! nothing else — no files, no environment variables, no sockets, no name
//! lookups. Grants add read-only or read-write preopens (cap-std confines
//! every path, `..` and symlinks included, to the preopened directory),
//! named environment variables, and TCP connections to addresses granted as
//! IP literals (`--allow-net 10.0.0.5:5432`). Name lookups stay off even
//! then: a guest that may resolve names can leak data through DNS queries,
//! and names are checked by the HTTP bridge instead. The guest's stdout and
//! stderr go where the host says ([`super::stdio`]), within the run's log
//! budget.

use std::sync::Arc;

use anyhow::Context as _;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::stdio::{GuestOutput, GuestStdout, Stream};
use crate::bridges::run::RunCtx;
use crate::limits::LogBudget;
use crate::policy::Grants;
use crate::policy::audit::Recorder;
use crate::policy::net::NetPolicy;

/// Where an instance's stdout and stderr go, and the budget they spend.
pub struct Output<'a> {
    pub stdout: GuestStdout,
    pub budget: &'a LogBudget,
    /// The run the output belongs to (`None` for plugin instances).
    pub run: Option<&'a RunCtx>,
}

/// Builds the WASI context for one instance.
///
/// Granted directories appear in the guest at their absolute host path, and
/// the guest's working directory is the host's, so paths mean the same
/// inside and out (as in Deno).
pub fn build(
    spell_name: &str,
    grants: &Grants,
    net: &Arc<NetPolicy>,
    recorder: &Recorder,
    output: Output<'_>,
) -> anyhow::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    let stream = |stream| {
        GuestOutput::new(
            stream,
            output.stdout,
            output.budget.clone(),
            spell_name,
            output.run.cloned(),
        )
    };
    builder
        .arg(spell_name)
        .stdout(stream(Stream::Stdout))
        .stderr(stream(Stream::Stderr))
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
        recorder.allowed("fs", "mount", guest, Some(mode));
    }
    for name in &grants.env {
        match std::env::var(name) {
            Ok(value) => {
                builder.env(name, value);
                recorder.allowed("env", "expose", name, None);
            }
            Err(_) => {
                recorder.denied(
                    "env",
                    "expose",
                    name,
                    &format!("{name} is granted, but it is not set in the host's environment"),
                    None,
                );
            }
        }
    }
    if net.has_address_grants() {
        builder.allow_tcp(true);
        let (net, recorder) = (net.clone(), recorder.clone());
        builder.socket_addr_check(move |addr, use_| {
            let allowed = match use_ {
                SocketAddrUse::TcpConnect => net.allows_socket(addr),
                // The implicit bind a connect makes: any local address.
                SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                _ => false,
            };
            if matches!(use_, SocketAddrUse::TcpConnect) {
                if allowed {
                    recorder.allowed("net", "tcp-connect", &addr.to_string(), None);
                } else {
                    recorder.denied(
                        "net",
                        "tcp-connect",
                        &addr.to_string(),
                        &format!("a TCP connection to {addr} is not granted"),
                        Some(crate::policy::Grant::Net(addr.to_string())),
                    );
                }
            }
            Box::pin(async move { allowed })
        });
    }
    Ok(builder.build())
}
