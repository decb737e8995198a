//! Spins forever in guest code: stopped by fuel, or by the wall-clock deadline.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
spellhost_sdk::export_spell!(run);
