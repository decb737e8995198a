//! The victim: keeps a secret in its private state.
fn main() {}
fn run(secret: String) -> spellhost_sdk::Result<String> {
    spellhost_sdk::state::set("secret", secret)?;
    Ok("stored".into())
}
spellhost_sdk::export_spell!(run);
