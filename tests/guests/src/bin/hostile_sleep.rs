//! Sleeps for an hour inside a WASI clock wait (no fuel burnt).
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    std::thread::sleep(std::time::Duration::from_secs(3600));
    Ok("woke up".into())
}
spellhost_sdk::export_spell!(run);
