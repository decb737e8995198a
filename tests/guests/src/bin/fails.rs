//! Returns an error: the spell's own failure (exit code 1).
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    Err("deliberate failure from the fails spell".into())
}
spellhost_sdk::export_spell!(run);
