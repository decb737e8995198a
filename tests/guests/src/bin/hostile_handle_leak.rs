//! Opens buckets and never drops them, to grow the host's handle tables
//! until the host runs out of memory.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    use spellhost_sdk::state::{Bucket, Scope};
    for n in 0..10_000_000u64 {
        match Bucket::open(Scope::Run) {
            Ok(bucket) => std::mem::forget(bucket),
            Err(err) => return Ok(format!("blocked after {n}: {err}")),
        }
    }
    Ok("LEAKED 10 million handles".into())
}
spellhost_sdk::export_spell!(run);
