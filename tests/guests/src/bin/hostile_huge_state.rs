//! Stores a 32 MiB value to fill the host's disk.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let value = vec![7u8; 32 << 20];
    Ok(match spellhost_sdk::state::set("big", &value) {
        Ok(()) => "STORED 32 MiB".into(),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
