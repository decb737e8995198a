//! Opens a TCP server on the host (input: the address to bind).
fn main() {}
fn run(addr: String) -> spellhost_sdk::Result<String> {
    Ok(match std::net::TcpListener::bind(addr.trim()) {
        Ok(listener) => format!("LISTENING on {:?}", listener.local_addr()),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
