//! Floods what the host does for a spell, as the input asks:
//! - `log N`: N log lines of 10 KiB;
//! - `stdout N`: N lines of 100 bytes on stdout;
//! - `events N`: N events at once, stopping at the first refusal;
//! - `results N`: N `text` tool calls started at once, each returning a
//!   copy of a 1 MiB text, collected only when all have finished.
//!
//! Prints what got through and the first refusal.
use serde_json::json;
use spellhost_sdk::{event, log, tool};
fn main() {}
fn run(input: String) -> spellhost_sdk::Result<String> {
    let (what, count) = input.split_once(' ').unwrap_or((input.as_str(), "0"));
    let count: usize = count.parse().unwrap_or(0);
    Ok(match what {
        "log" => {
            let line = "x".repeat(10 << 10);
            for _ in 0..count {
                log::info(&line);
            }
            format!("logged {count}")
        }
        "stdout" => {
            let line = "x".repeat(99);
            for _ in 0..count {
                println!("{line}");
            }
            format!("printed {count}")
        }
        "events" => {
            for i in 0..count {
                if let Err(err) = event::emit("flood.tick", &json!({ "i": i })) {
                    return Ok(format!("sent {i}, then: {err}"));
                }
            }
            format!("sent {count}")
        }
        "results" => {
            let text = "x".repeat(1 << 20);
            let pending: Vec<_> = (0..count)
                .map(|_| tool::start("text", &json!({ "operation": "upper", "text": text })))
                .collect();
            // Every call finishes (and its result waits in the host) before
            // the first is collected; each is dropped once counted.
            for call in &pending {
                call.subscribe().block();
            }
            let mut refused = None;
            let mut ok = 0;
            for call in pending {
                match call.try_get().expect("finished") {
                    Ok(_) => ok += 1,
                    Err(err) => {
                        refused.get_or_insert(err.to_string());
                    }
                }
            }
            match refused {
                Some(err) => format!("collected {ok}, then: {err}"),
                None => format!("collected {ok}"),
            }
        }
        other => format!("unknown flood `{other}`"),
    })
}
spellhost_sdk::export_spell!(run);
