//! watch: streams an answer token by token, emitting each chunk as a
//! `watch.token` event (see them with `spellhost run --events`), and checks
//! its own subscription saw every one of them.

use std::time::Duration;

use spellhost_sdk::{event, export_spell, info, llm};

fn run(input: String) -> spellhost_sdk::Result<String> {
    let prompt = match input.trim() {
        "" => "Count from one to five in words.",
        prompt => prompt,
    };
    let subscription = event::subscribe(&["watch.*"])?;
    let mut answer = String::new();
    let mut chunks = 0u32;
    let mut end = None;
    for item in llm::Chat::new().user(prompt).stream()? {
        match item? {
            llm::StreamEvent::Text(text) => {
                chunks += 1;
                event::emit(
                    "watch.token",
                    &serde_json::json!({ "n": chunks, "text": text }),
                )?;
                answer.push_str(&text);
            }
            llm::StreamEvent::ToolCall(_) => {}
            llm::StreamEvent::Finish(finish) => end = Some(finish),
        }
    }
    let end = end.ok_or("the stream ended without a finish event")?;
    event::emit(
        "watch.done",
        &serde_json::json!({ "chunks": chunks, "model": end.model, "output_tokens": end.usage.output_tokens }),
    )?;
    let mut seen = 0;
    while let Some(event) = subscription.next(Some(Duration::from_millis(100))) {
        if event.topic == "watch.token" {
            seen += 1;
        }
    }
    info!("streamed {chunks} chunks; the subscription saw {seen} token events");
    Ok(answer)
}

export_spell!(run);
