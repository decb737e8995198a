//! Returns `input` bytes of output (default 2 MiB).
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let size = input.trim().parse().unwrap_or(2 << 20);
    Ok("x".repeat(size))
}
spellhost_sdk::export_spell!(run);
