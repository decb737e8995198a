//! Increments a counter in the spell's persistent scope and returns it.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let bucket = spellhost_sdk::state::Bucket::spell()?;
    let n = bucket.update_json("counter", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    Ok(n.to_string())
}
spellhost_sdk::export_spell!(run);
