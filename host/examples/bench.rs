//! Benchmarks spellhost and prints medians (not a test: numbers, no asserts).
//!
//! `just bench` builds everything and runs
//! `cargo run --release -p spellhost --example bench -- target/release/spellhost`.
//!
//! Measures:
//! 1. whole-process `spellhost run` of a trivial spell, warm compile cache
//!    and cold (`--no-cache`), and `wasmtime run` of a comparable command
//!    component when a `wasmtime` CLI is on PATH;
//! 2. per-run instantiate time and whole run time inside one host process;
//! 3. host overhead per LLM call: a chat through the spell bridge against a
//!    fake OpenAI-compatible server on 127.0.0.1, next to a raw HTTP round
//!    trip of the same request;
//! 4. host overhead per agent step and per tool call, against an
//!    in-process scripted model (no network, so the figures are host
//!    overhead alone);
//! 5. the offline local model (when installed): load time, time to first
//!    token and tokens per second;
//! 6. `spellhost serve` under HTTP load (`bench/serve.rs`);
//! 7. state, events and the run queue on Redis and PostgreSQL
//!    (`bench/scale.rs`);
//! 8. publishing and pulling packages against a real registry, and what a
//!    cached `oci://` reference adds to a run (`bench/market.rs`);
//! 9. soak: thousands of mixed, agent and workflow runs in one process,
//!    with its memory and file descriptors along the way (`bench/soak.rs`).

#[path = "../tests/support/contract.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod contract;
#[path = "../tests/support/fake_llm.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod fake_llm;
#[path = "../tests/support/listening.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod listening;
#[path = "bench/market.rs"]
mod market_bench;
#[path = "bench/scale.rs"]
mod scale_bench;
#[path = "bench/serve.rs"]
mod serve_bench;
#[path = "../tests/support/servers.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod servers;
#[path = "bench/soak.rs"]
mod soak_bench;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::bridges::state::SqliteStore;
use spellhost::cache::CompileCache;
use spellhost::limits::Limits;
use spellhost::runtime::{Runtime, SpellConfig};

fn guest(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/spell")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} missing: run `just test-guests`",
        path.display()
    );
    path
}

struct Summary {
    median: f64,
    p10: f64,
    p90: f64,
    n: usize,
}

fn summarize(mut samples: Vec<f64>) -> Summary {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Summary {
        median: at(0.5),
        p10: at(0.1),
        p90: at(0.9),
        n: samples.len(),
    }
}

fn print(label: &str, unit: &str, s: &Summary) {
    println!(
        "{label:<58} median {:>9.3} {unit}   p10 {:>9.3}   p90 {:>9.3}   (n={})",
        s.median, s.p10, s.p90, s.n
    );
}

fn time_command(n: usize, mut make: impl FnMut() -> Command) -> Summary {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = make().output().expect("running the command").status;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(status.success(), "command failed: {status}");
    }
    summarize(samples)
}

fn whole_process(spellhost: &Path) {
    println!("== whole-process time of `spellhost run` (trivial spell: echo) ==");
    let dir = tempfile::tempdir().unwrap();
    let echo = guest("echo");
    let command = |extra: &[&str]| {
        let mut c = Command::new(spellhost);
        c.arg("run").arg(&echo).args(["--input", "hi"]).args(extra);
        c.env("SPELLHOST_CACHE_DIR", dir.path().join("cache"))
            .env("SPELLHOST_DATA_DIR", dir.path().join("data"));
        // As a user starts it: settling the thread counts is its own work.
        c.env_remove("RAYON_NUM_THREADS")
            .env_remove("CANDLE_NUM_THREADS");
        c
    };
    time_command(1, || command(&[])); // fills the cache
    let warm = time_command(30, || command(&[]));
    print("spellhost run, warm compile cache", "ms", &warm);
    let cold = time_command(10, || command(&["--no-cache"]));
    print(
        "spellhost run --no-cache (compiles every time)",
        "ms",
        &cold,
    );
    println!("{:<58} {:.1}x", "cold / warm", cold.median / warm.median);
    match Command::new("wasmtime").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let hello = guest("not_a_spell");
            let wasmtime = || {
                let mut c = Command::new("wasmtime");
                c.arg("run").arg(&hello);
                c.env_remove("RAYON_NUM_THREADS")
                    .env_remove("CANDLE_NUM_THREADS");
                c
            };
            time_command(1, wasmtime); // fills wasmtime's own cache
            // Alternated, so that load on the machine hits both alike.
            let (mut ours, mut theirs, mut ratios) = (vec![], vec![], vec![]);
            for round in 0..30 {
                // Each goes first in every other round.
                let (t, o) = if round % 2 == 0 {
                    let t = time_command(1, wasmtime).median;
                    (t, time_command(1, || command(&[])).median)
                } else {
                    let o = time_command(1, || command(&[])).median;
                    (time_command(1, wasmtime).median, o)
                };
                theirs.push(t);
                ours.push(o);
                ratios.push(o / t);
            }
            print(
                &format!(
                    "wasmtime run (hello command, {})",
                    String::from_utf8_lossy(&out.stdout).trim()
                ),
                "ms",
                &summarize(theirs),
            );
            print(
                "spellhost run (echo spell), alternated",
                "ms",
                &summarize(ours),
            );
            print(
                "  spellhost / wasmtime (goal <= 1.0)",
                "x",
                &summarize(ratios),
            );
            match (
                peak_rss_mib(10, || command(&[])),
                peak_rss_mib(10, wasmtime),
            ) {
                (Some(ours), Some(theirs)) => {
                    print("peak RSS: spellhost run, warm", "MiB", &ours);
                    print("peak RSS: wasmtime run", "MiB", &theirs);
                    println!(
                        "{:<58} {:.2}x",
                        "  spellhost / wasmtime peak RSS (goal <= 1.2)",
                        ours.median / theirs.median
                    );
                }
                _ => println!("(no GNU time at /usr/bin/time: skipping peak RSS)"),
            }
        }
        _ => println!("(no `wasmtime` CLI on PATH: skipping the wasmtime comparison)"),
    }
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/scripts")
        .join(name)
}

/// Peak resident memory of one run of `command`, in MiB (GNU time's %M).
fn peak_rss_mib(n: usize, mut make: impl FnMut() -> Command) -> Option<Summary> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let inner = make();
        let mut timed = Command::new("/usr/bin/time");
        timed
            .args(["-f", "%M"])
            .arg(inner.get_program())
            .args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => timed.env(key, value),
                None => timed.env_remove(key),
            };
        }
        let out = timed.output().ok()?;
        let kib: f64 = String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()?
            .trim()
            .parse()
            .ok()?;
        samples.push(kib / 1024.0);
    }
    Some(summarize(samples))
}

/// Script spells: whole-process time and memory of trivial Lua and JS
/// spells, and CPU-heavy Lua and JS next to native `lua5.4` and QuickJS.
fn scripts(spellhost: &Path) {
    println!("\n== script spells (prebuilt interpreters), whole process ==");
    let dir = tempfile::tempdir().unwrap();
    let command = |file: &Path, extra: &[&str]| {
        let mut c = Command::new(spellhost);
        c.arg("run").arg(file).args(extra);
        c.env("SPELLHOST_CACHE_DIR", dir.path().join("cache"))
            .env("SPELLHOST_DATA_DIR", dir.path().join("data"));
        c
    };
    for (label, file) in [
        ("trivial Lua spell (return \"hi\")", script("trivial.lua")),
        (
            "trivial JS spell (export default () => \"hi\")",
            script("trivial.js"),
        ),
    ] {
        time_command(1, || command(&file, &[])); // compiles the interpreter once
        let warm = time_command(30, || command(&file, &[]));
        print(&format!("spellhost run, {label}"), "ms", &warm);
        match peak_rss_mib(10, || command(&file, &[])) {
            Some(rss) => print(&format!("  peak RSS, {label}"), "MiB", &rss),
            None => println!("  (no GNU time at /usr/bin/time: skipping memory)"),
        }
    }

    let lua_version = match Command::new("lua5.4").arg("-v").output() {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => {
            println!(
                "(no `lua5.4` on PATH: `just bench` installs it; skipping the Lua comparisons)"
            );
            None
        }
    };
    if let Some(version) = &lua_version {
        for (label, file) in [
            ("fib.lua: recursive fib(30) x3", "fib.lua"),
            ("calls.lua: closures and method calls", "calls.lua"),
            ("cpu.lua: tables, strings, sorting (mixed)", "cpu.lua"),
        ] {
            let file = script(file);
            compare_native(label, version, &file, &command, || {
                let mut c = Command::new("lua5.4");
                c.arg(&file);
                c
            });
        }
    }
    // QuickJS of the interpreter's version, built for this machine by
    // `just native-qjs` (rquickjs-sys's sources, cc -O2).
    let qjs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/native/qjs");
    if qjs.exists() {
        let file = script("cpu.js");
        compare_native(
            "cpu.js: recursion, classes, arrays, strings, Map",
            "native qjs (QuickJS-ng, same sources, cc -O2)",
            &file,
            &command,
            || {
                let mut c = Command::new(&qjs);
                c.arg(&file);
                c
            },
        );
    } else {
        println!("(no target/native/qjs: `just native-qjs` builds it; skipping the JS comparison)");
    }
}

/// One script under `spellhost run` and natively, alternated so that
/// load on the machine hits both alike: whole-process times, and the
/// median of the per-round ratios.
fn compare_native(
    label: &str,
    native_label: &str,
    file: &Path,
    spellhost: &dyn Fn(&Path, &[&str]) -> Command,
    native: impl Fn() -> Command,
) {
    println!("\n-- {label} --");
    // A generous fuel limit: the run is metered as every run is.
    let fuel = ["--fuel", "1000000000000"];
    time_command(1, || spellhost(file, &fuel)); // compiles the interpreter once
    let (mut ours_ms, mut native_ms, mut ratios) = (vec![], vec![], vec![]);
    for _ in 0..7 {
        let n = time_command(1, &native).median;
        let o = time_command(1, || spellhost(file, &fuel)).median;
        native_ms.push(n);
        ours_ms.push(o);
        ratios.push(o / n);
    }
    print(
        &format!("native: {native_label}"),
        "ms",
        &summarize(native_ms),
    );
    print("spellhost run", "ms", &summarize(ours_ms));
    print(
        "  spellhost / native (goal <= 1.5)",
        "x",
        &summarize(ratios),
    );
}

fn runtime(router: ModelRouter, dir: &Path) -> Runtime {
    Runtime::builder()
        .compile_cache(CompileCache::at(dir.join("cache")))
        .router(router)
        .state(SqliteStore::new(dir.join("state.sqlite3")))
        .build()
        .unwrap()
}

async fn in_process() {
    println!("\n== inside one host process (echo spell, 500 runs) ==");
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(ModelRouter::new(), dir.path());
    let spell = rt
        .load(
            "echo",
            &std::fs::read(guest("echo")).unwrap(),
            SpellConfig::default(),
        )
        .unwrap();
    let limits = Limits::default();
    let (mut instantiate, mut total) = (Vec::new(), Vec::new());
    for _ in 0..500 {
        let started = Instant::now();
        let report = rt.run(&spell, "hi", &limits).await;
        total.push(started.elapsed().as_secs_f64() * 1e6);
        instantiate.push(report.stats.instantiate_ms * 1e3);
        report.result.unwrap();
    }
    print(
        "instantiate (new Store + instance)",
        "µs",
        &summarize(instantiate),
    );
    print(
        "whole run (state setup + instantiate + call)",
        "µs",
        &summarize(total),
    );
}

async fn llm_overhead() {
    println!("\n== host overhead per LLM call (fake OpenAI server on 127.0.0.1) ==");
    let fake = fake_llm::FakeLlm::start(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let provider = OpenAiProvider::new(OpenAiConfig::new("fake", fake.base_url())).unwrap();
    let rt = runtime(
        ModelRouter::new()
            .with_provider(Arc::new(provider))
            .with_default_model(Some("fake/m".into())),
        dir.path(),
    );
    let spell = rt
        .load(
            "llm_chat",
            &std::fs::read(guest("llm_chat")).unwrap(),
            SpellConfig::default(),
        )
        .unwrap();
    let limits = Limits::default();
    let echo = rt
        .load(
            "echo",
            &std::fs::read(guest("echo")).unwrap(),
            SpellConfig::default(),
        )
        .unwrap();

    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "m",
        "messages": [{ "role": "system", "content": "test system prompt" }, { "role": "user", "content": "hello" }],
        "temperature": 0.0
    });
    let (mut raw, mut spell_call, mut empty_run) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..400 {
        let started = Instant::now();
        let response = client
            .post(format!("{}/chat/completions", fake.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let _: serde_json::Value = response.json().await.unwrap();
        let raw_us = started.elapsed().as_secs_f64() * 1e6;

        let started = Instant::now();
        rt.run(&spell, "hello", &limits).await.result.unwrap();
        let spell_us = started.elapsed().as_secs_f64() * 1e6;

        let started = Instant::now();
        rt.run(&echo, "hello", &limits).await.result.unwrap();
        let empty_us = started.elapsed().as_secs_f64() * 1e6;
        if i >= 50 {
            raw.push(raw_us);
            spell_call.push(spell_us);
            empty_run.push(empty_us);
        }
    }
    let (raw, spell_call, empty_run) =
        (summarize(raw), summarize(spell_call), summarize(empty_run));
    print("raw HTTP round trip (reqwest → fake server)", "µs", &raw);
    print(
        "spell run with one llm.chat (instantiate + call + HTTP)",
        "µs",
        &spell_call,
    );
    print("spell run without LLM (echo)", "µs", &empty_run);
    let overhead = spell_call.median - empty_run.median - raw.median;
    println!(
        "{:<58} {:>9.3} ms  (run with chat − run without − raw HTTP, medians)",
        "host overhead per LLM call",
        overhead / 1e3
    );
}

/// Median run time of `spell` on `input`, in µs, after a warm-up.
async fn median_run(
    rt: &Runtime,
    spell: &spellhost::runtime::Spell,
    input: &str,
    n: usize,
) -> Summary {
    let limits = Limits::default();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 30 {
        let started = Instant::now();
        rt.run(spell, input, &limits).await.result.unwrap();
        if i >= 30 {
            samples.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    summarize(samples)
}

/// An in-process model that answers at once: it calls the first tool it is
/// offered, then answers "done". It takes the network out of the agent and
/// tool figures, which are then host overhead alone.
struct Scripted;

#[async_trait::async_trait]
impl spellhost::bridges::llm::LlmProvider for Scripted {
    fn id(&self) -> &str {
        "scripted"
    }

    async fn chat(
        &self,
        model: &str,
        request: &spellhost::bridges::llm::ChatRequest,
    ) -> Result<spellhost::bridges::llm::ChatResponse, spellhost::bridges::llm::LlmError> {
        use spellhost::bindings::llm::{ChatResponse, FinishReason, Role, ToolCall, Usage};
        let answered = request
            .messages
            .last()
            .is_some_and(|m| m.role == Role::Tool);
        let tool = request.options.tools.first().filter(|_| !answered);
        Ok(ChatResponse {
            text: if tool.is_some() {
                String::new()
            } else {
                "done".into()
            },
            tool_calls: tool
                .map(|t| ToolCall {
                    id: "c1".into(),
                    name: t.name.clone(),
                    arguments_json: "{}".into(),
                })
                .into_iter()
                .collect(),
            finish_reason: if tool.is_some() {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            },
            usage: Usage {
                input_tokens: 1,
                output_tokens: 1,
            },
            model: model.into(),
        })
    }

    async fn chat_stream(
        &self,
        _: &str,
        _: &spellhost::bridges::llm::ChatRequest,
    ) -> Result<spellhost::bridges::llm::EventStream, spellhost::bridges::llm::LlmError> {
        Err(spellhost::bridges::llm::LlmError::InvalidRequest(
            "no streams".into(),
        ))
    }

    async fn embed(
        &self,
        _: &str,
        _: &[String],
    ) -> Result<spellhost::bindings::llm::Embeddings, spellhost::bridges::llm::LlmError> {
        Err(spellhost::bridges::llm::LlmError::InvalidRequest(
            "no embeddings".into(),
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, spellhost::bridges::llm::LlmError> {
        Ok(vec!["m".into()])
    }
}

async fn agent_overhead() {
    println!(
        "\n== host overhead per agent step and per tool call (in-process model, no network) =="
    );
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(
        ModelRouter::new()
            .with_provider(Arc::new(Scripted))
            .with_default_model(Some("scripted/m".into())),
        dir.path(),
    );
    let load = |name: &str| {
        rt.load(
            name,
            &std::fs::read(guest(name)).unwrap(),
            SpellConfig::default(),
        )
        .unwrap()
    };
    let (echo, tool_call, agent, chat) = (
        load("echo"),
        load("tool_call"),
        load("agent_run"),
        load("llm_chat"),
    );
    let n = 1000;
    let empty = median_run(&rt, &echo, "hi", n).await;
    let tool = median_run(&rt, &tool_call, r#"{"name":"uuid","arguments":{}}"#, n).await;
    let one_chat = median_run(&rt, &chat, "hello", n).await;
    let one_step = median_run(&rt, &agent, r#"{"prompt":"hi","tools":[]}"#, n).await;
    let two_steps = median_run(&rt, &agent, r#"{"prompt":"hi","tools":["uuid"]}"#, n).await;
    print("spell run without tools or LLM (echo)", "µs", &empty);
    print("spell run with one tool.call (uuid)", "µs", &tool);
    print("spell run with one llm.chat", "µs", &one_chat);
    print(
        "agent run, 1 step (one model turn, no tools)",
        "µs",
        &one_step,
    );
    print(
        "agent run, 2 steps (a uuid tool call, then an answer)",
        "µs",
        &two_steps,
    );
    println!(
        "{:<58} {:>9.1} µs  (tool.call run − echo run)",
        "host overhead per tool call (incl. the tool)",
        tool.median - empty.median
    );
    println!(
        "{:<58} {:>9.1} µs  (llm.chat run − echo run)",
        "host overhead per LLM call (in-process model)",
        one_chat.median - empty.median
    );
    println!(
        "{:<58} {:>9.1} µs  (1-step agent run − llm.chat run)",
        "agent run setup + one step, beyond the model call",
        one_step.median - one_chat.median
    );
    println!(
        "{:<58} {:>9.1} µs  (2-step − 1-step agent run)",
        "one more agent step with a tool call",
        two_steps.median - one_step.median
    );
}

async fn local_model() {
    use spellhost::bridges::llm::LlmProvider;
    use spellhost::bridges::llm::local::{LocalProvider, catalog};

    println!("\n== offline local model (local/smollm2, greedy, 128 tokens) ==");
    let dir = catalog::models_dir();
    if !catalog::model_path(&dir, "smollm2").exists() {
        println!("(not installed: run `spellhost models pull smollm2`)");
        return;
    }
    let provider = LocalProvider::new(dir.clone());
    let request = story_request;
    let started = Instant::now();
    provider.chat("smollm2", &request("Hi")).await.unwrap();
    println!(
        "{:<58} {:>9.3} s (load + a short answer)",
        "first call",
        started.elapsed().as_secs_f64()
    );
    // The anchor: llama.cpp (llama-cpp-python's OpenAI-compatible server)
    // on the same GGUF file and machine, when installed (`just
    // llama-anchor`), measured alternately with spellhost.
    let anchor = LlamaServer::start(&catalog::model_path(&dir, "smollm2")).await;
    let (mut ttft, mut rate) = (Vec::new(), Vec::new());
    let (mut anchor_ttft, mut anchor_rate, mut rate_ratio) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..5 {
        let prompt = format!("Write a short story about a lighthouse keeper number {i}.");
        let (first, ours) = stream_timing(&provider, &request(&prompt)).await;
        ttft.push(first);
        rate.push(ours);
        if let Some((first, tokens_per_s)) = match &anchor {
            Some(anchor) => anchor.stream(&prompt).await,
            None => None,
        } {
            anchor_ttft.push(first * 1e3);
            anchor_rate.push(tokens_per_s);
            rate_ratio.push(ours / tokens_per_s);
        }
    }
    print(
        "time to first token (prompt ~40 tokens; goal <= 300 ms)",
        "ms",
        &summarize(ttft),
    );
    print("generation speed", "tok/s", &summarize(rate));
    match anchor {
        Some(_) if !rate_ratio.is_empty() => {
            print(
                "llama.cpp (llama-cpp-python server): first token, HTTP incl.",
                "ms",
                &summarize(anchor_ttft),
            );
            print(
                "llama.cpp (llama-cpp-python server): generation speed",
                "tok/s",
                &summarize(anchor_rate),
            );
            print(
                "  spellhost / llama.cpp tok/s (goal >= 1.0)",
                "x",
                &summarize(rate_ratio),
            );
        }
        Some(_) => println!("(the llama.cpp server answered no request: no comparison)"),
        None => println!(
            "(no llama-cpp-python on this machine: `just llama-anchor` installs it; skipping the llama.cpp comparison)"
        ),
    }
    conversation_turns(&provider, anchor.as_ref()).await;
    constrained_json(&provider).await;
}

/// First token (ms) and generation speed (tok/s) of one streamed answer.
async fn stream_timing(
    provider: &spellhost::bridges::llm::local::LocalProvider,
    request: &spellhost::bridges::llm::ChatRequest,
) -> (f64, f64) {
    use futures::StreamExt as _;
    use spellhost::bridges::llm::{LlmProvider, StreamEvent};
    let started = Instant::now();
    let mut stream = provider.chat_stream("smollm2", request).await.unwrap();
    let mut first = None;
    let mut tokens = 0;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::Text(_) => {
                first.get_or_insert_with(|| started.elapsed());
            }
            StreamEvent::Finish(end) => tokens = end.usage.output_tokens,
            StreamEvent::ToolCall(_) => {}
        }
    }
    let total = started.elapsed();
    let first = first.unwrap_or(total);
    (
        first.as_secs_f64() * 1e3,
        f64::from(tokens.saturating_sub(1)) / (total - first).as_secs_f64(),
    )
}

/// What constrained decoding costs: a JSON answer in a schema's shape next
/// to a free-text answer to the same question, alternately.
async fn constrained_json(provider: &spellhost::bridges::llm::local::LocalProvider) {
    use spellhost::bindings::llm::ResponseFormat;
    let schema = r#"{"type": "object", "properties": {"title": {"type": "string"},
        "story": {"type": "string"}}, "required": ["title", "story"]}"#;
    let (mut free, mut json, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..5 {
        let prompt = format!("Write a short story about a lighthouse keeper number {i}.");
        let mut request = story_request(&prompt);
        let (_, text_rate) = stream_timing(provider, &request).await;
        request.options.response_format = Some(ResponseFormat::JsonSchema(schema.into()));
        let (_, json_rate) = stream_timing(provider, &request).await;
        free.push(text_rate);
        json.push(json_rate);
        ratio.push(json_rate / text_rate);
    }
    print(
        "free text, for the JSON comparison",
        "tok/s",
        &summarize(free),
    );
    print(
        "JSON answer in a schema's shape (constrained)",
        "tok/s",
        &summarize(json),
    );
    print("  constrained / free tok/s", "x", &summarize(ratio));
}

/// The next turn of a conversation: the same system prompt and first
/// exchange, a new question each round. Both engines may reuse what they
/// computed for the shared start (llama.cpp keeps its last prompt's cache).
async fn conversation_turns(
    provider: &spellhost::bridges::llm::local::LocalProvider,
    anchor: Option<&LlamaServer>,
) {
    use futures::StreamExt as _;
    use spellhost::bindings::llm::Role;
    use spellhost::bridges::llm::provider::text_message;
    use spellhost::bridges::llm::{LlmProvider, StreamEvent};

    const SYSTEM: &str = "You are a helpful AI assistant who answers questions about the sea, ships and lighthouses, briefly and accurately.";
    const FIRST: &str = "What does a lighthouse keeper do?";
    const ANSWER: &str = "A lighthouse keeper tends the light: they keep the lamp lit from dusk to dawn, clean the lens and the windows, wind the clockwork that turns the lens, keep a log of the weather and of passing ships, and help in rescues when a ship is in trouble near the coast.";
    let turn = |i: usize| format!("And what did a keeper do in a storm, in story number {i}?");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let request = greedy_request(vec![
            text_message(Role::System, SYSTEM),
            text_message(Role::User, FIRST),
            text_message(Role::Assistant, ANSWER),
            text_message(Role::User, &turn(i)),
        ]);
        let started = Instant::now();
        let mut stream = provider.chat_stream("smollm2", &request).await.unwrap();
        let mut first = None;
        while let Some(event) = stream.next().await {
            if let StreamEvent::Text(_) = event.unwrap() {
                first.get_or_insert_with(|| started.elapsed());
            }
        }
        let anchor_first = match anchor {
            Some(anchor) => {
                anchor
                    .stream_messages(serde_json::json!([
                        { "role": "system", "content": SYSTEM },
                        { "role": "user", "content": FIRST },
                        { "role": "assistant", "content": ANSWER },
                        { "role": "user", "content": turn(i) },
                    ]))
                    .await
            }
            None => None,
        };
        // The first round fills both caches.
        if i > 0 {
            ours.extend(first.map(|f| f.as_secs_f64() * 1e3));
            theirs.extend(anchor_first.map(|(f, _)| f * 1e3));
        }
    }
    if ours.is_empty() {
        println!("(the local model answered no turn with text: no figure)");
        return;
    }
    print(
        "first token, next turn of a conversation (~110-token prompt)",
        "ms",
        &summarize(ours),
    );
    if !theirs.is_empty() {
        print(
            "llama.cpp: first token, next turn, HTTP incl.",
            "ms",
            &summarize(theirs),
        );
    }
}

/// A greedy request for 128 tokens at most.
fn greedy_request(
    messages: Vec<spellhost::bindings::llm::Message>,
) -> spellhost::bridges::llm::ChatRequest {
    spellhost::bridges::llm::ChatRequest {
        messages,
        options: spellhost::bindings::llm::Options {
            max_tokens: Some(128),
            ..spellhost::bridges::llm::provider::no_options()
        },
    }
}

/// A greedy request for `prompt` under a [`system_prompt`] of its own.
fn story_request(prompt: &str) -> spellhost::bridges::llm::ChatRequest {
    use spellhost::bindings::llm::Role;
    use spellhost::bridges::llm::provider::text_message;
    greedy_request(vec![
        text_message(Role::System, &system_prompt(prompt)),
        text_message(Role::User, prompt),
    ])
}

/// A system prompt that differs from round to round at its very start, so
/// neither engine can reuse the previous prompt's processing: each round's
/// first token costs the whole prompt.
fn system_prompt(prompt: &str) -> String {
    format!(
        "Round {}. You are a helpful AI assistant.",
        prompt.len() + prompt.bytes().map(usize::from).sum::<usize>()
    )
}

/// llama-cpp-python's server on 127.0.0.1 (llama.cpp under a Python
/// server loop), stopped when dropped.
struct LlamaServer {
    child: std::process::Child,
    url: String,
}

impl LlamaServer {
    async fn start(model: &Path) -> Option<LlamaServer> {
        let installed = Command::new("python3")
            .args(["-c", "import llama_cpp.server"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            return None;
        }
        // The threads candle uses (its pool: the physical cores).
        let threads = std::env::var("CANDLE_NUM_THREADS")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(candle_core::utils::get_num_threads);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let child = Command::new("python3")
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--n_ctx", "2048", "--n_threads", &threads.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = http_client();
        for _ in 0..600 {
            if server.child.try_wait().ok().flatten().is_some() {
                println!("(llama-cpp-python's server exited at start: skipping it)");
                return None;
            }
            if client
                .get(format!("{}/v1/models", server.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                // One answer first: the model loaded and warm, as ours is.
                server.stream("Hi").await?;
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!("(llama-cpp-python's server did not start in 60 s: skipping it)");
        None
    }

    /// One streamed greedy answer of 128 tokens at most: (seconds to the
    /// first token, tokens per second after it), or `None` if the server
    /// failed. Each streamed chunk with content counts as one token (the
    /// server sends one per token, except where it joins the tokens of one
    /// character).
    async fn stream(&self, prompt: &str) -> Option<(f64, f64)> {
        self.stream_messages(serde_json::json!([
            { "role": "system", "content": system_prompt(prompt) },
            { "role": "user", "content": prompt },
        ]))
        .await
    }

    /// First token (s) and generation speed (tok/s) of a greedy 128-token
    /// answer to `messages` (OpenAI's chat format).
    async fn stream_messages(&self, messages: serde_json::Value) -> Option<(f64, f64)> {
        use futures::StreamExt as _;
        let body = serde_json::json!({
            "messages": messages,
            "max_tokens": 128,
            "temperature": 0,
            "stream": true,
        });
        let started = Instant::now();
        let response = http_client()
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| println!("(llama.cpp server: {e})"))
            .ok()?;
        let mut bytes = response.bytes_stream();
        let (mut first, mut tokens, mut buffer) = (None, 0u32, String::new());
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk
                .map_err(|e| println!("(llama.cpp stream: {e})"))
                .ok()?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(data) = event.trim().strip_prefix("data: ") else {
                    continue;
                };
                let Ok(json) = serde_json::from_str::<serde_json::Value>(data) else {
                    continue;
                };
                if json["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
                {
                    first.get_or_insert_with(|| started.elapsed());
                    tokens += 1;
                }
            }
        }
        let total = started.elapsed();
        let first = first?;
        (tokens >= 2).then(|| {
            (
                first.as_secs_f64(),
                f64::from(tokens - 1) / (total - first).as_secs_f64(),
            )
        })
    }
}

/// A client that gives up on a stalled server instead of hanging the bench.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    // SAFETY: the first thing the process does; no other thread exists.
    unsafe { spellhost::bridges::llm::local::settle_thread_counts() };
    // A child of the scale bench: load one store, print what it did.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__state-load") {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (done, attempts) = rt.block_on(scale_bench::load(&args[2], &args[3]));
        println!("{done} {attempts}");
        return;
    }
    // A child of the soak bench: the fake LLM server, out of the measured process.
    if args.get(1).map(String::as_str) == Some("__fake-llm") {
        soak_bench::serve_fake_llm();
        return;
    }
    let spellhost = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/spellhost"));
    assert!(
        spellhost.exists(),
        "{} missing: run `just build`",
        spellhost.display()
    );
    // An optional second argument runs one section: `whole`, `scripts`,
    // `in-process`, `llm`, `agent`, `local`, `serve`, `scale`, `market` or `soak`.
    const SECTIONS: [&str; 10] = [
        "whole",
        "scripts",
        "in-process",
        "llm",
        "agent",
        "local",
        "serve",
        "scale",
        "market",
        "soak",
    ];
    let only = std::env::args().nth(2);
    if let Some(only) = &only {
        assert!(
            SECTIONS.contains(&only.as_str()),
            "unknown section `{only}`: pick one of {SECTIONS:?}"
        );
    }
    let wanted = |section: &str| only.as_deref().is_none_or(|only| only == section);
    if wanted("whole") {
        whole_process(&spellhost);
    }
    if wanted("scripts") {
        scripts(&spellhost);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if wanted("in-process") {
        rt.block_on(in_process());
    }
    if wanted("llm") {
        rt.block_on(llm_overhead());
    }
    if wanted("agent") {
        rt.block_on(agent_overhead());
    }
    if wanted("local") {
        rt.block_on(local_model());
    }
    if wanted("serve") {
        rt.block_on(serve_bench::serve(&spellhost));
    }
    if wanted("scale") {
        rt.block_on(scale_bench::scale(&spellhost, &guest("echo")));
    }
    if wanted("market") {
        market_bench::market(&spellhost, &guest("echo"));
    }
    if wanted("soak") {
        let dir = tempfile::tempdir().unwrap();
        rt.block_on(soak_bench::soak(dir.path()));
    }
}
