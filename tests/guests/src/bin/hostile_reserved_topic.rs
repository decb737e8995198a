//! Impersonates the host on the event bus.
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    Ok(
        match spellhost_sdk::event::emit(
            "spellhost.run.finished",
            &serde_json::json!({ "ok": true }),
        ) {
            Ok(()) => "IMPERSONATED THE HOST".into(),
            Err(err) => format!("blocked: {err}"),
        },
    )
}
spellhost_sdk::export_spell!(run);
