//! Sends a UDP datagram to the address given as input.
fn main() {}
fn run(addr: String) -> spellhost_sdk::Result<String> {
    let sent = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.send_to(b"exfiltrated", addr.trim()));
    Ok(match sent {
        Ok(n) => format!("SENT {n} bytes"),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
