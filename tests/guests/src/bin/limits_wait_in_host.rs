//! Waits on an event that never comes: the guest burns no fuel, so only the
//! host-side wall-clock deadline can stop it.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let subscription = spellhost_sdk::event::subscribe(&["never.*"])?;
    let event = subscription.next(None);
    Ok(format!("unexpected event: {event:?}"))
}
spellhost_sdk::export_spell!(run);
