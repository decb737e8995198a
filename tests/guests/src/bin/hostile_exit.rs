//! Calls `exit`, hoping to take the host process down with it.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    std::process::exit(3)
}
spellhost_sdk::export_spell!(run);
