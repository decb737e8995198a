//! {{name}}: answers the input with the model's help and counts its runs.

use spellhost_sdk::{event, export_spell, llm, state};

fn run(input: String) -> spellhost_sdk::Result<String> {
    let question = match input.trim() {
        "" => "In one sentence: what is a spell?",
        question => question,
    };
    // State is the spell's own, kept from one run to the next.
    let runs = state::Bucket::spell()?.update_json("runs", |n: Option<u64>| n.unwrap_or(0) + 1)?;

    let reply = llm::Chat::new()
        .system("You are a concise, friendly assistant.")
        .user(question)
        .max_tokens(200)
        .send()?;
    event::emit(
        "{{name}}.answered",
        &serde_json::json!({ "runs": runs, "model": reply.model }),
    )?;
    Ok(reply.text)
}

export_spell!(run);
