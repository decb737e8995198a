//! Returns its input unchanged: the trivial spell for CLI tests and benchmarks.
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    Ok(input)
}
spellhost_sdk::export_spell!(run);
