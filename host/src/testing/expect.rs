//! Checks a test's expectations against what its run did; each one that
//! does not hold becomes a sentence saying what was expected and what came.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::file::Expect;
use crate::bridges::event::Event;
use crate::bridges::llm::replay::Asked;
use crate::policy::audit::Denial;
use crate::runtime::RunError;

/// What a test's run did.
pub struct Observed<'a> {
    pub result: &'a Result<String, RunError>,
    /// The spell's state after the run.
    pub state: &'a BTreeMap<String, Vec<u8>>,
    pub events: &'a [Arc<Event>],
    pub denials: &'a [Denial],
    /// The requests that reached the model (replaying).
    pub asked: &'a [Asked],
    /// Replies no request took, by index.
    pub unused: &'a [usize],
    /// Requests no reply was left for.
    pub unanswered: &'a [String],
    /// The model's answers were the test's (not a recording run's).
    pub replaying: bool,
}

/// The expectations of `expect` that `seen` does not meet.
pub fn check(expect: &Expect, seen: &Observed<'_>) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |text: String| failures.push(text);

    // The outcome.
    let wants_failure = expect.error.is_some() || expect.limit.is_some();
    match seen.result {
        Ok(output) => {
            if wants_failure {
                fail(format!(
                    "expected the run to fail{}, but it succeeded with output {}",
                    match (&expect.error, &expect.limit) {
                        (_, Some(limit)) => format!(" at the {limit} limit"),
                        (Some(error), None) => format!(" with an error containing {error:?}"),
                        (None, None) => String::new(),
                    },
                    quote(output)
                ));
            }
            if let Some(want) = &expect.output
                && want != output
            {
                fail(format!(
                    "output: expected {}, got {}",
                    quote(want),
                    quote(output)
                ));
            }
            for part in &expect.output_contains.0 {
                if !output.contains(part.as_str()) {
                    fail(format!(
                        "output: expected it to contain {part:?}, got {}",
                        quote(output)
                    ));
                }
            }
            if let Some(want) = &expect.output_json {
                match serde_json::from_str::<serde_json::Value>(output) {
                    Ok(got) if &got == want => {}
                    Ok(got) => fail(format!("output JSON: expected {want}, got {got}")),
                    Err(err) => fail(format!(
                        "output: expected JSON ({err}), got {}",
                        quote(output)
                    )),
                }
            }
        }
        Err(err) => {
            let message = err.to_string();
            if !wants_failure {
                fail(format!("the run failed: {message}"));
            }
            if let Some(want) = &expect.error
                && !message.contains(want.as_str())
            {
                fail(format!(
                    "error: expected it to contain {want:?}, got {message:?}"
                ));
            }
            if let Some(want) = &expect.limit {
                match err {
                    RunError::Limit(limit) if limit.name() == want => {}
                    RunError::Limit(limit) => fail(format!(
                        "limit: expected the {want} limit, the run stopped at the {} limit",
                        limit.name()
                    )),
                    _ => fail(format!(
                        "limit: expected the {want} limit, the run failed otherwise: {message}"
                    )),
                }
            }
        }
    }

    // State.
    for (key, want) in &expect.state {
        match seen.state.get(key) {
            None => fail(format!(
                "state: expected `{key}` = {want}, but it is not set"
            )),
            Some(bytes) if !same_value(bytes, want) => fail(format!(
                "state: expected `{key}` = {want}, got {}",
                quote(&String::from_utf8_lossy(bytes))
            )),
            Some(_) => {}
        }
    }
    for key in &expect.state_absent {
        if let Some(bytes) = seen.state.get(key) {
            fail(format!(
                "state: expected no `{key}`, but it holds {}",
                quote(&String::from_utf8_lossy(bytes))
            ));
        }
    }

    // Events, in order.
    let mut next = 0;
    for want in &expect.events {
        let found = seen.events[next..].iter().position(|event| {
            event.topic == want.topic
                && want
                    .payload
                    .as_ref()
                    .is_none_or(|payload| contains(&event.payload, payload))
        });
        match found {
            Some(at) => next += at + 1,
            None => {
                let topics: Vec<&str> = seen.events.iter().map(|e| e.topic.as_str()).collect();
                fail(format!(
                    "events: expected `{}`{}{}; the run published [{}]",
                    want.topic,
                    want.payload
                        .as_ref()
                        .map(|p| format!(" with payload {p}"))
                        .unwrap_or_default(),
                    if next > 0 {
                        " after the events before it"
                    } else {
                        ""
                    },
                    topics.join(", ")
                ));
            }
        }
    }

    // Denials.
    for want in &expect.denied.0 {
        let found = seen.denials.iter().any(|denial| {
            denial.message.contains(want.as_str())
                || denial
                    .grant
                    .as_ref()
                    .is_some_and(|g| g.flag().contains(want.as_str()))
        });
        if !found {
            let messages: Vec<&str> = seen.denials.iter().map(|d| d.message.as_str()).collect();
            fail(format!(
                "denied: expected a refusal mentioning {want:?}; {}",
                if messages.is_empty() {
                    "nothing was refused".to_owned()
                } else {
                    format!("refused: {}", messages.join(" | "))
                }
            ));
        }
    }

    // The model.
    if seen.replaying {
        if let Some(want) = expect.model_calls
            && want != seen.asked.len()
        {
            fail(format!(
                "model calls: expected {want}, the spell made {}",
                seen.asked.len()
            ));
        }
        for part in &expect.prompt_contains.0 {
            if !seen.asked.iter().any(|a| a.text.contains(part.as_str())) {
                fail(format!(
                    "prompt: expected a request to the model containing {part:?}{}",
                    if seen.asked.is_empty() {
                        "; the spell made none".to_owned()
                    } else {
                        String::new()
                    }
                ));
            }
        }
        if !seen.unanswered.is_empty() {
            fail(format!(
                "the spell asked the model {} time(s) more than the test has replies for (first unanswered: {})",
                seen.unanswered.len(),
                quote(&seen.unanswered[0])
            ));
        }
        if !seen.unused.is_empty() {
            let which: Vec<String> = seen.unused.iter().map(|i| (i + 1).to_string()).collect();
            fail(format!(
                "replies {} were never asked for (the spell made {} request(s) to the model)",
                which.join(", "),
                seen.asked.len()
            ));
        }
    }
    failures
}

/// Whether stored `bytes` hold `want`: a string compares with the text,
/// anything else with the bytes read as JSON.
fn same_value(bytes: &[u8], want: &serde_json::Value) -> bool {
    match want {
        serde_json::Value::String(text) => {
            bytes == text.as_bytes()
                || serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| &v == want)
        }
        other => serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| &v == other),
    }
}

/// Whether `have` holds `want`: objects key by key (recursively), anything
/// else equal.
fn contains(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    match (have, want) {
        (serde_json::Value::Object(have), serde_json::Value::Object(want)) => want
            .iter()
            .all(|(k, w)| have.get(k).is_some_and(|h| contains(h, w))),
        _ => have == want,
    }
}

/// A text for a failure message: quoted, and cut when long.
fn quote(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        format!("{:?}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(toml: &str) -> Expect {
        toml::from_str(toml).unwrap()
    }

    fn run(result: Result<String, RunError>, expect_toml: &str) -> Vec<String> {
        let state = BTreeMap::from([("count".to_owned(), b"2".to_vec())]);
        let events = vec![
            Arc::new(Event::new(
                "a",
                serde_json::json!({"n": 1, "m": 2}),
                "spell:x",
            )),
            Arc::new(Event::new("b", serde_json::json!(null), "spell:x")),
        ];
        check(
            &expect(expect_toml),
            &Observed {
                result: &result,
                state: &state,
                events: &events,
                denials: &[],
                asked: &[],
                unused: &[],
                unanswered: &[],
                replaying: true,
            },
        )
    }

    #[test]
    fn what_holds_passes_and_what_does_not_says_why() {
        assert!(
            run(
                Ok("hello".into()),
                "output = \"hello\"\nstate = { count = 2 }"
            )
            .is_empty()
        );
        assert!(
            run(
                Ok("hello".into()),
                "events = [{ topic = \"a\", payload = { n = 1 } }, { topic = \"b\" }]"
            )
            .is_empty()
        );

        let failures = run(Ok("hello".into()), "output = \"bye\"");
        assert_eq!(failures, vec![r#"output: expected "bye", got "hello""#]);
        let failures = run(
            Ok("hello".into()),
            "events = [{ topic = \"b\" }, { topic = \"a\" }]",
        );
        assert!(
            failures[0].contains("expected `a` after the events before it"),
            "{failures:?}"
        );
        let failures = run(Ok("x".into()), "state = { count = 3 }\nerror = \"boom\"");
        assert_eq!(failures.len(), 2, "{failures:?}");
        let failures = run(Err(RunError::Failed("boom".into())), "");
        assert_eq!(failures, vec!["the run failed: the spell failed: boom"]);
        assert!(run(Err(RunError::Failed("boom!".into())), "error = \"boom\"").is_empty());
        let failures = run(Ok("x".into()), "denied = \"--allow-net\"");
        assert!(failures[0].contains("nothing was refused"), "{failures:?}");
    }
}
