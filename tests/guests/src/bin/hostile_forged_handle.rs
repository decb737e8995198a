//! Calls the state bridge with a resource handle it never received: the
//! canonical ABI's handle table must refuse it (a trap, not access).
#[link(wasm_import_module = "spellhost:spell/state@0.1.0")]
unsafe extern "C" {
    #[link_name = "[resource-drop]bucket"]
    fn drop_bucket(handle: i32);
}
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    // Open one real bucket so the table is not empty, then forge.
    let _real = spellhost_sdk::state::Bucket::run()?;
    let forged: i32 = input.trim().parse().unwrap_or(4242);
    unsafe { drop_bucket(forged) };
    Ok("FORGED HANDLE ACCEPTED".into())
}
spellhost_sdk::export_spell!(run);
