//! Loops on a host call that costs the host milliseconds and the guest
//! almost no fuel (1 MiB of random bytes a time), trying to outrun the
//! wall-clock deadline between two fuel yields.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let mut sum = 0u64;
    loop {
        let bytes = wasip2::random::random::get_random_bytes(1 << 20);
        sum = sum.wrapping_add(u64::from(bytes[0]));
        if sum == u64::MAX {
            return Ok(sum.to_string());
        }
    }
}
spellhost_sdk::export_spell!(run);
