//! counter: the no-model demo. Counts how often it ran (persistent state,
//! updated with compare-and-swap so concurrent runs never lose a count),
//! remembers who visited, and announces each visit as an event.

use spellhost_sdk::{config, event, export_spell, info, state};

fn run(input: String) -> spellhost_sdk::Result<String> {
    let name = match input.trim() {
        "" => config::get("name").unwrap_or_else(|| "world".into()),
        name => name.to_owned(),
    };
    let bucket = state::Bucket::spell()?;
    let runs = bucket.update_json("runs", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    let mut visitors: Vec<String> = bucket.get_json("visitors")?.unwrap_or_default();
    if !visitors.contains(&name) {
        visitors.push(name.clone());
        bucket.set_json("visitors", &visitors)?;
    }
    event::emit(
        "counter.visit",
        &serde_json::json!({ "name": name, "run": runs }),
    )?;
    info!("run #{runs}, {} distinct visitors", visitors.len());
    Ok(format!(
        "Hello, {name}! This spell has run {runs} time{} (state survives restarts). Visitors so far: {}.",
        if runs == 1 { "" } else { "s" },
        visitors.join(", ")
    ))
}

export_spell!(run);
