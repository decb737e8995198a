//! hello: asks the LLM one question (the input, or a default one).

use spellhost_sdk::{export_spell, llm};

fn run(input: String) -> spellhost_sdk::Result<String> {
    let question = match input.trim() {
        "" => "In one sentence: what is WebAssembly?",
        question => question,
    };
    let reply = llm::Chat::new()
        .system("You are a concise, friendly assistant.")
        .user(question)
        .send()?;
    Ok(reply.text)
}

export_spell!(run);
