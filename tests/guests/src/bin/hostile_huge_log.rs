//! Floods the host's log with one 8 MiB line.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    spellhost_sdk::log::info("x".repeat(8 << 20));
    Ok("logged".into())
}
spellhost_sdk::export_spell!(run);
