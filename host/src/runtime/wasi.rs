//! The WASI a spell gets by default: clocks, random numbers and stdio —
//! nothing else. No files, no environment variables, no sockets, no name
//! lookups; the guest's stdout is sent to the host's stderr so the CLI's
//! stdout carries only the spell's output.

use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// Builds the deny-by-default WASI context for one instance.
pub fn deny_by_default(spell_name: &str) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(spell_name)
        .stdout(std::io::stderr())
        .stderr(std::io::stderr())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build()
}
