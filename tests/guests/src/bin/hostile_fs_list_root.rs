//! Lists `/` and the current directory: with no grant there is nothing to see.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let list = |dir: &str| match std::fs::read_dir(dir) {
        Ok(entries) => format!("LISTED {} entries", entries.count()),
        Err(err) => format!("blocked: {err}"),
    };
    Ok(format!("{} | {}", list("/"), list(".")))
}
spellhost_sdk::export_spell!(run);
