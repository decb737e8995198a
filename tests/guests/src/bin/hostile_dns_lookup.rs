//! Resolves a host name (e.g. `localhost`) to probe the network.
use std::net::ToSocketAddrs;
fn main() {}
fn run(host: String) -> spellhost_sdk::Result<String> {
    Ok(match (host.trim(), 80).to_socket_addrs() {
        Ok(addrs) => format!("RESOLVED {} addresses", addrs.count()),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
