//! Subscribes, emits three events, and reads them back through the bus.
use spellhost_sdk::event;
use std::time::Duration;
fn main() {}
fn run(_: String) -> spellhost_sdk::Result<String> {
    let sub = event::subscribe(&["roundtrip.*"])?;
    for n in 0..3 {
        event::emit("roundtrip.tick", &serde_json::json!({ "n": n }))?;
    }
    event::emit("elsewhere.tick", &serde_json::json!({}))?;
    let mut seen = Vec::new();
    while let Some(e) = sub.next(Some(Duration::from_millis(50))) {
        seen.push(format!("{}={}@{}", e.topic, e.payload["n"], e.source));
    }
    let reserved = event::emit("spellhost.fake", &serde_json::json!({}))
        .err()
        .map(|e| e.to_string());
    Ok(serde_json::json!({ "seen": seen, "reserved": reserved }).to_string())
}
spellhost_sdk::export_spell!(run);
