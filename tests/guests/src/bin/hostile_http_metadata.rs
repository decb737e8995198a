//! Asks the cloud metadata endpoint for credentials, by address and by a
//! name given as input (which the test pins to that address).
use spellhost_sdk::http;
fn main() {}
fn run(name: String) -> spellhost_sdk::Result<String> {
    let mut lines = Vec::new();
    for host in ["169.254.169.254", name.trim()] {
        let url = format!("http://{host}/latest/meta-data/iam/security-credentials/");
        lines.push(match http::Request::get(&url).no_redirects().send() {
            Ok(response) => format!("{host}: READ {}", response.status),
            Err(err) => format!("{host}: blocked: {err}"),
        });
    }
    Ok(lines.join("\n"))
}
spellhost_sdk::export_spell!(run);
