//! summarize: summarises the input with the LLM and caches each summary in
//! the spell's persistent state, keyed by a hash of the text, so the same
//! text is never summarised (or paid for) twice.

use spellhost_sdk::{event, export_spell, info, llm, state};

fn run(text: String) -> spellhost_sdk::Result<String> {
    if text.trim().is_empty() {
        return Err("give me something to summarise: --input TEXT or --input-file FILE".into());
    }
    let key = format!("summary/{:016x}", fnv1a(text.as_bytes()));
    let cache = state::Bucket::spell()?;
    if let Some(summary) = cache.get_string(&key)? {
        info!("cache hit for {key}");
        event::emit(
            "summarize.done",
            &serde_json::json!({ "cached": true, "key": key }),
        )?;
        return Ok(summary);
    }
    let reply = llm::Chat::new()
        .system(
            "Summarise the user's text in at most three sentences. Reply with the summary only.",
        )
        .user(&text)
        .temperature(0.0)
        .send()?;
    cache.set(&key, &reply.text)?;
    let total = cache.update_json("stats/summaries", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    info!(
        "summarised {} chars with {} ({} summaries cached so far)",
        text.len(),
        reply.model,
        total
    );
    event::emit(
        "summarize.done",
        &serde_json::json!({
            "cached": false,
            "key": key,
            "input_tokens": reply.usage.input_tokens,
            "output_tokens": reply.usage.output_tokens,
        }),
    )?;
    Ok(reply.text)
}

/// FNV-1a: a stable hash (std's hashers promise no stability across builds).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

export_spell!(run);
