//! Panics: a trap (exit code 4).
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    panic!("deliberate panic")
}
spellhost_sdk::export_spell!(run);
