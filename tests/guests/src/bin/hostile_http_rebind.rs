//! Fetches `http://rebind.test:PORT/`: a granted name that resolves to
//! loopback (DNS rebinding, or a name pointed at internal services).
use spellhost_sdk::http;
fn main() {}
fn run(port: String) -> spellhost_sdk::Result<String> {
    let request = http::Request::get(&format!("http://rebind.test:{}/", port.trim()));
    Ok(match request.send() {
        Ok(response) => format!("READ {}: {}", response.status, response.text()?),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
