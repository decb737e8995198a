//! Granted a name, tries the address behind it as IP literals in every
//! spelling a URL parser might accept: dotted, IPv4-mapped IPv6, decimal,
//! hex. Input: the port.
use spellhost_sdk::http;
fn main() {}
fn run(port: String) -> spellhost_sdk::Result<String> {
    let port = port.trim();
    let mut lines = Vec::new();
    for host in [
        "127.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "2130706433",
        "0x7f000001",
        "127.1",
    ] {
        let url = format!("http://{host}:{port}/");
        lines.push(match http::get(&url) {
            Ok(response) => format!("{host}: READ {}", response.status),
            Err(err) => format!("{host}: blocked: {err}"),
        });
    }
    Ok(lines.join("\n"))
}
spellhost_sdk::export_spell!(run);
