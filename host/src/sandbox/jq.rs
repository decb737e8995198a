//! The jq sandbox: where the `json_query` tool's filters run. jq has no
//! fuel, no memory bound and no recursion limit of its own, and one filter
//! can ask for exponential work (`[.,.] | [.,.] | …`), so filters run in
//! the jq evaluator component spellhost ships (`host/prebuilt/jq.wasm`,
//! built from `guest-sdks/jq`), one fresh instance per evaluation, with:
//!
//! - fuel ([`JQ_FUEL`]): about a second of work;
//! - a memory limit ([`JQ_MEMORY`] plus room for the input), taken from
//!   the run's memory ([`RunMemory`]) as it grows: what a spell's filters
//!   hold in the host counts against its `--memory`;
//! - the wasm stack: deep recursion traps in the guest, not the host;
//! - the run's deadline: an evaluation is an async call that yields as it
//!   burns fuel, so when its run ends (deadline, cancel) it stops at once.
//!
//! The component gets WASI with nothing in it: no files, no environment,
//! no network, output discarded.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use spellhost_tools::{JqEngine, ToolError};
use wasmtime::Store;

use super::plugin::PluginState;

use crate::cache::CompileCache;
use crate::limits::{LimitExceeded, RunLimiter, RunMemory, human_size};

/// The jq evaluator component (`guest-sdks/jq`).
static JQ: &[u8] = include_bytes!("../../prebuilt/jq.wasm");

/// Fuel of one evaluation: about a second of work on this kind of machine.
pub const JQ_FUEL: u64 = 2_000_000_000;
/// Memory of one evaluation besides its input (24 times the input's JSON
/// text is added: the parsed value and jq's copy of it, which for arrays
/// of small numbers take many times the text).
pub const JQ_MEMORY: u64 = 32 << 20;
/// Longest one evaluation may take, whatever its run allows.
pub const JQ_TIMEOUT: Duration = Duration::from_secs(30);

mod bindings {
    wasmtime::component::bindgen!({
        world: "evaluator",
        path: "../guest-sdks/jq/wit",
        exports: { default: async },
    });
}

use bindings::{Error as JqError, EvaluatorPre};

/// The evaluator, compiled once per process on first use.
pub struct JqSandbox {
    engine: wasmtime::Engine,
    cache: CompileCache,
    prepared: Arc<OnceLock<Result<EvaluatorPre<PluginState>, String>>>,
}

impl JqSandbox {
    pub fn new(engine: wasmtime::Engine, cache: CompileCache) -> Arc<Self> {
        Arc::new(Self {
            engine,
            cache,
            prepared: Arc::default(),
        })
    }

    /// The prepared evaluator. The first call compiles the component (or
    /// loads it from the compile cache) on the blocking pool.
    async fn prepared(&self) -> Result<&EvaluatorPre<PluginState>, ToolError> {
        if self.prepared.get().is_none() {
            let (engine, cache, cell) = (
                self.engine.clone(),
                self.cache.clone(),
                self.prepared.clone(),
            );
            let prepare = move || -> anyhow::Result<EvaluatorPre<PluginState>> {
                let component = cache.load(&engine, JQ)?.component;
                let pre = super::plugin::linker(&engine)?.instantiate_pre(&component)?;
                Ok(EvaluatorPre::new(pre)?)
            };
            tokio::task::spawn_blocking(move || {
                cell.get_or_init(|| prepare().map_err(|e| format!("{e:#}")));
            })
            .await
            .map_err(|e| ToolError::Failed(format!("the jq sandbox could not start: {e}")))?;
        }
        match self.prepared.get() {
            Some(Ok(pre)) => Ok(pre),
            Some(Err(e)) => Err(ToolError::Failed(format!(
                "the jq sandbox could not start: {e}"
            ))),
            None => Err(ToolError::Failed("the jq sandbox could not start".into())),
        }
    }
}

impl JqSandbox {
    /// The sandbox as one run's `json_query` engine: its evaluations take
    /// their memory from `run`.
    pub fn for_run(self: &Arc<Self>, run: RunMemory) -> Arc<dyn JqEngine> {
        Arc::new(RunJq {
            sandbox: self.clone(),
            run,
        })
    }

    /// Runs `filter` over `input` (see the module docs for the bounds).
    async fn evaluate_within(
        &self,
        filter: &str,
        input: &Value,
        max_outputs: usize,
        max_bytes: usize,
        run: &RunMemory,
    ) -> Result<Vec<Value>, ToolError> {
        let input = input.to_string();
        let memory = JQ_MEMORY.saturating_add(24 * input.len() as u64);
        let pre = self.prepared().await?;
        let state = PluginState::isolated("jq", RunLimiter::within(memory, run.clone()));
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        crate::engine::meter(&mut store, JQ_FUEL, JQ_TIMEOUT)
            .map_err(|e| ToolError::Failed(format!("the jq sandbox: {e}")))?;
        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .call_evaluate(
                    &mut store,
                    filter,
                    &input,
                    u32::try_from(max_outputs).unwrap_or(u32::MAX),
                    max_bytes as u64,
                )
                .await
        };
        let outcome = match tokio::time::timeout(JQ_TIMEOUT, call).await {
            Ok(outcome) => outcome,
            Err(_) => return Err(exhausted(&LimitExceeded::Timeout { limit: JQ_TIMEOUT })),
        };
        match outcome {
            Ok(Ok(text)) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(outputs)) => Ok(outputs),
                Ok(_) | Err(_) => Err(ToolError::Failed(
                    "the jq sandbox returned something that is not a JSON list".into(),
                )),
            },
            Ok(Err(JqError::Invalid(message))) => Err(ToolError::InvalidArguments(message)),
            Ok(Err(JqError::Failed(message))) => Err(ToolError::Failed(message)),
            Err(err) => {
                let run_refused = store.data().limiter.run_refused;
                Err(trapped(err, memory, run_refused.then_some(run)))
            }
        }
    }
}

/// Outside a run (tests, tools called by the host itself): a budget of
/// the evaluation's own.
#[async_trait::async_trait]
impl JqEngine for JqSandbox {
    async fn evaluate(
        &self,
        filter: &str,
        input: &Value,
        max_outputs: usize,
        max_bytes: usize,
    ) -> Result<Vec<Value>, ToolError> {
        let unbounded = RunMemory::new(u64::MAX);
        self.evaluate_within(filter, input, max_outputs, max_bytes, &unbounded)
            .await
    }
}

/// The sandbox serving one run.
struct RunJq {
    sandbox: Arc<JqSandbox>,
    run: RunMemory,
}

#[async_trait::async_trait]
impl JqEngine for RunJq {
    async fn evaluate(
        &self,
        filter: &str,
        input: &Value,
        max_outputs: usize,
        max_bytes: usize,
    ) -> Result<Vec<Value>, ToolError> {
        self.sandbox
            .evaluate_within(filter, input, max_outputs, max_bytes, &self.run)
            .await
    }
}

/// A trap in the evaluator, as the budget it ran out of.
/// `run` is the run's memory when it, not the sandbox's own cap, refused.
fn trapped(err: wasmtime::Error, memory: u64, run: Option<&RunMemory>) -> ToolError {
    match crate::sandbox::RunError::from_wasm(err) {
        crate::sandbox::RunError::Limit(LimitExceeded::Fuel { .. }) => {
            exhausted(&LimitExceeded::Fuel { limit: JQ_FUEL })
        }
        crate::sandbox::RunError::Limit(LimitExceeded::Memory { .. }) if let Some(run) = run => {
            ToolError::Failed(run.no_room("the jq filter's memory", "query less data"))
        }
        crate::sandbox::RunError::Limit(LimitExceeded::Memory { .. }) => {
            ToolError::Failed(format!(
                "the jq filter needed more than {} of memory, json_query's limit for this input; \
             it builds too large a value — simplify it or query less data",
                human_size(memory)
            ))
        }
        crate::sandbox::RunError::Limit(LimitExceeded::Handles { .. }) => {
            ToolError::Failed("the jq filter crashed: it held too many handles".into())
        }
        crate::sandbox::RunError::Limit(limit) => exhausted(&limit),
        other => ToolError::Failed(format!("the jq filter crashed: {other}")),
    }
}

fn exhausted(limit: &LimitExceeded) -> ToolError {
    ToolError::Failed(format!(
        "the jq filter was stopped: {} (json_query's own budget, not the spell's); \
         it does too much work — simplify it or query less data",
        limit.summary().replace("the spell", "it")
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sandbox() -> Arc<JqSandbox> {
        let engine = crate::engine::SpellEngine::new(CompileCache::disabled()).unwrap();
        JqSandbox::new(engine.engine().clone(), CompileCache::disabled())
    }

    async fn query(jq: &JqSandbox, input: Value, filter: &str) -> Result<Vec<Value>, ToolError> {
        jq.evaluate(filter, &input, 1000, 4 << 20).await
    }

    /// One test: the component compiles once per sandbox, and unoptimised
    /// cranelift makes that the slow part.
    #[tokio::test]
    async fn filters_run_whole_jq_within_their_budget() {
        let jq = sandbox();
        let items = json!({"items": [{"name": "a", "price": 5}, {"name": "b", "price": 15}, {"name": "c", "price": 25}]});
        let cases = [
            (".items[] | select(.price > 10) | .name", json!(["b", "c"])),
            ("[.items[].price] | add / length", json!([15.0])),
            (".items | map(.name) | join(\",\")", json!(["a,b,c"])),
            ("empty", json!([])),
            (
                "{n: (.items | length), first: .items[0].name}",
                json!([{"n": 3, "first": "a"}]),
            ),
            // What the native evaluator had to refuse now runs, bounded.
            (
                "def f(n): if n > 0 then n + f(n - 1) else 0 end; f(10)",
                json!([55]),
            ),
            ("[range(5)]", json!([[0, 1, 2, 3, 4]])),
            ("[limit(3; repeat(1))]", json!([[1, 1, 1]])),
            ("[paths] | length", json!([10])),
            ("$ENV | length", json!([0])),
        ];
        for (filter, want) in cases {
            let got = query(&jq, items.clone(), filter).await;
            assert_eq!(got.map(Value::Array), Ok(want), "{filter}");
        }
        let big = query(&jq, json!({"big": 12345678901234567890u64}), ".big").await;
        assert_eq!(big, Ok(vec![json!(12345678901234567890u64)]));

        // Mistakes: compile errors are the arguments', run errors the filter's.
        let err = query(&jq, json!(1), ".[] |").await.unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArguments(m) if m.starts_with("jq filter: expected")),
            "{err:?}"
        );
        let err = query(&jq, json!(1), "nosuchfn").await.unwrap_err();
        assert_eq!(
            err,
            ToolError::InvalidArguments(
                "jq filter: undefined filter `nosuchfn` at position 1".into()
            )
        );
        let err = query(&jq, json!(1), "error(\"boom\")").await.unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("boom")),
            "{err:?}"
        );
        for outside in [
            "env",
            "halt",
            "\"x\" | stderr",
            "input",
            "import \"x\" as x; .",
        ] {
            assert!(query(&jq, json!({}), outside).await.is_err(), "{outside}");
        }

        // Unbounded work stops at the sandbox's budget, with what ran out.
        let doubling = format!(".{}", " | [., .]".repeat(40));
        let err = query(&jq, json!("x"), &doubling).await.unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("larger than")),
            "{err:?}"
        );
        let err = query(&jq, json!("x"), ".+.|".repeat(40).trim_end_matches('|'))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("memory")),
            "{err:?}"
        );
        let err = query(&jq, json!(0), "last(repeat(1))").await.unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("fuel")),
            "{err:?}"
        );
        let err = query(&jq, json!(0), "def f: 1 + f; f").await.unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("stopped") || m.contains("memory")),
            "{err:?}"
        );

        // Output stops at its caps.
        let many: Vec<u32> = (0..5000).collect();
        let out = jq
            .evaluate(".[]", &json!(many), 1000, 4 << 20)
            .await
            .unwrap();
        assert_eq!(out.len(), 1000);

        // In a run, evaluations draw on the run's memory: what the spell
        // and its other work hold is not there for a filter, and what a
        // filter took comes back when it ends.
        let run = RunMemory::new(64 << 20);
        let held = run.hold(60 << 20).unwrap();
        let engine = jq.for_run(run.clone());
        let err = engine
            .evaluate("[range(1000000)]", &json!(null), 10, 64 << 20)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("the run has left") && m.contains("--memory 256MiB")),
            "{err:?}"
        );
        drop(held);
        assert_eq!(run.in_use(), 0);
        let sum = engine
            .evaluate("[range(100000)] | add", &json!(null), 10, 1 << 20)
            .await
            .unwrap();
        assert_eq!(sum, vec![json!(4999950000u64)]);
        assert_eq!(run.in_use(), 0);
        assert!(run.peak() > 1 << 20);
    }
}
