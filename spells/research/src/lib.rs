//! A research agent: answers a question with the host's tools — it can
//! compute, query JSON, fetch pages (with `--allow-net`), read files (with
//! `--allow-read`) and keep notes across runs in its memory.
//!
//! ```text
//! spellhost run research.wasm --input "What is 17% of 2,340, and what day of the week is 2030-01-01?"
//! spellhost run research.wasm --allow-net en.wikipedia.org --input "Summarise https://en.wikipedia.org/wiki/WebAssembly"
//! ```
//! `--var tools=a,b` picks the tools; `--events` shows each step.

use spellhost_sdk::agent::Agent;
use spellhost_sdk::{config, log};

const DEFAULT_TOOLS: &str = "calculator,datetime,json_query,text,http_fetch,memory";

fn run(input: String) -> spellhost_sdk::Result<String> {
    let question = if input.trim().is_empty() {
        "What is 17% of 2340? Use the calculator.".to_owned()
    } else {
        input
    };
    let tools = config::get("tools").unwrap_or_else(|| DEFAULT_TOOLS.to_owned());
    let agent = Agent::builder()
        .name("research")
        .system(
            "You are a careful research assistant. Use tools for arithmetic, dates and facts \
             you can look up; never guess a number. When done, answer briefly and say which tools you used.",
        )
        .tools(tools.split(',').map(str::trim).filter(|t| !t.is_empty()))
        .max_steps(6)
        .temperature(0.0)
        .build();
    let result = agent.run(&question)?;
    for step in &result.steps {
        for call in &step.tool_results {
            log::info(format!(
                "step {}: {}({}) -> {:?}",
                step.index, call.call.name, call.call.arguments_json, call.output
            ));
        }
    }
    Ok(result.answer)
}

spellhost_sdk::export_spell!(run);
