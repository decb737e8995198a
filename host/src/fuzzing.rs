//! Fuzz entry points: each takes arbitrary bytes, drives one parser that
//! reads untrusted input, and panics only on a broken invariant.
//!
//! `fuzz/` (a `cargo fuzz` project) calls these under libFuzzer, and
//! its tests replay the committed corpus and every
//! regression input through the same functions in the ordinary test run,
//! so a crash once found stays fixed on stable Rust.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use serde_json::Value;

use crate::bridges::llm::sse::{SseDecoder, SseEvent};
use crate::bridges::llm::stream::StreamDecoder;
use crate::bridges::llm::{LlmError, StreamEvent, anthropic, gemini, openai};
use crate::policy::manifest::Manifest;
use crate::policy::net::{Host, NetGrant, NetPolicy, canonical_ip, private_kind};

/// A fuzz target: its name (`cargo fuzz run NAME`, `corpus/NAME/`) and
/// entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target of this crate.
pub const TARGETS: [Target; 7] = [
    ("manifest", manifest),
    ("net_policy", net_policy),
    ("sse", sse),
    ("provider_chat", provider_chat),
    ("provider_stream", provider_stream),
    ("tool_args", tool_args),
    ("json_grammar", json_grammar),
];

/// A spell manifest (`*.spell.toml`): parsed, its limits turned into
/// overrides and its network requests into a policy. Whatever parses must
/// parse the same way again.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    let again = Manifest::parse(text).expect("a manifest that parsed once parses again");
    assert_eq!(manifest.limits, again.limits);
    let _ = manifest.limits.overrides();
    let _ = NetPolicy::new(&manifest.requests.net, BTreeMap::new());
}

/// `--allow-net` grants against request hosts. The first line is a grant,
/// the second a `host port`, the rest addresses it resolved to. `vet` may
/// only keep addresses it was given, and private ones only when granted as
/// that address (or loopback for a `localhost` grant).
pub fn net_policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let grant_text = lines.next().unwrap_or_default();
    let Ok(grant) = NetGrant::parse(grant_text) else {
        return;
    };
    let (host, port) = match lines.next().and_then(|l| l.rsplit_once(' ')) {
        Some((host, port)) => (host, port.parse::<u16>().unwrap_or(443)),
        None => ("example.com", 443),
    };
    let host = Host::parse(host);
    let addrs: Vec<IpAddr> = lines.filter_map(|l| l.trim().parse().ok()).collect();
    let policy = NetPolicy::new(&[grant.to_string()], BTreeMap::new()).expect("a parsed grant");
    if policy.check(&host, port).is_err() {
        return;
    }
    if let Ok(kept) = policy.vet(&host, port, &addrs) {
        assert!(!kept.is_empty(), "vet succeeded with no address");
        for ip in kept {
            let given = addrs.iter().any(|a| canonical_ip(*a) == canonical_ip(ip));
            assert!(given, "vet kept {ip}, which it was not given");
            if private_kind(ip).is_some() {
                let as_address = policy.allows_socket(std::net::SocketAddr::new(ip, port));
                let as_localhost = ip.is_loopback()
                    && host == Host::Name("localhost".into())
                    && Host::parse(grant_text.trim().split(':').next().unwrap_or_default())
                        == Host::Name("localhost".into());
                assert!(
                    as_address || as_localhost,
                    "private {ip} kept for `{grant_text}` on {host}:{port}"
                );
            }
        }
    }
}

/// Server-sent events: the first byte picks how the rest is cut into
/// chunks; the events must not depend on where the cuts fall (a chunk may
/// split a line, a `\r\n` or a UTF-8 character anywhere).
pub fn sse(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = decode_sse(body, body.len().max(1));
    let step = usize::from(seed % 7) + 1;
    assert_eq!(whole, decode_sse(body, step), "cut every {step} bytes");
    assert_eq!(whole, decode_sse(body, 1), "cut every byte");
}

fn decode_sse(body: &[u8], step: usize) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    body.chunks(step).flat_map(|c| decoder.push(c)).collect()
}

fn wire_format(selector: u8) -> &'static str {
    ["openai", "anthropic", "gemini"][usize::from(selector % 3)]
}

/// A provider's non-streamed answer: the first byte picks the wire format
/// (OpenAI, Anthropic, Gemini), the rest is the body. Whatever the server
/// sent, the answer is a response or an error, never a panic.
pub fn provider_chat(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let format = wire_format(selector);
    let decoded = match format {
        "openai" => openai::decode_chat("fuzz", "m", body),
        "anthropic" => anthropic::decode_chat("fuzz", "m", body),
        _ => gemini::decode_chat("fuzz", "m", body),
    };
    if let Ok(response) = decoded {
        assert!(!response.model.is_empty() || format != "openai");
    }
}

/// A provider's stream: the first byte picks the wire format, the rest is
/// the body of server-sent events. The decoder is fed the way the host's
/// pump feeds it, which stops at the first error or `Finish`; what comes
/// out is text, complete tool calls and one end (a finish or an error),
/// always.
pub fn provider_stream(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let mut decoder: Box<dyn StreamDecoder> = match wire_format(selector) {
        "openai" => Box::new(openai::stream_decoder("fuzz", "m")),
        "anthropic" => Box::new(anthropic::stream_decoder("fuzz", "m")),
        _ => Box::new(gemini::stream_decoder("fuzz", "m")),
    };
    let mut sse = SseDecoder::new();
    let mut ended = false;
    for chunk in body.chunks(64) {
        for event in sse.push(chunk) {
            if !ended {
                ended = check_stream(decoder.event(event));
            }
        }
    }
    if !ended {
        assert!(
            check_stream(decoder.end()),
            "a stream that ended without a finish or an error"
        );
    }
}

/// Checks one batch of stream events; true when the batch ended the stream
/// (an error or `Finish`), which must then be its last item.
fn check_stream(items: Vec<Result<StreamEvent, LlmError>>) -> bool {
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Ok(StreamEvent::Text(_) | StreamEvent::ToolCall(_)) => {}
            Ok(StreamEvent::Finish(_)) | Err(_) => {
                assert_eq!(i + 1, count, "events after the stream ended");
                return true;
            }
        }
    }
    false
}

/// A built-in tool's arguments as a model would send them: the first byte
/// picks the tool, the rest is the JSON arguments. The tool runs with
/// nothing granted (no files, network, memory or jq), as an agent's tool
/// call does before the host adds grants; every outcome is a result or a
/// tool error, never a panic, and no error claims a hook cancelled it.
pub fn tool_args(data: &[u8]) {
    let Some((&selector, args)) = data.split_first() else {
        return;
    };
    let Ok(args) = serde_json::from_slice::<Value>(args) else {
        return;
    };
    let tools = spellhost_tools::builtins();
    let tool = &tools[usize::from(selector) % tools.len()];
    let ctx = spellhost_tools::ToolContext::default();
    let outcome = tool_runtime().block_on(spellhost_tools::call_checked(tool.as_ref(), &ctx, args));
    if let Err(err) = outcome {
        assert!(
            !matches!(
                err,
                spellhost_tools::ToolError::Cancelled(_) | spellhost_tools::ToolError::NotFound(_)
            ),
            "{} returned {err:?}",
            tool.info().name
        );
    }
}

/// Constrained decoding's JSON recognizer: a JSON Schema (the input up to
/// its first 0xFF byte; none if there is none or it is not JSON) and a text
/// (the rest). What it takes whole parses as JSON; with a schema, an
/// object's keys are declared ones and the required ones are all there.
/// With no schema it takes all JSON within its limits: blank runs, number
/// lengths, nesting, nothing after the value.
pub fn json_grammar(data: &[u8]) {
    use crate::bridges::llm::local::grammar::recognizer::{
        MAX_BLANKS, MAX_DEPTH, MAX_NUMBER_BYTES,
    };
    use crate::bridges::llm::local::grammar::{Recognizer, Shape};
    let (schema, text) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (
            serde_json::from_slice::<Value>(&data[..at]).ok(),
            &data[at + 1..],
        ),
        None => (None, data),
    };
    let shape = schema.as_ref().map_or(Shape::Any, Shape::from_schema);
    let mut recognizer = Recognizer::new(&shape);
    let whole = recognizer.push_all(text) && recognizer.is_complete();
    let parsed = serde_json::from_slice::<Value>(text);
    if whole {
        let value = parsed
            .as_ref()
            .unwrap_or_else(|e| panic!("taken whole but not JSON: {e}"));
        if let (Shape::Object(Some(properties)), Some(object)) = (&shape, value.as_object()) {
            assert!(
                object
                    .keys()
                    .all(|k| properties.iter().any(|p| &p.name == k))
            );
            assert!(
                properties
                    .iter()
                    .all(|p| !p.required || object.contains_key(&p.name))
            );
        }
    }
    // Within the limits (over-estimated: brackets and digits in strings
    // count too, which only skips the check).
    let number_chars = |b: &u8| b"0123456789+-.eE".contains(b);
    let within_limits = text
        .split(|b| !b" \n\r\t".contains(b))
        .all(|run| run.len() <= usize::from(MAX_BLANKS))
        && !text.last().is_some_and(u8::is_ascii_whitespace)
        && text.split(|b| !number_chars(b)).all(|run| {
            run.len() <= usize::from(MAX_NUMBER_BYTES)
                && !run.windows(4).any(|w| {
                    w.iter().skip(1).all(u8::is_ascii_digit)
                        && matches!(w[0], b'e' | b'E' | b'+' | b'-')
                })
        })
        && text.iter().filter(|b| matches!(b, b'[' | b'{')).count() <= MAX_DEPTH;
    if schema.is_none() && parsed.is_ok() && within_limits {
        assert!(whole, "JSON not taken");
    }
}

fn tool_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The committed corpus (`fuzz/corpus/<target>/`) and every crash the
/// fuzzers found (`fuzz/regressions/<target>/`), replayed in the ordinary
/// test run on stable Rust: a crash once found stays fixed.
#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::TARGETS;

    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
    }

    fn inputs(target: &str) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in ["corpus", "regressions"] {
            if let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) {
                files.extend(entries.map(|e| e.unwrap().path()));
            }
        }
        files.sort();
        files
    }

    #[test]
    fn every_target_has_a_corpus_and_replays_clean() {
        for (name, run) in TARGETS {
            let files = inputs(name);
            assert!(!files.is_empty(), "no corpus for the `{name}` fuzz target");
            for path in files {
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&data));
                assert!(outcome.is_ok(), "{} fails", path.display());
            }
        }
    }

    #[test]
    fn every_fuzz_target_is_wired_into_the_cargo_fuzz_project() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        let names = TARGETS.iter().map(|(name, _)| *name);
        // `script_json` lives in spellhost-script, which replays its own corpus.
        for name in names.chain(["script_json"]) {
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "fuzz/Cargo.toml has no [[bin]] for `{name}`"
            );
            assert!(
                fuzz_dir()
                    .join("fuzz_targets")
                    .join(format!("{name}.rs"))
                    .exists()
            );
        }
    }
}
