//! Sends a request to the granted URL (input: `URL TARGET`) with a forged
//! `Host` header naming an ungranted TARGET, hoping the host routes by it.
use spellhost_sdk::http;
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let (url, target) = input
        .trim()
        .split_once(' ')
        .unwrap_or((input.trim(), "evil.test"));
    let request = http::Request::get(url).header("host", target);
    Ok(match request.send() {
        Ok(response) => format!("READ {}: {}", response.status, response.text()?),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
