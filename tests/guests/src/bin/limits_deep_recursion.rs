//! Recurses without bound using only wasm locals: the wasm call stack
//! overflows (not the guest's shadow stack in linear memory).
fn main() {}
#[allow(unconditional_recursion, reason = "the point of this guest")]
fn depth(n: u64) -> u64 {
    1 + depth(std::hint::black_box(n + 1))
}
fn run(_: String) -> spellhost_sdk::Result<String> {
    Ok(depth(0).to_string())
}
spellhost_sdk::export_spell!(run);
