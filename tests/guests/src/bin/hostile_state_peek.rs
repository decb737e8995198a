//! Tries to reach another spell's private state: its own private scope under
//! the victim's key, and shared namespaces named after the victim.
use spellhost_sdk::state::Bucket;
fn main() {}
fn run(victim: String) -> spellhost_sdk::Result<String> {
    let mut found = Vec::new();
    let own = Bucket::spell()?;
    found.push(format!("own:{:?}", own.get_string("secret")?));
    for name in [
        format!("spell/{victim}"),
        format!("../spell/{victim}"),
        victim.clone(),
    ] {
        match Bucket::shared(&name) {
            Ok(bucket) => found.push(format!("shared {name}:{:?}", bucket.get_string("secret")?)),
            Err(err) => found.push(format!("shared {name}: blocked: {err}")),
        }
    }
    Ok(found.join("\n"))
}
spellhost_sdk::export_spell!(run);
