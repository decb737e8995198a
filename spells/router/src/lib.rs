//! A conditional router: one LLM call classifies the request, and a
//! workflow `if` sends it to the prompt made for that kind — code questions
//! to a programmer persona, arithmetic to the calculator, the rest to a
//! general answer.
//!
//! ```text
//! spellhost run router.wasm --input "How do I reverse a list in Python?"
//! ```

use serde_json::json;
use spellhost_sdk::workflow::{self, StepExt as _, llm, sequence, tool, when};

fn run(input: String) -> spellhost_sdk::Result<String> {
    let classify = llm(
        "Classify the request as exactly one word: code, math or general.\nRequest: {{ input }}\nClass:",
    )
    .id("class");
    let route = when(
        "(steps.class | lower | trim | split | first) == 'code'",
        llm("You are a senior programmer. Answer with a short code example.\n\n{{ input }}")
            .id("answer"),
        Some(when(
            "(steps.class | lower | trim | split | first) == 'math'",
            sequence([
                llm("Rewrite as one arithmetic expression, nothing else: {{ input }}")
                    .id("expression"),
                tool(
                    "calculator",
                    json!({ "expression": "{{ steps.expression | trim }}" }),
                )
                .id("answer"),
            ]),
            Some(llm("Answer briefly: {{ input }}").id("answer")),
        )),
    );
    let result = workflow::run(&sequence([classify, route]), &input)?;
    let class = result["steps"]["class"]
        .as_str()
        .unwrap_or("?")
        .trim()
        .to_owned();
    let answer = match &result["steps"]["answer"] {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    Ok(format!("[{class}] {answer}"))
}

spellhost_sdk::export_spell!(run);
