//! Fetches `http://localhost:PORT/` (PORT is the input) — a host it may or
//! may not have been granted.
use spellhost_sdk::http;
fn main() {}
fn run(port: String) -> spellhost_sdk::Result<String> {
    Ok(
        match http::get(&format!("http://localhost:{}/", port.trim())) {
            Ok(response) => format!("READ {}: {}", response.status, response.text()?),
            Err(err) => format!("blocked: {err}"),
        },
    )
}
spellhost_sdk::export_spell!(run);
