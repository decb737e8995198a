//! The soak bench (`just bench soak`): thousands of runs in one host
//! process, the host's resident memory and open file descriptors read at
//! 100, 1 000 and 10 000 runs. A leak shows as growth between the last two
//! readings; a bounded host holds flat once its caches are warm.
//!
//! Three Lua spells, each run `SOAK_RUNS` times (default 10 000), 8 at a
//! time, against the fake OpenAI server in a child process (so its own
//! bookkeeping is not counted):
//! - **mixed**: an LLM call, two tool calls (the calculator and a jq filter
//!   in its sandbox), an atomic state update, a run-scoped write and an
//!   event;
//! - **agent**: an agent whose model calls the calculator, then answers;
//! - **workflow**: a sequence of an LLM step, a tool step and an LLM step.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use spellhost::bridges::llm::ModelRouter;
use spellhost::bridges::llm::openai::{OpenAiConfig, OpenAiProvider};
use spellhost::limits::Limits;
use spellhost::runtime::SpellConfig;
use spellhost::scripts::{Language, ScriptSource};

const MIXED: &str = r#"
local input = ...
local reply = llm.chat { prompt = "soak " .. input, max_tokens = 20 }
local product = Tool.call("calculator", { expression = "6 * 7" })
local sum = Tool.call("json_query", { input = { a = { 1, 2, 3 } }, filter = ".a | add" })
local n = State.update("runs", function(old) return (old or 0) + 1 end)
State.run.set("scratch", reply.text)
Event.emit("soak.run", { n = n, answer = reply.text })
return { n = n, product = product.result, sum = sum }
"#;

const AGENT: &str = r#"
local agent <close> = Agent.create { tools = { "calculator" }, max_steps = 4 }
local result = agent:run('agent: call calculator {"expression": "2 + 2"}; say the sum is {tools}')
assert(result.stop_reason == "answered", result.stop_reason)
return result.answer
"#;

const WORKFLOW: &str = r#"
local wf = Workflow.run({ sequence = {
  { id = "draft", llm = { prompt = "Write a line about {{ input }}", max_tokens = 20 } },
  { id = "count", tool = { name = "calculator", arguments = { expression = "3 * 3" } } },
  { llm = { prompt = "Title for: {{ steps.draft }}", max_tokens = 10 } },
} }, "the sea")
return wf.output
"#;

/// The child-process side: a fake LLM server until stdin closes.
pub fn serve_fake_llm() {
    let fake = crate::fake_llm::FakeLlm::start(std::time::Duration::ZERO);
    println!("{}", fake.base_url());
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
}

struct FakeServer {
    child: Child,
    base_url: String,
}

impl FakeServer {
    fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("__fake-llm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            base_url: line.trim().to_owned(),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Resident memory (MiB) and open file descriptors of this process.
fn footprint() -> (f64, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    (rss_kib / 1024.0, fds)
}

pub async fn soak(dir: &Path) {
    let runs: usize = std::env::var("SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("\n== soak: {runs} runs of each spell in one host process, 8 at a time ==");
    let fake = FakeServer::start();
    let provider = OpenAiProvider::new(OpenAiConfig::new("fake", fake.base_url.clone())).unwrap();
    let rt = crate::runtime(
        ModelRouter::new()
            .with_provider(Arc::new(provider))
            .with_default_model(Some("fake/m".into())),
        dir,
    );
    let (rss, fds) = footprint();
    println!("{:<58} {rss:>9.1} MiB  {fds:>4} fds", "host before any run");
    let checkpoints: Vec<usize> = [100, 1_000, 10_000]
        .into_iter()
        .filter(|&c| c <= runs)
        .chain((!matches!(runs, 100 | 1_000 | 10_000)).then_some(runs))
        .collect();
    for (name, code) in [("mixed", MIXED), ("agent", AGENT), ("workflow", WORKFLOW)] {
        let source = ScriptSource {
            name: format!("{name}.lua"),
            code: code.as_bytes().to_vec(),
            modules: spellhost::scripts::Modules::None,
            purpose: Default::default(),
        };
        let spell = rt
            .load_script(name, Language::Lua, source, SpellConfig::default())
            .unwrap();
        let limits = Limits::default();
        let started = Instant::now();
        let mut done = 0;
        let mut readings = Vec::new();
        for &checkpoint in &checkpoints {
            while done < checkpoint {
                let batch = (checkpoint - done).min(8);
                let inputs: Vec<String> = (done..done + batch).map(|i| i.to_string()).collect();
                let reports =
                    futures::future::join_all(inputs.iter().map(|i| rt.run(&spell, i, &limits)))
                        .await;
                for report in reports {
                    if let Err(err) = report.result {
                        panic!("{name} run failed: {err:#}");
                    }
                }
                done += batch;
            }
            let (rss, fds) = footprint();
            readings.push((rss, fds));
            println!(
                "{:<58} {rss:>9.1} MiB  {fds:>4} fds  ({:.1} runs/s)",
                format!("{name}: after {checkpoint} runs"),
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
        if let [.., (rss_a, fds_a), (rss_b, fds_b)] = readings[..] {
            println!(
                "{:<58} {:>9.2} x    {:+4} fds  (last reading / the one before)",
                format!("{name}: growth"),
                rss_b / rss_a,
                fds_b as i64 - fds_a as i64
            );
        }
    }
}
