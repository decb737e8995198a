//! Reads the file at the path given as input: an absolute path outside any
//! grant, a `..` traversal, a symlink out of a preopen — or, granted, a
//! legitimate file. Reports what it got.
fn main() {}
fn run(path: String) -> spellhost_sdk::Result<String> {
    Ok(match std::fs::read_to_string(path.trim()) {
        Ok(text) => format!("READ: {text}"),
        Err(err) => format!("blocked: {err}"),
    })
}
spellhost_sdk::export_spell!(run);
