//! Opens a raw TCP connection to the address given as input.
fn main() {}
fn run(addr: String) -> spellhost_sdk::Result<String> {
    Ok(match std::net::TcpStream::connect(addr.trim()) {
        Ok(_) => "CONNECTED".to_owned(),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
