//! Fetches the URL given as input, following redirects — which the test's
//! allowed server points at a host that is not allowed.
use spellhost_sdk::http;
fn main() {}
fn run(url: String) -> spellhost_sdk::Result<String> {
    Ok(match http::get(url.trim()) {
        Ok(response) => format!(
            "READ {} from {}: {}",
            response.status,
            response.url,
            response.text()?
        ),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
