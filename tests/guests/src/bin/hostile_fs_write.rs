//! Writes a file at the path given as input (e.g. into a read-only grant).
fn main() {}
fn run(path: String) -> spellhost_sdk::Result<String> {
    Ok(match std::fs::write(path.trim(), b"pwned") {
        Ok(()) => "WROTE".to_owned(),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
